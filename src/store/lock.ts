import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { vardError } from '../errors/index.ts';

/**
 * Start time (field 22 of /proc/<pid>/stat) of a live, non-zombie process, or undefined. Fields
 * are counted after the last ')' because the command name may hold spaces and parentheses.
 * Sample: `4242 (sleep) S 1 4242 4242 0 -1 4194560 … 20 0 1 0 98765 …`.
 */
function liveStartTime(pid: number): string | undefined {
  let s: string;
  try {
    s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  if (f[0] === 'Z' || f[0] === 'X') return undefined;
  return f[19];
}

/** The lock file's holder still runs: same PID and, since PIDs are reused, the same start time. */
function holderAlive(text: string): boolean {
  const [pidText, start] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const now = liveStartTime(pid);
  return now !== undefined && (!start || start === now);
}

/**
 * Runs `fn` holding an exclusive lock file (O_EXCL; the holder's PID and start time inside), e.g.
 * so two `vard` processes never converge one platform at once, or two `lab up`s never take the
 * same subnet. A lock whose holder is gone, or older than `staleAfterMs`, is taken over.
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  o: { timeoutMs?: number; pollMs?: number; staleAfterMs?: number; onWait?: (holder: number) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  let told = false;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid} ${liveStartTime(process.pid) ?? ''}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if (fd !== undefined) closeSync(fd);
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    let text: string;
    let ageMs: number;
    try {
      text = readFileSync(path, 'utf8');
      ageMs = Date.now() - statSync(path).mtimeMs;
    } catch {
      continue; // released between our open and read
    }
    if (!holderAlive(text) || (o.staleAfterMs !== undefined && ageMs > o.staleAfterMs)) {
      try {
        unlinkSync(path);
      } catch {
        // someone else took the stale lock first
      }
      continue;
    }
    const holder = Number(text.trim().split(' ')[0]);
    if (Date.now() > deadline) throw vardError('VARD_ERR_STATE', [`another vard (pid ${holder}) holds ${path}`]);
    if (!told) o.onWait?.(holder);
    told = true;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
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
