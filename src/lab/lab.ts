/**
 * The lab: the whole platform on one machine (DESIGN.md §4). Each host is a network namespace on
 * two bridges in a switch namespace, with its own hostname, mounts and PID 1; root plays "the
 * Internet" through one uplink onto the public bridge.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { interfaceState, netnsHost, sshHost, type Host } from '../host/index.ts';
import { addressTopology, shapeProblems, type HostSpec, type Role, type Topology, type TopologyShape } from '../model/index.ts';
import { ROLE_CATALOG } from '../roles/registry.ts';
import { withFileLock } from '../store/lock.ts';
import { ensureLabBin, freshRun, isHostinitOf, prepareHostDirs, startInit, startKeeper } from './boot.ts';
import { checkLabName, labDir, labPrefix, labsRoot, nsName, SWITCH, subnetBase, switchNs } from './names.ts';
import { hasPublicLeg, hostBatch, ip, linksBatch, PUBLIC_LEG, rootBatch, routedIndexes, runIp, switchBatch } from './net.ts';
import { isAlive, killVerified, readCmdline, startTimeOf, waitGone } from './proc.ts';
import { HOSTINIT, KEEPER } from './scripts.ts';
import { bastionAddress, prepareSsh, sshdAlive, sshTargetOf, startSshd, type LabTransport } from './ssh.ts';
import { listLabDirs, readLab, updateHost, writeLab, type HostState, type LabRecord } from './state.ts';
import { anyTrace, ownerAlive, reapStale, residueOf, teardown } from './teardown.ts';

export type { HostState } from './state.ts';
export type { LabTransport } from './ssh.ts';

export interface LabHandle {
  readonly name: string;
  readonly prefix: string;
  readonly dir: string;
  /** First three octets of the lab's /24, e.g. `198.18.0`. */
  readonly base: string;
  readonly topology: Topology;
  /** Root's address on the public segment ("the Internet"), without prefix length. */
  readonly uplinkAddress: string;
  /** How Vard's command path reaches the hosts: `netns` (entering their namespaces) or `ssh` (sshd only). */
  readonly transport: LabTransport;
  /** `vd<name>-<host>`. */
  nsName(host: string): string;
  /**
   * The host as Vard reaches it: in SSH mode over one SSH connection per host, opened on first use
   * and kept for the handle's life (`close()` ends them); otherwise by namespace entry, like
   * `console`. A revived host is followed either way. @throws VARD_ERR_HOST_UNKNOWN
   */
  host(name: string): Host;
  hosts(): Host[];
  /**
   * The lab's own way onto a host, whatever the transport: namespace entry, as a machine's
   * console would be. For the lab's plumbing and for tests' independent witnesses (it reaches a
   * host whose cables are cut), never for Vard's command path. @throws VARD_ERR_HOST_UNKNOWN
   */
  console(name: string): Host;
  /** Closes the SSH connections this handle opened (a no-op in netns mode); the handle stays usable. */
  close(): Promise<void>;
  /** @throws VARD_ERR_HOST_UNKNOWN */
  hostState(name: string): HostState;
}

export interface LabStatus {
  readonly name: string;
  readonly transport: LabTransport;
  readonly base: string;
  readonly publicVip: string;
  readonly uplink: string;
  /** Load balancers whose `pub` carries the public VIP with the link up (a downed leg serves no one). */
  readonly vipHolders: string[];
  /** Whether the lab's owner process is alive (false: the lab is stale and `vard lab reap` removes it). */
  readonly ownerAlive: boolean;
  readonly hosts: {
    readonly name: string;
    readonly roles: readonly Role[];
    readonly privateAddress: string;
    readonly publicAddress?: string;
    readonly state: HostState;
    readonly initPid?: number;
    /** The VIP is configured on this host's `pub`, whatever the link state. */
    readonly carriesVip?: boolean;
    /** SSH mode: whether the host's sshd (the lab's, a child of its init) is running. */
    readonly sshd?: boolean;
  }[];
}

type Progress = ((m: string) => void) | undefined;

// ---------------------------------------------------------------------------------------------
// Handle

function mustRead(name: string): LabRecord {
  const rec = readLab(name);
  if (!rec) throw vardError('VARD_ERR_LAB_NOT_RUNNING', [name, name]);
  return rec;
}

function specOf(t: Topology, host: string): HostSpec {
  const h = t.hosts.find((x) => x.name === host);
  if (!h) throw vardError('VARD_ERR_HOST_UNKNOWN', [host, t.hosts.map((x) => x.name).join(', ')]);
  return h;
}

/** Current PID 1 of a host, or undefined when it is killed or the recorded PID is no longer its init. */
function currentInit(lab: string, host: string): number | undefined {
  const h = readLab(lab)?.hosts[host];
  if (!h || h.state === 'killed' || h.initPid === undefined) return undefined;
  const argv = readCmdline(h.initPid);
  return argv && isHostinitOf(argv, lab, host) ? h.initPid : undefined;
}

/**
 * Handles whose SSH connections are open, so that one call can close them all when a CLI command
 * ends (`labCloseAll`): a live connection keeps Node's event loop, and the CLI, running.
 */
const withConnections = new Set<LabHandle>();

function makeHandle(rec: LabRecord): LabHandle {
  const name = rec.name;
  const topology = rec.topology;
  const transport: LabTransport = rec.transport ?? 'netns';
  const consoles = new Map<string, Host>();
  const remotes = new Map<string, Host>();
  const consoleOf = (host: string): Host => {
    specOf(topology, host);
    let h = consoles.get(host);
    if (!h) {
      h = netnsHost(host, () => currentInit(name, host));
      consoles.set(host, h);
    }
    return h;
  };
  const handle: LabHandle = {
    name,
    prefix: rec.prefix,
    dir: labDir(name),
    base: rec.base,
    topology,
    uplinkAddress: `${rec.base}.1`,
    transport,
    nsName: (host) => nsName(name, host),
    host(host) {
      if (transport === 'netns') return consoleOf(host);
      const spec = specOf(topology, host);
      let h = remotes.get(host);
      if (!h) {
        if (!rec.ssh) throw vardError('VARD_ERR_INTERNAL', [`lab ${name} is in SSH mode but lab.json has no ssh record`]);
        h = sshHost(sshTargetOf(name, spec, rec.ssh));
        remotes.set(host, h);
        withConnections.add(handle);
      }
      return h;
    },
    hosts: () => topology.hosts.map((h) => handle.host(h.name)),
    console: consoleOf,
    async close() {
      const open = [...remotes.values()];
      remotes.clear();
      withConnections.delete(handle);
      await Promise.all(open.map((h) => h.close()));
    },
    hostState(host) {
      specOf(topology, host);
      return mustRead(name).hosts[host]?.state ?? 'killed';
    },
  };
  return handle;
}

/** Closes the SSH connections of every lab handle of this process (the CLI calls it on its way out). */
export async function labCloseAll(): Promise<void> {
  await Promise.all([...withConnections].map((h) => h.close()));
}

/** Opens a running lab. @throws VARD_ERR_LAB_NOT_RUNNING when it has no lab.json. */
export function labOpen(name: string): LabHandle {
  checkLabName(name);
  return makeHandle(mustRead(name));
}

export function labExists(name: string): boolean {
  checkLabName(name);
  return readLab(name) !== undefined;
}

/** Names of labs with a lab.json on this machine. */
export function labList(): string[] {
  return listLabDirs().filter((n) => readLab(n) !== undefined);
}

// ---------------------------------------------------------------------------------------------
// Up

const BINARIES = ['ip', 'unshare', 'nsenter', 'mount', 'umount', 'hostname', 'sleep'];
/** SSH mode also needs OpenSSH's server and key generator, and socat for the bastion's byte pipe. */
const SSH_BINARIES = ['sshd', 'ssh-keygen', 'socat'];
const OVERLAID = ['/run', '/var/log', '/srv', '/tmp', '/root', '/etc', '/dev/shm', '/proc', '/sys'];

function findBinary(b: string): boolean {
  for (const d of ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']) {
    try {
      accessSync(join(d, b), constants.X_OK);
      return true;
    } catch {
      // try the next directory
    }
  }
  return false;
}

/** Everything that would make a half-built lab: checked before anything is created. */
function preflight(shape: TopologyShape, transport: LabTransport): void {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('  must run as root (namespaces, mounts, links)');
  for (const b of [...BINARIES, 'bash', ...(transport === 'ssh' ? SSH_BINARIES : [])]) if (!findBinary(b)) problems.push(`  missing binary: ${b}${SSH_BINARIES.includes(b) ? ' (SSH mode; Debian: openssh-server, socat)' : ''}`);
  let fss = '';
  try {
    fss = readFileSync('/proc/filesystems', 'utf8');
  } catch {
    // reported below
  }
  if (!/\toverlay$/m.test(fss)) problems.push('  the kernel has no overlay filesystem (each host needs its own /etc)');
  const root = labsRoot();
  // A host's init mounts over these paths; a lab directory below one would vanish from under it.
  for (const o of OVERLAID) if (root === o || root.startsWith(`${o}/`)) problems.push(`  ${root} is below ${o}, which every lab host overlays: set VARD_HOME elsewhere`);
  // Paths go into overlay mount options, where ',' and ':' are separators.
  if (!/^\/[A-Za-z0-9._/-]+$/.test(root)) problems.push(`  ${root} contains characters unsafe in mount options`);
  if (problems.length) throw vardError('VARD_ERR_LAB_PREFLIGHT', [problems.join('\n')]);
  const sp: Problem[] = [...shapeProblems(shape, ROLE_CATALOG)];
  shape.hosts.forEach((h, i) => {
    if (h.name === SWITCH) sp.push({ path: `hosts.${i}.name`, message: `"${SWITCH}" names the lab's switch namespace` });
    if (!/^[a-z][a-z0-9]{0,9}$/.test(h.name)) sp.push({ path: `hosts.${i}.name`, message: 'must be 1-10 lowercase letters or digits, starting with a letter' });
  });
  if (sp.length) throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems(sp)], { details: { source: shape.source } });
}

/**
 * A machine-wide mutex for subnet allocation: two `labUp`s choosing at the same moment would
 * otherwise both take the first free /24. An exclusive create; a holder that died is detected by
 * PID and start time.
 */
async function withAllocLock<T>(fn: () => Promise<T>): Promise<T> {
  // Allocation takes milliseconds: a lock older than a minute is a leftover.
  return withFileLock(join(labsRoot(), '.alloc.lock'), fn, { timeoutMs: 15_000, pollMs: 20, staleAfterMs: 60_000 });
}

/** First /24 index not claimed by another lab's lab.json and with no root route into it. */
async function allocateIndex(name: string): Promise<number> {
  const claimed = new Set<number>();
  for (const other of listLabDirs()) {
    if (other === name) continue;
    const r = readLab(other);
    if (r) claimed.add(r.subnetIndex);
  }
  const routes = await ip(['-4', '-j', 'route', 'show', 'table', 'all']);
  const routed = routedIndexes(routes.stdout);
  for (let i = 0; i < 512; i++) if (!claimed.has(i) && !routed.has(i)) return i;
  throw vardError('VARD_ERR_LAB_NO_SUBNET');
}

/**
 * Builds a lab. Tears down a stale lab of that name first (owner gone); refuses a live one.
 * On any failure the half-built lab is torn down before the error is rethrown.
 * @throws VARD_ERR_LAB_EXISTS, VARD_ERR_LAB_PREFLIGHT, VARD_ERR_LAB_NO_SUBNET, VARD_ERR_LAB_HOST_FAILED
 */
export async function labUp(o: { name: string; shape: TopologyShape; transport?: LabTransport; progress?: (msg: string) => void }): Promise<LabHandle> {
  const { name, shape } = o;
  const transport = o.transport ?? 'netns';
  checkLabName(name);
  const say = (m: string) => o.progress?.(`lab ${name}: ${m}`);
  preflight(shape, transport);
  const started = Date.now();

  const existing = readLab(name);
  if (existing && isAlive(existing.owner.pid, existing.owner.startTime)) throw vardError('VARD_ERR_LAB_EXISTS', [name, existing.owner.pid, name]);
  if (!existing && ownerAlive(name) && existsSync(labDir(name))) throw vardError('VARD_ERR_LAB_EXISTS', [name, '(being built)', name]);
  // Teardown runs before every up (field notes §6): a stale lab of this name, or its leftovers.
  if (anyTrace(name)) {
    say('a stale lab of this name exists; tearing it down first');
    await teardown(name, o.progress);
  }

  mkdirSync(labsRoot(), { recursive: true });
  try {
    mkdirSync(labDir(name)); // exclusive: a concurrent `up` of the same name loses here
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw vardError('VARD_ERR_LAB_EXISTS', [name, '(being built)', name]);
    throw e;
  }

  try {
    // Until the keeper runs, this process owns the lab: if it dies half-way the lab is stale.
    const self = { pid: process.pid, startTime: startTimeOf(process.pid) ?? '' };
    const rec = await withAllocLock(async () => {
      const subnetIndex = await allocateIndex(name);
      const base = subnetBase(subnetIndex);
      const addressed = addressTopology(shape, base, ROLE_CATALOG);
      // SSH mode: the hosts' firewalls let SSH in from the bastion, as a real platform's would
      // from its operators' addresses; nothing else of the topology changes.
      const topology = transport === 'ssh' ? { ...addressed, operator: { sshFrom: [`${bastionAddress(base)}/32`] } } : addressed;
      const clash = topology.hosts.find((h) => h.privateAddress === bastionAddress(base));
      if (transport === 'ssh' && clash) throw vardError('VARD_ERR_TOPOLOGY_INVALID', [`  [hosts] ${clash.name} has ${clash.privateAddress}, the lab bastion's address in SSH mode`]);
      const r: LabRecord = {
        name,
        prefix: labPrefix(name),
        subnetIndex,
        base,
        topology,
        owner: self,
        hosts: Object.fromEntries(topology.hosts.map((h) => [h.name, { state: 'killed' as const }])),
        transport,
        createdAt: new Date().toISOString(),
      };
      writeLab(r);
      return r;
    });
    const t = rec.topology;
    say(`subnet ${rec.base}.0/24 (index ${rec.subnetIndex}); ${t.hosts.length} host(s): ${t.hosts.map((h) => h.name).join(', ')}`);

    ensureLabBin(name, HOSTINIT, KEEPER);
    for (const h of t.hosts) {
      prepareHostDirs(name, t, h.name);
      freshRun(name, h.name);
    }
    if (transport === 'ssh') {
      say('ssh: a host key per host, one client key');
      rec.ssh = { bastion: bastionAddress(rec.base), hostKeys: await prepareSsh(name, t.hosts) };
      writeLab(rec);
    }

    say('network: namespaces, veths, uplink');
    await runIp(rootBatch(name, t, rec.base));
    say('network: bridges and host addresses');
    await Promise.all([
      runIp(switchBatch(t, rec.ssh ? { bastion: rec.ssh.bastion } : {}), { ns: switchNs(name) }),
      ...t.hosts.map((h) => runIp(hostBatch(h, t), { ns: nsName(name, h.name), family4: true })),
    ]);

    say('starting host inits');
    const inits = await Promise.all(t.hosts.map(async (h) => [h.name, await startInit(name, h.name)] as const));
    for (const [h, p] of inits) rec.hosts[h] = { initPid: p.initPid, unsharePid: p.unsharePid, state: 'up' };
    writeLab(rec);
    if (transport === 'ssh') {
      say(`ssh: sshd on every host, reached through the bastion ${rec.ssh?.bastion}`);
      const plumbing = makeHandle(rec);
      const pids = await Promise.all(inits.map(async ([h, p]) => [h, await startSshd(name, specOf(t, h), p.initPid, plumbing.console(h))] as const));
      for (const [h, pid] of pids) rec.hosts[h] = { ...rec.hosts[h]!, sshdPid: pid };
      writeLab(rec);
    }

    // Ownership passes to the keeper only now that the lab is whole: were this process to die
    // earlier, its own death would mark the half-built lab stale, and the reaper would remove it.
    rec.owner = await startKeeper(name);
    writeLab(rec);
    say(`owner: keeper pid ${rec.owner.pid}`);
    say(`up in ${((Date.now() - started) / 1000).toFixed(2)} s: uplink ${rec.base}.1, public VIP ${t.publicVip}, transport ${transport}`);
    return makeHandle(rec);
  } catch (e) {
    say(`bring-up failed (${(e as Error).message.split('\n')[0]}); tearing down`);
    try {
      await teardown(name, o.progress);
    } catch (te) {
      say(`teardown after failure also failed: ${(te as Error).message}`);
    }
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Down, residue, reap

/** Idempotent teardown; ends by asserting no residue. @throws VARD_ERR_LAB_RESIDUE */
export async function labDown(name: string, o: { progress?: (m: string) => void } = {}): Promise<void> {
  await teardown(name, o.progress);
}

/** What this lab left behind (namespaces, root links, processes, mounts, directory, route); [] when clean. */
export async function labResidue(name: string): Promise<string[]> {
  return residueOf(name);
}

/** Tears down every lab whose owner (PID and start time) is gone; returns their names. */
export async function reapStaleLabs(o: { progress?: (m: string) => void } = {}): Promise<string[]> {
  return reapStale(o.progress);
}

// ---------------------------------------------------------------------------------------------
// Failure drills

async function setLinks(lab: LabHandle, h: HostSpec, state: 'up' | 'down'): Promise<void> {
  await runIp(linksBatch(h, state), { ns: nsName(lab.name, h.name) });
}

/**
 * Every process of the host dies at once: SIGKILL of the verified PID 1 (the kernel kills its
 * whole PID namespace), then its links go down. In that order the kernel still sends the FIN/RST
 * of the dead processes' connections, as a crashed machine's peers would see on a crash of its
 * services, and then the host vanishes from both segments, so addresses it still carries (a
 * VIP) answer nobody. A silent failure without resets is `labCut`.
 */
export async function labKill(lab: LabHandle, host: string, o: { progress?: Progress } = {}): Promise<void> {
  const h = specOf(lab.topology, host);
  const rec = mustRead(lab.name);
  const cur = rec.hosts[host];
  if (cur?.state === 'killed') return;
  const ns = nsName(lab.name, host);
  const pids = [cur?.initPid, cur?.unsharePid].filter((p): p is number => p !== undefined);
  if (cur?.initPid !== undefined && killVerified(cur.initPid, 'SIGKILL', ns, (a) => isHostinitOf(a, lab.name, host))) {
    o.progress?.(`lab ${lab.name}: killed ${host} (init ${cur.initPid})`);
  }
  const left = await waitGone(pids, 5000);
  await setLinks(lab, h, 'down');
  if (left.length) throw vardError('VARD_ERR_INTERNAL', [`${host}: processes ${left.join(' ')} survived SIGKILL of the host init`]);
  updateHost(lab.name, host, () => ({ state: 'killed' }));
}

/** Both legs down; processes keep running (a pulled cable). */
export async function labCut(lab: LabHandle, host: string): Promise<void> {
  const h = specOf(lab.topology, host);
  const cur = mustRead(lab.name).hosts[host];
  if (cur?.state === 'killed') throw vardError('VARD_ERR_LAB_STATE', [host, 'killed', 'revive it before cutting it']);
  await setLinks(lab, h, 'down');
  updateHost(lab.name, host, (x) => ({ ...x, state: 'cut' }));
}

/**
 * Back to 'up'. From 'cut': links up. From 'killed': like a reboot — only the configured addresses
 * (a killed LB may still carry the VIP; a rebooted one would not), a fresh /run, a new PID 1.
 * Starting daemons is the platform's job (onHostRevived).
 */
export async function labRevive(lab: LabHandle, host: string, o: { progress?: Progress } = {}): Promise<void> {
  const h = specOf(lab.topology, host);
  const cur = mustRead(lab.name).hosts[host];
  const state = cur?.state ?? 'killed';
  if (state === 'cut' || state === 'up') {
    await setLinks(lab, h, 'up');
    updateHost(lab.name, host, (x) => ({ ...x, state: 'up' }));
    return;
  }
  await runIp(hostBatch(h, lab.topology, { flush: true }), { ns: nsName(lab.name, host), family4: true });
  freshRun(lab.name, host);
  const p = await startInit(lab.name, host);
  updateHost(lab.name, host, () => ({ initPid: p.initPid, unsharePid: p.unsharePid, state: 'up' }));
  // A rebooted server starts its sshd before anything else can reach it.
  if (lab.transport === 'ssh') {
    const sshdPid = await startSshd(lab.name, h, p.initPid, lab.console(host));
    updateHost(lab.name, host, (x) => ({ ...x, sshdPid }));
  }
  o.progress?.(`lab ${lab.name}: revived ${host} (init ${p.initPid})`);
}

// ---------------------------------------------------------------------------------------------
// Status and exec

export async function labStatus(lab: LabHandle): Promise<LabStatus> {
  const rec = mustRead(lab.name);
  const t = rec.topology;
  const vip = t.publicVip;
  const pubs = new Map<string, { up: boolean; addrs: string[] }>();
  await Promise.all(
    t.hosts.filter(hasPublicLeg).map(async (h) => {
      // The lab's own view (a cut host is still seen); a killed host's link is gone with it.
      const st = await interfaceState(lab.console(h.name), PUBLIC_LEG).catch(() => undefined);
      if (st) pubs.set(h.name, st);
    }),
  );
  const vipHolders = t.hosts.filter((h) => {
    const p = pubs.get(h.name);
    return p !== undefined && p.up && p.addrs.includes(vip);
  }).map((h) => h.name);
  const transport = rec.transport ?? 'netns';
  return {
    name: rec.name,
    transport,
    base: rec.base,
    publicVip: vip,
    uplink: `${rec.base}.1`,
    vipHolders,
    ownerAlive: isAlive(rec.owner.pid, rec.owner.startTime),
    hosts: t.hosts.map((h) => {
      const hr = rec.hosts[h.name];
      const state = hr?.state ?? 'killed';
      const init = state === 'killed' ? undefined : currentInit(lab.name, h.name);
      const p = pubs.get(h.name);
      return {
        name: h.name,
        roles: h.roles,
        privateAddress: h.privateAddress,
        ...(h.publicAddress ? { publicAddress: h.publicAddress } : {}),
        state,
        ...(init !== undefined ? { initPid: init } : {}),
        ...(p ? { carriesVip: p.addrs.includes(vip) } : {}),
        ...(transport === 'ssh' ? { sshd: init !== undefined && hr?.sshdPid !== undefined && sshdAlive(lab.name, h.name, hr.sshdPid) } : {}),
      };
    }),
  };
}

/**
 * Runs an argv on a host with this process's stdio (for `vard lab exec`), entering its network,
 * UTS, mount and PID namespaces. Resolves to the command's exit code (128+n when killed by signal n).
 */
export async function labExec(lab: LabHandle, host: string, argv: readonly string[]): Promise<number> {
  specOf(lab.topology, host);
  const pid = currentInit(lab.name, host);
  if (pid === undefined) throw vardError('VARD_ERR_HOST_DOWN', [host]);
  if (argv.length === 0) throw vardError('VARD_ERR_USAGE', ['no command given']);
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', ['-t', String(pid), '-n', '-u', '-m', '-p', '--wd=/', '--', ...argv], { stdio: 'inherit' });
    child.on('error', (e) => reject(vardError('VARD_ERR_COMMAND_FAILED', [host, argv.join(' '), 'spawn', e.message], { cause: e })));
    child.on('close', (code, signal) => {
      const sigNo = signal ? (({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 }) as Record<string, number>)[signal] ?? 1 : 0;
      resolve(code ?? 128 + sigNo);
    });
  });
}

/** The lab's switch namespace name, for probes that want to sit on the bridges. */
export function labSwitchNs(lab: LabHandle): string {
  return switchNs(lab.name);
}
