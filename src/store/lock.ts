import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { vardError } from '../errors/index.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding an exclusive lock file (O_EXCL, the holder's PID inside), so two `vard`
 * processes never converge the same platform at once. A lock whose holder is gone is taken over.
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  o: { timeoutMs?: number; onWait?: (holder: number) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  let told = false;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, 'utf8').trim());
    } catch {
      continue; // released between our open and read
    }
    if (!Number.isInteger(holder) || holder <= 0 || !alive(holder)) {
      try {
        unlinkSync(path);
      } catch {
        // someone else took the stale lock first
      }
      continue;
    }
    if (Date.now() > deadline) throw vardError('VARD_ERR_STATE', [`another vard (pid ${holder}) holds ${path}`]);
    if (!told) o.onWait?.(holder);
    told = true;
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // already gone
    }
  }
}
