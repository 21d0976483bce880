export { openDb, migrate, type Db, type Migration } from './db.ts';
export { PlatformStore, generatePassword, REPL_SECRET, siteDbSecretName } from './platform-store.ts';
export { withFileLock } from './lock.ts';
