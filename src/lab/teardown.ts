/**
 * Teardown, residue check and the stale-lab reaper, in the order of lab-field-notes §6. Every step
 * acts only on names carrying this lab's own prefix and signals only PIDs verified just before.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { vardError } from '../errors/index.ts';
import { execArgv } from '../host/exec.ts';
import { isHostinitOf, isKeeperOf, isUnshareOf } from './boot.ts';
import { ANY_LAB_PREFIX_RE, checkLabName, labDir, labPrefix, nsName, SWITCH, switchNs, uplinkName } from './names.ts';
import { ip, privateHalf, ROUTE_PROTO, runIp } from './net.ts';
import { identifyNetns, isAlive, killVerified, listPids, readCmdline, sleep, waitGone } from './proc.ts';
import { listLabDirs, readLab } from './state.ts';

type Progress = ((m: string) => void) | undefined;

/** Mount points in the root mount namespace, from /proc/self/mountinfo (field 5, octal-escaped). */
function rootMountPoints(): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
}

function labMounts(lab: string): string[] {
  const dir = labDir(lab);
  const prefix = labPrefix(lab);
  return rootMountPoints().filter((m) => m === dir || m.startsWith(`${dir}/`) || m.startsWith(`/run/netns/${prefix}`));
}

function labNamespaces(lab: string): string[] {
  const prefix = labPrefix(lab);
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(prefix)).sort();
  } catch {
    return [];
  }
}

function rootLinks(prefix: string): string[] {
  try {
    return readdirSync('/sys/class/net').filter((n) => n.startsWith(prefix)).sort();
  } catch {
    return [];
  }
}

/** Processes whose command line names this lab: its inits, unshares, keeper, and daemons run from its directory. */
function labProcesses(lab: string): { pid: number; argv: string[] }[] {
  const prefix = labPrefix(lab);
  const dir = labDir(lab);
  const out: { pid: number; argv: string[] }[] = [];
  for (const pid of listPids()) {
    if (pid === process.pid) continue;
    const argv = readCmdline(pid);
    if (!argv) continue;
    if (argv.some((a) => a.startsWith(prefix) || a.endsWith(`:${prefix}`) || a === dir || a.includes(`/labs/${lab}/`))) out.push({ pid, argv });
  }
  return out;
}

/** PIDs in a named network namespace: what `ip netns pids <ns>` prints, without the spawn. */
function netnsPids(ns: string): number[] {
  return listPids().filter((p) => p !== process.pid && identifyNetns(p, ns) === ns);
}

async function unreachableRouteExists(base: string): Promise<boolean> {
  const r = await ip(['-4', '-j', 'route', 'show', 'table', 'main', 'type', 'unreachable', privateHalf(base), 'proto', String(ROUTE_PROTO)], { allowFail: true });
  try {
    return r.exitCode === 0 && (JSON.parse(r.stdout || '[]') as unknown[]).length > 0;
  } catch {
    return false;
  }
}

/**
 * What this lab left on the machine: namespaces, root links, processes, mounts, its directory and
 * (when its subnet is known) its root route. [] when clean.
 */
export async function residueOf(lab: string, base?: string): Promise<string[]> {
  checkLabName(lab);
  const out: string[] = [];
  for (const n of labNamespaces(lab)) out.push(`namespace ${n}`);
  for (const l of rootLinks(labPrefix(lab))) out.push(`root link ${l}`);
  for (const p of labProcesses(lab)) out.push(`process ${p.pid}: ${p.argv.join(' ').slice(0, 200)}`);
  for (const m of labMounts(lab)) out.push(`mount ${m}`);
  if (existsSync(labDir(lab))) out.push(`directory ${labDir(lab)}`);
  const b = base ?? readLab(lab)?.base;
  if (b && (await unreachableRouteExists(b))) out.push(`root route unreachable ${privateHalf(b)}`);
  return out;
}

/** Whether anything of the lab exists at all (cheap: no spawns). */
export function anyTrace(lab: string): boolean {
  return (
    existsSync(labDir(lab)) ||
    labNamespaces(lab).length > 0 ||
    rootLinks(labPrefix(lab)).length > 0 ||
    labMounts(lab).length > 0 ||
    labProcesses(lab).length > 0
  );
}

/** The idempotent teardown of lab-field-notes §6. Throws VARD_ERR_LAB_RESIDUE if anything survives. */
export async function teardown(lab: string, progress?: Progress): Promise<void> {
  checkLabName(lab);
  const say = (m: string) => progress?.(`lab ${lab}: ${m}`);
  const started = Date.now();
  const rec = readLab(lab);
  const base = rec?.base;
  const sw = switchNs(lab);
  if (!anyTrace(lab) && !(base && (await unreachableRouteExists(base)))) {
    say('nothing to tear down');
    return;
  }
  say('tearing down');

  // 1. Only names with this lab's prefix are touched from here on (every helper filters on it).
  // The keeper (owner) goes first: if this teardown is interrupted, the lab then looks stale (reapable)
  // instead of live.
  const procs = labProcesses(lab);
  const keepers = new Set(procs.filter((p) => isKeeperOf(p.argv, lab)).map((p) => p.pid));
  if (rec?.owner) keepers.add(rec.owner.pid);
  for (const pid of keepers) if (killVerified(pid, 'SIGKILL', sw, (a) => isKeeperOf(a, lab))) say(`killed keeper ${pid}`);

  // 2. Mounts in the root mount namespace, deepest first; lazy as a fallback.
  const mounts = labMounts(lab)
    .filter((m) => !m.startsWith('/run/netns/'))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    say(`unmounting ${m}`);
    const u = await runUmount(m);
    if (!u) await runUmount(m, true);
  }

  // 3. Each host's PID 1, verified (namespace and cmdline), then the unshare processes.
  const hosts = new Set<string>(Object.keys(rec?.hosts ?? {}));
  for (const n of labNamespaces(lab)) {
    const h = n.slice(labPrefix(lab).length);
    if (h !== SWITCH) hosts.add(h);
  }
  const killed: number[] = [];
  for (const h of [...hosts].sort()) {
    const ns = nsName(lab, h);
    const cands = new Set<number>(procs.filter((p) => isHostinitOf(p.argv, lab, h)).map((p) => p.pid));
    const recorded = rec?.hosts[h]?.initPid;
    if (recorded) cands.add(recorded);
    for (const pid of cands) {
      if (killVerified(pid, 'SIGKILL', ns, (a) => isHostinitOf(a, lab, h))) {
        killed.push(pid);
        say(`killed ${h} init ${pid}`);
      }
    }
  }
  await waitGone(killed, 5000);
  const unshares: number[] = [];
  for (const h of [...hosts].sort()) {
    const ns = nsName(lab, h);
    const cands = new Set<number>(labProcesses(lab).filter((p) => isUnshareOf(p.argv, lab, h)).map((p) => p.pid));
    const recorded = rec?.hosts[h]?.unsharePid;
    if (recorded) cands.add(recorded);
    for (const pid of cands) if (killVerified(pid, 'SIGKILL', ns, (a) => isUnshareOf(a, lab, h))) unshares.push(pid);
  }
  await waitGone(unshares, 5000);

  // 4. Sweep: anything else still in a lab namespace (started with `ip netns exec`, a FUSE client
  // mounted from root…). TERM, up to 5 s, then KILL. A namespace with live processes would outlive
  // `ip netns del` without a name.
  const namespaces = labNamespaces(lab);
  const inLab = (): number[] => namespaces.flatMap((ns) => netnsPids(ns));
  let swept = 0;
  for (const ns of namespaces) for (const pid of netnsPids(ns)) if (killVerified(pid, 'SIGTERM', ns, () => true)) swept++;
  if (swept) {
    say(`sweeping ${swept} leftover process(es)`);
    await waitGone(inLab(), 5000);
    for (const ns of namespaces) for (const pid of netnsPids(ns)) killVerified(pid, 'SIGKILL', ns, () => true);
    const stubborn = await waitGone(inLab(), 5000);
    if (stubborn.length) say(`processes still in lab namespaces: ${stubborn.join(' ')}`);
  }

  // 5. Namespaces: hosts, then the switch. `-force` goes on past one already gone.
  if (namespaces.length) {
    const order = [...namespaces.filter((n) => n !== sw), ...namespaces.filter((n) => n === sw)];
    say(`deleting ${order.length} namespace(s)`);
    await runIp(order.map((n) => `netns del ${n}`).join('\n') + '\n', { allowFail: true, force: true });
  }
  if (base && (await unreachableRouteExists(base))) {
    await ip(['route', 'del', 'unreachable', privateHalf(base), 'proto', String(ROUTE_PROTO)], { allowFail: true });
  }

  // 6. Veth deletion is asynchronous: poll until the root end is gone, then delete it outright.
  const deadline = Date.now() + 10_000;
  while (rootLinks(labPrefix(lab)).length && Date.now() < deadline) await sleep(25);
  for (const l of rootLinks(labPrefix(lab))) {
    say(`deleting lingering link ${l}`);
    await ip(['link', 'del', l], { allowFail: true });
  }

  // 7. The lab directory, but never while something is mounted below it: rm would walk into it.
  if (labMounts(lab).length === 0) rmSync(labDir(lab), { recursive: true, force: true });

  const residue = await residueOf(lab, base);
  if (residue.length) throw vardError('VARD_ERR_LAB_RESIDUE', [lab, residue.map((r) => `  ${r}`).join('\n')], { details: { residue } });
  say(`torn down in ${((Date.now() - started) / 1000).toFixed(2)} s`);
}

async function runUmount(path: string, lazy = false): Promise<boolean> {
  const r = await execArgv('root', lazy ? ['umount', '-l', path] : ['umount', path], { allowFail: true, timeoutMs: 15_000 });
  return r.exitCode === 0;
}

/** Owner alive (same PID and start time)? A lab without lab.json counts as alive while its directory is young: it is being built. */
export function ownerAlive(lab: string): boolean {
  const rec = readLab(lab);
  if (rec) return isAlive(rec.owner.pid, rec.owner.startTime);
  try {
    return Date.now() - statSync(labDir(lab)).mtimeMs < 60_000;
  } catch {
    return false;
  }
}

/** Every lab name with a trace on this machine: directories, namespaces and root links matching the Vard pattern. */
function knownLabs(): string[] {
  const names = new Set<string>(listLabDirs());
  let netns: string[] = [];
  try {
    netns = readdirSync('/run/netns');
  } catch {
    // no namespaces at all
  }
  const nsSet = new Set(netns);
  const links = new Set(readdirSync('/sys/class/net'));
  for (const n of [...netns, ...links]) {
    const m = ANY_LAB_PREFIX_RE.exec(n);
    const lab = m?.[1];
    // Without a directory, only what looks like a whole Vard lab (its switch or uplink) counts.
    if (lab && (nsSet.has(switchNs(lab)) || links.has(uplinkName(lab)))) names.add(lab);
  }
  return [...names].sort();
}

/** Tears down every lab whose owner is gone. Returns their names. */
export async function reapStale(progress?: Progress): Promise<string[]> {
  const reaped: string[] = [];
  for (const lab of knownLabs()) {
    if (ownerAlive(lab)) continue;
    progress?.(`lab ${lab}: owner is gone, reaping`);
    await teardown(lab, progress);
    reaped.push(lab);
  }
  return reaped;
}
