/**
 * Fault injection, for tests only: a crash (or a failure) at a named point of a convergence, so a
 * test can prove the next run repairs whatever a dead `vard` left behind. Unset, these do nothing.
 *
 * - `VARD_CRASH_AFTER_STEP=N`: the process kills itself (SIGKILL: no `finally`, no exit handler,
 *   the lock file stays behind as after a real crash) right after the Nth changing step of a
 *   converge, counted as `vard --json apply --dry-run` lists them (1 is the first).
 * - `VARD_CRASH_IN_APPLY=after-swap[:daemon[@host]]`: the same, inside the first matching config set
 *   apply, after `current` points at the new version and before the daemon reloads.
 * - `VARD_FAIL_IN_APPLY=daemon@host`: that apply fails after the swap as if the daemon never became
 *   ready, so the rollback runs (the daemon itself is fine: only the verdict is forced).
 */

function matches(spec: string | undefined, daemon: string, host: string): boolean {
  if (!spec) return false;
  const [d, h] = spec.split('@');
  return (!d || d === daemon) && (!h || h === host);
}

function die(why: string): never {
  process.stderr.write(`vard: test hook: crashing ${why}\n`);
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is delivered before this returns; the loop only satisfies `never`.
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
}

/** Called after each changing step of a converge with its 1-based number. */
export function crashAfterStep(n: number, what: string): void {
  const at = Number(process.env.VARD_CRASH_AFTER_STEP);
  if (Number.isInteger(at) && at === n) die(`after step ${n} (${what})`);
}

/** Called inside a config set apply at `point`. */
export function crashInApply(point: 'after-swap', daemon: string, host: string): void {
  const spec = process.env.VARD_CRASH_IN_APPLY;
  if (!spec) return;
  const [p, target] = [spec.split(':')[0], spec.split(':')[1]];
  if (p === point && matches(target ?? '', daemon, host)) die(`in the ${daemon} apply on ${host} ${point}`);
}

/** Whether the test asks this apply to fail after its swap. */
export function failInApply(daemon: string, host: string): boolean {
  return matches(process.env.VARD_FAIL_IN_APPLY, daemon, host);
}
