export { DRIVERS, type DaemonDriver } from './drivers.ts';
export { httpStatus, livePid, logTail, spawnDaemon, waitFor, logfileOf } from './process.ts';
