import { vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import { isDeadState, parseCmdline, parseProcStat } from '../host/proc.ts';
import { DAEMON_OPEN_FILES } from '../render/index.ts';

/**
 * A daemon inherits the open-file limit of whoever started it (1,024 from an ssh session), and
 * Apache with a thousand sites needs thousands. Raised as far as the hard limit allows where it
 * cannot be raised further (a container without CAP_SYS_RESOURCE).
 */
const RAISE_OPEN_FILES = `ulimit -n ${DAEMON_OPEN_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)"`;

/**
 * Daemons run in the foreground under the host's init (lab) or this supervisor's spawn
 * (local): the script detaches the daemon into its own session with its output in a log file
 * and records its PID. The script text is fixed; argv arrives as positional parameters, so no
 * data is ever interpreted by the shell.
 */
const SPAWN = `log=$1; pidfile=$2; shift 2; mkdir -p "$(dirname "$log")" "$(dirname "$pidfile")"; ${RAISE_OPEN_FILES}; setsid "$@" </dev/null >>"$log" 2>&1 & echo $! >"$pidfile"`;

export function pidfileOf(daemon: string): string {
  return `/run/vard/${daemon}.pid`;
}
export function logfileOf(daemon: string): string {
  return `/var/log/vard/${daemon}.log`;
}

export async function spawnDaemon(host: Host, daemon: string, argv: readonly string[]): Promise<number> {
  await host.run(['sh', '-c', SPAWN, 'vard-spawn', logfileOf(daemon), pidfileOf(daemon), ...argv]);
  const pid = await readPid(host, daemon);
  if (pid === undefined) throw vardError('VARD_ERR_INTERNAL', [`no pid recorded for ${daemon} on ${host.name}`]);
  // The recorded PID is the forked shell until it has exec'd setsid and then the daemon; wait
  // for that (bounded), so liveness checks never mistake the launcher for a dead daemon.
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const argv0 = parseCmdline((await host.readFile(`/proc/${pid}/cmdline`))?.toString('utf8') ?? '')?.[0]?.split('/').pop();
    if (argv0 === undefined || (argv0 !== 'sh' && argv0 !== 'setsid')) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return pid;
}

async function readPid(host: Host, daemon: string): Promise<number | undefined> {
  const raw = (await host.readFile(pidfileOf(daemon)))?.toString('utf8').trim();
  const pid = raw ? Number(raw) : NaN;
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * The recorded PID, only while it is still that daemon: PIDs restart at 1 in every new lab host
 * and get reused, so a pidfile alone proves nothing. `binary` names (any of them) must begin argv[0]'s base name.
 */
export async function livePid(host: Host, daemon: string, binary: string | readonly string[]): Promise<number | undefined> {
  const pid = await readPid(host, daemon);
  if (pid === undefined) return undefined;
  const argv = parseCmdline((await host.readFile(`/proc/${pid}/cmdline`))?.toString('utf8') ?? '');
  if (!argv) return undefined;
  // A daemon may rename itself ("php-fpm: master process …") or still be its launcher (stdbuf).
  const argv0 = (argv[0] ?? '').split('/').pop() ?? '';
  if (isDeadState(parseProcStat((await host.readFile(`/proc/${pid}/stat`))?.toString('utf8') ?? '')?.state)) return undefined;
  const names = typeof binary === 'string' ? [binary] : binary;
  return names.some((b) => argv0.startsWith(b)) ? pid : undefined;
}

export async function signal(host: Host, pid: number, sig: string): Promise<void> {
  await host.run(['kill', `-${sig}`, String(pid)]);
}

/** Polls `probe` until it returns true, the deadline passes, or `alive` says the daemon died. */
export async function waitFor(
  what: { daemon: string; host: string },
  probe: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; alive?: () => Promise<boolean>; detail?: () => Promise<string> } = {},
): Promise<void> {
  const timeout = opts.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await probe().catch(() => false)) return;
    // A process in the middle of exec (launcher → daemon) briefly shows no cmdline: only a
    // second look a moment later may call it dead.
    if (opts.alive && !(await opts.alive().catch(() => false)) && !(await new Promise((r) => setTimeout(r, 150)).then(() => opts.alive!().catch(() => false)))) {
      const d = opts.detail ? await opts.detail().catch(() => '') : '';
      throw vardError('VARD_ERR_NOT_READY', [what.daemon, what.host, Date.now() - deadline + timeout, `the process exited. ${d}`]);
    }
    if (Date.now() > deadline) {
      const d = opts.detail ? await opts.detail().catch(() => '') : '';
      throw vardError('VARD_ERR_NOT_READY', [what.daemon, what.host, timeout, d || 'no answer']);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

/** Last lines of a daemon's log, for error messages. */
export async function logTail(host: Host, daemon: string, lines = 15): Promise<string> {
  const text = (await host.readFile(logfileOf(daemon)))?.toString('utf8') ?? '';
  return text.split('\n').slice(-lines - 1).join('\n').trim();
}

/** HTTP GET from inside a host; returns the status code (0 when nothing answered). */
export async function httpStatus(host: Host, url: string, headers: Record<string, string> = {}, timeoutS = 2): Promise<number> {
  const argv = ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', String(timeoutS)];
  for (const [k, v] of Object.entries(headers)) argv.push('-H', `${k}: ${v}`);
  argv.push(url);
  const r = await host.run(argv, { allowFail: true, timeoutMs: (timeoutS + 2) * 1000 });
  return Number(r.stdout.trim()) || 0;
}
