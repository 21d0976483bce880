export { rejectOn, supervised, type DaemonDriver } from './drivers.ts';
export { httpStatus, livePid, logTail, spawnDaemon, waitFor, logfileOf } from './process.ts';
