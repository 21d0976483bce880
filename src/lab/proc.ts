/**
 * /proc and signal helpers. The rule they enforce: never signal a PID whose network namespace and
 * command line have not just been checked, because PIDs are reused and other labs share the machine.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isDeadState, parseCmdline, parseProcStat } from '../host/proc.ts';
import { ANY_LAB_PREFIX_RE } from './names.ts';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The argv of a process, or undefined if it is gone (or a zombie, whose cmdline is empty). */
export function readCmdline(pid: number): string[] | undefined {
  try {
    return parseCmdline(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
  } catch {
    return undefined;
  }
}

function procStat(pid: number): { state: string; startTime: string } | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie; with `startTime`, also the very process that was recorded. */
export function isAlive(pid: number, startTime?: string): boolean {
  const st = procStat(pid);
  if (!st || isDeadState(st.state)) return false;
  return startTime === undefined || st.startTime === startTime;
}

export function startTimeOf(pid: number): string | undefined {
  return procStat(pid)?.startTime;
}

function inodeKey(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Network namespaces named in /run/netns, as name → device:inode. */
function namedNetns(): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync('/run/netns');
  } catch {
    return out;
  }
  for (const n of names) {
    const k = inodeKey(`/run/netns/${n}`);
    if (k) out.set(n, k);
  }
  return out;
}

/**
 * What `ip netns identify <pid>` prints, computed in-process: the /run/netns name whose nsfs inode
 * is the process's network namespace. Same comparison (st_dev and st_ino) as iproute2, without a
 * spawn per PID. Undefined when the process is gone or its namespace has no name.
 */
export function identifyNetns(pid: number, only?: string): string | undefined {
  const k = inodeKey(`/proc/${pid}/ns/net`);
  if (!k) return undefined;
  if (only !== undefined) return inodeKey(`/run/netns/${only}`) === k ? only : undefined;
  for (const [name, key] of namedNetns()) if (key === k) return name;
  return undefined;
}

export function listPids(): number[] {
  return readdirSync('/proc')
    .filter((n) => /^[0-9]+$/.test(n))
    .map(Number);
}

/** PIDs of a process's children. Sample content of /proc/<pid>/task/<pid>/children: `4243 ` */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Sends `signal` to `pid` only if it lives in network namespace `ns` (a lab name, never anything
 * else) and its cmdline passes `cmdlineOk`. Returns whether the signal was sent.
 */
export function killVerified(pid: number, signal: NodeJS.Signals, ns: string, cmdlineOk: (argv: string[]) => boolean): boolean {
  if (!ANY_LAB_PREFIX_RE.test(ns)) return false;
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) return false;
  if (identifyNetns(pid, ns) !== ns) return false;
  const argv = readCmdline(pid);
  if (!argv || !cmdlineOk(argv)) return false;
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until every PID is dead (or a zombie), at most `ms`. Returns the ones still alive. */
export async function waitGone(pids: readonly number[], ms: number, startTimes?: ReadonlyMap<number, string>): Promise<number[]> {
  const deadline = Date.now() + ms;
  let left = pids.filter((p) => isAlive(p, startTimes?.get(p)));
  while (left.length && Date.now() < deadline) {
    await sleep(20);
    left = left.filter((p) => isAlive(p, startTimes?.get(p)));
  }
  return left;
}
