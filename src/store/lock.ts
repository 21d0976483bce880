import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
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

/** A fresh name beside the lock for this process's own temporary files. */
function scratch(path: string, what: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString('hex')}.${what}`;
}

/**
 * Creates `path` holding `text`, or returns false when it exists. Written aside and hard-linked
 * into place: the lock never exists without its holder's line (an empty file read between an
 * O_EXCL create and its write would look like a dead holder's).
 */
function createWith(path: string, text: string): boolean {
  const tmp = scratch(path, 'new');
  writeFileSync(tmp, text, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    unlinkSync(tmp);
  }
}

function readOrUndefined(path: string): { text: string; mtimeMs: number } | undefined {
  try {
    return { text: readFileSync(path, 'utf8'), mtimeMs: statSync(path).mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Removes `path` only if it still holds `text` (every holder's line carries a random nonce, so
 * equal text is the same lock): renamed aside first, which is atomic, then compared; a lock that
 * turns out to be another one is linked back. Returns whether it was removed.
 */
function removeIfStill(path: string, text: string): boolean {
  const aside = scratch(path, 'gone');
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  try {
    if (readFileSync(aside, 'utf8') === text) return true;
    try {
      linkSync(aside, path);
    } catch {
      // A third process made a lock in the instant it was aside; nothing better can be done.
    }
    return false;
  } finally {
    unlinkSync(aside);
  }
}

/**
 * Takes over a lock found stale (its text `seen`). Two processes finding the same stale lock must
 * not both remove it: the second would remove the lock the first just made. So breaking goes
 * through a guard file held for a few system calls, and under it the lock is checked again.
 */
function breakStale(path: string, seen: string, me: string): boolean {
  const guard = `${path}.break`;
  if (!createWith(guard, me)) {
    // Someone is breaking it now, or died in those few calls: only then is the guard itself stale.
    const g = readOrUndefined(guard);
    if (g && !holderAlive(g.text)) removeIfStill(guard, g.text);
    return false;
  }
  try {
    const now = readOrUndefined(path);
    if (now?.text === seen) removeIfStill(path, seen);
  } finally {
    removeIfStill(guard, me);
  }
  return true;
}

/**
 * Runs `fn` holding an exclusive lock file (the holder's PID, start time and a nonce inside), e.g.
 * so two `vard` processes never converge one platform at once, or two `lab up`s never take the
 * same subnet. A lock whose holder is gone, or older than `staleAfterMs`, is taken over, by one
 * process only however many find it at once. Not re-entrant: code that already holds the lock
 * must not ask for it again (it would wait for itself).
 */
export async function withFileLock<T>(
  path: string,
  fn: () => Promise<T>,
  o: { timeoutMs?: number; pollMs?: number; staleAfterMs?: number; onWait?: (holder: number) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (o.timeoutMs ?? 600_000);
  const me = `${process.pid} ${liveStartTime(process.pid) ?? ''} ${randomBytes(8).toString('hex')}\n`;
  let told = false;
  for (;;) {
    if (createWith(path, me)) break;
    const held = readOrUndefined(path);
    if (!held) continue; // released between our attempt and our read
    if (!holderAlive(held.text) || (o.staleAfterMs !== undefined && Date.now() - held.mtimeMs > o.staleAfterMs)) {
      if (!breakStale(path, held.text, me)) await new Promise((r) => setTimeout(r, 2));
      continue;
    }
    const holder = Number(held.text.trim().split(' ')[0]);
    if (Date.now() > deadline) throw vardError('VARD_ERR_STATE', [`another vard (pid ${holder}) holds ${path}`]);
    if (!told) o.onWait?.(holder);
    told = true;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 200));
  }
  try {
    return await fn();
  } finally {
    // Only our own lock: one taken over as too old is someone else's now.
    if (readOrUndefined(path)?.text === me) removeIfStill(path, me);
  }
}
