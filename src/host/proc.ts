/**
 * Parsers of a process's /proc files, shared by every reader of them (the lab reads its own
 * machine's /proc; daemon drivers read a host's through the Host interface). Pure.
 */

/** A /proc/<pid>/cmdline as argv; undefined for an empty one (a zombie, or a process mid-exec). */
export function parseCmdline(raw: string): string[] | undefined {
  if (raw === '') return undefined;
  return raw.replace(/\0$/, '').split('\0');
}

/**
 * State letter and start time (field 22) from /proc/<pid>/stat.
 * Sample: `4242 (sleep) S 1 4242 4242 0 -1 4194560 … 20 0 1 0 98765 …` — the comm field may hold
 * spaces and parentheses, so fields are counted after the last ')'.
 */
export function parseProcStat(s: string): { state: string; startTime: string } | undefined {
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state), so field 22 is rest[19].
  const state = rest[0];
  const startTime = rest[19];
  if (!state || startTime === undefined) return undefined;
  return { state, startTime };
}

/** A process that is gone or only a zombie (Z) or dead (X) entry. */
export function isDeadState(state: string | undefined): boolean {
  return state === undefined || state === 'Z' || state === 'X';
}
