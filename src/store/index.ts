export { openDb, migrate, type Db, type Migration } from './db.ts';
export { PlatformStore } from './platform-store.ts';
