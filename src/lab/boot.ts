/**
 * Booting one lab host: its directories, a fresh /run, and its init as PID 1 of new UTS, mount and
 * PID namespaces inside its network namespace.
 */
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { vardError } from '../errors/index.ts';
import type { Topology } from '../model/index.ts';
import { hostDir, hostinitPath, keeperArgv0, keeperPath, labDir, nsName, READY_MARKER, switchNs } from './names.ts';
import { childrenOf, isAlive, readCmdline, sleep, startTimeOf } from './proc.ts';
import type { Owner } from './state.ts';

/** Subdirectories of `$LAB/hosts/<host>`. `log` holds daemons' stdout/stderr as seen from root. */
const HOST_SUBDIRS = ['run', 'varlog', 'log', 'srv', 'tmp', 'root', 'etc-upper', 'etc-work'] as const;

/** Top-level /run entries never copied into a host's fresh /run: they describe the machine itself. */
const RUN_SKIP = new Set(['netns', 'user', 'systemd', 'mount', 'lock', 'shm', 'sendsigs.omit.d']);

export function isHostinitOf(argv: readonly string[], lab: string, host: string): boolean {
  return argv.length === 4 && argv[1] !== undefined && argv[1].endsWith(`/labs/${lab}/bin/hostinit`) && argv[2] === nsName(lab, host);
}

export function isUnshareOf(argv: readonly string[], lab: string, host: string): boolean {
  return basename(argv[0] ?? '') === 'unshare' && argv.some((a) => a.endsWith(`/labs/${lab}/bin/hostinit`)) && argv.includes(nsName(lab, host));
}

export function isKeeperOf(argv: readonly string[], lab: string): boolean {
  return argv[0] === keeperArgv0(lab);
}

/** Copies a directory tree's directories (not files) with their modes and owners. */
function mirrorDirs(from: string, to: string, depth: number, skip: ReadonlySet<string> = new Set()): void {
  let entries: string[];
  try {
    entries = readdirSync(from);
  } catch {
    return;
  }
  for (const e of entries) {
    if (skip.has(e)) continue;
    const src = join(from, e);
    let st;
    try {
      st = lstatSync(src);
    } catch {
      continue;
    }
    if (!st.isDirectory()) continue;
    const dst = join(to, e);
    mkdirSync(dst, { recursive: true });
    chmodSync(dst, st.mode & 0o7777);
    chownSync(dst, st.uid, st.gid);
    if (depth > 1) mirrorDirs(src, dst, depth - 1);
  }
}

/** Creates a host's directories and seeds its /etc changes (hostname, hosts) before its first boot. */
export function prepareHostDirs(lab: string, t: Topology, host: string): void {
  const H = hostDir(lab, host);
  for (const d of HOST_SUBDIRS) mkdirSync(join(H, d), { recursive: true });
  chmodSync(join(H, 'tmp'), 0o1777);
  chmodSync(join(H, 'root'), 0o700);
  // Packages create their /var/log directories (apache2 root:adm, pacemaker hacluster:…) at
  // install time only; a host's empty /var/log would lack them.
  mirrorDirs('/var/log', join(H, 'varlog'), 4);
  // Written into the overlay's upper layer before it is mounted, as an installer would.
  const upper = join(H, 'etc-upper');
  writeFileSync(join(upper, 'hostname'), `${host}\n`);
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', '# lab hosts (private segment), written by Vard'];
  for (const h of t.hosts) lines.push(`${h.privateAddress}\t${h.name}`);
  writeFileSync(join(upper, 'hosts'), `${lines.join('\n')}\n`);
}

/**
 * Empties a host's /run, as a reboot does (stale pidfiles name live processes once PIDs restart at
 * 1), then recreates the machine's top-level /run directories with their owners, as tmpfiles would.
 */
export function freshRun(lab: string, host: string): void {
  const run = join(hostDir(lab, host), 'run');
  rmSync(run, { recursive: true, force: true });
  mkdirSync(run, { recursive: true });
  chmodSync(run, 0o755);
  mirrorDirs('/run', run, 1, RUN_SKIP);
}

function tail(path: string, n = 1500): string {
  try {
    const s = readFileSync(path, 'utf8');
    return s.slice(-n).trim() || '(no output)';
  } catch {
    return '(no output)';
  }
}

/**
 * Starts the host's init and waits until its mounts are in place. `ip netns exec` execs unshare,
 * so the spawned PID is unshare's and PID 1 is its only child.
 */
export async function startInit(lab: string, host: string, timeoutMs = 15_000): Promise<{ initPid: number; unsharePid: number }> {
  const H = hostDir(lab, host);
  const ns = nsName(lab, host);
  const logPath = join(H, 'log', 'init.out');
  const out = openSync(logPath, 'a');
  let spawnError: Error | undefined;
  const child = spawn(
    'ip',
    ['netns', 'exec', ns, 'unshare', '--uts', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc', '--propagation', 'private', hostinitPath(lab), ns, H],
    { detached: true, stdio: ['ignore', out, out] },
  );
  closeSync(out);
  child.on('error', (e) => (spawnError = e));
  child.unref();
  const unsharePid = child.pid;
  if (unsharePid === undefined) throw vardError('VARD_ERR_LAB_HOST_FAILED', [host, 'could not spawn ip netns exec']);
  const marker = join(H, 'run', READY_MARKER);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) throw vardError('VARD_ERR_LAB_HOST_FAILED', [host, spawnError.message], { cause: spawnError });
    const [initPid] = childrenOf(unsharePid);
    if (initPid !== undefined && existsSync(marker)) {
      const argv = readCmdline(initPid);
      if (argv && isHostinitOf(argv, lab, host) && readFileSync(marker, 'utf8').startsWith('1 ')) return { initPid, unsharePid };
    }
    if (!isAlive(unsharePid)) throw vardError('VARD_ERR_LAB_HOST_FAILED', [host, tail(logPath)], { details: { log: logPath } });
    if (Date.now() > deadline) throw vardError('VARD_ERR_LAB_HOST_FAILED', [host, `init not ready after ${timeoutMs} ms: ${tail(logPath)}`]);
    await sleep(10);
  }
}

/** Starts the keeper in the switch namespace and returns it as the lab's owner. */
export async function startKeeper(lab: string): Promise<Owner> {
  const child = spawn('ip', ['netns', 'exec', switchNs(lab), keeperPath(lab), `vd${lab}-`], { detached: true, stdio: 'ignore' });
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw vardError('VARD_ERR_LAB_HOST_FAILED', ['keeper', 'could not spawn']);
  const deadline = Date.now() + 5000;
  for (;;) {
    // `ip netns exec` and bash both exec, so the same PID becomes the renamed sleep.
    const argv = readCmdline(pid);
    const startTime = startTimeOf(pid);
    if (argv && isKeeperOf(argv, lab) && startTime) return { pid, startTime };
    if (!isAlive(pid) || Date.now() > deadline) throw vardError('VARD_ERR_LAB_HOST_FAILED', ['keeper', 'did not start']);
    await sleep(5);
  }
}

export function ensureLabBin(lab: string, hostinit: string, keeper: string): void {
  const bin = join(labDir(lab), 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(hostinitPath(lab), hostinit, { mode: 0o755 });
  writeFileSync(keeperPath(lab), keeper, { mode: 0o755 });
}
