import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Only root (the owner) may read what Vard keeps: generated passwords, database dumps. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Sets `mode` unless it is set already. The process umask can only take bits away at creation,
 * and files an older Vard made keep the 0755/0644 it gave them, so modes are set, not assumed.
 * Not being allowed to (someone else's file, when not running as root) is not Vard's to fix.
 */
export function tighten(path: string, mode: number): void {
  try {
    if ((statSync(path).mode & 0o7777) === mode) return;
    chmodSync(path, mode);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'EPERM') throw e;
  }
}

/** Makes `dir` (and any missing parents) 0700, tightening it if it exists. */
export function ensurePrivateDir(dir: string): void {
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  tighten(dir, PRIVATE_DIR_MODE);
}

/** Every directory under `dir` 0700, every file 0600; symbolic links are not followed. */
export function tightenTree(dir: string): void {
  tighten(dir, PRIVATE_DIR_MODE);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) tightenTree(join(dir, e.name));
    else if (e.isFile()) tighten(join(dir, e.name), PRIVATE_FILE_MODE);
  }
}

/** Writes `bytes` to `dir/name`, mode 0600, in a 0700 directory; returns the path. */
export function writePrivateFile(dir: string, name: string, bytes: Uint8Array): string {
  ensurePrivateDir(dir);
  const path = join(dir, name);
  writeFileSync(path, bytes, { mode: PRIVATE_FILE_MODE });
  // writeFileSync's mode only applies when it creates the file.
  tighten(path, PRIVATE_FILE_MODE);
  return path;
}
