export { openDb, migrate, type Db, type Migration } from './db.ts';
export { PlatformStore, generatePassword } from './platform-store.ts';
export { withFileLock } from './lock.ts';
export { vardHome } from './home.ts';
export { ensurePrivateDir, writePrivateFile, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE } from './private-files.ts';
export { HostKeyStore, type PinnedKey } from './host-keys.ts';
export { ensureSshIdentity, sshIdentityDir, type SshIdentity } from './ssh-identity.ts';
