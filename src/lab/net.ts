/**
 * The lab's network, as `ip -batch` scripts. Builders are pure (argv-free text, one ip command per
 * line, every name derived from a validated lab or host name); `runIp` executes them. One `ip`
 * process per namespace keeps bring-up near the field notes' 2 s instead of one spawn per link.
 */
import { execArgv } from '../host/exec.ts';
import type { RunResult } from '../host/index.ts';
import type { HostSpec, Topology } from '../model/index.ts';
import { nsName, switchNs, uplinkName } from './names.ts';

/**
 * Protocol number on the root route that makes the lab's private /25 unreachable from root. Root
 * has a default route to the real network; without this a stray packet to a private lab address
 * would leave the machine. The number only marks the route as Vard's (rt_protos leaves it unnamed).
 */
export const ROUTE_PROTO = 86;

/** The interface of a host's public leg (the platform's renderers name the same `pub`). */
export const PUBLIC_LEG = 'pub';

/** A host on the public segment: one with a public address (a role of it asked for the leg). */
export function hasPublicLeg(h: HostSpec): boolean {
  return h.publicAddress !== undefined;
}

/** Root namespace: every namespace, every veth (both ends created in place), the uplink address. */
export function rootBatch(lab: string, t: Topology, base: string): string {
  const sw = switchNs(lab);
  const lines = [`netns add ${sw}`];
  for (const h of t.hosts) lines.push(`netns add ${nsName(lab, h.name)}`);
  lines.push(`link add ${uplinkName(lab)} type veth peer name inet netns ${sw}`);
  for (const h of t.hosts) {
    const ns = nsName(lab, h.name);
    lines.push(`link add ${h.name}-priv netns ${sw} type veth peer name priv netns ${ns}`);
    if (hasPublicLeg(h)) lines.push(`link add ${h.name}-pub netns ${sw} type veth peer name pub netns ${ns}`);
  }
  lines.push(`addr add ${base}.1/${t.publicPrefix} dev ${uplinkName(lab)}`);
  lines.push(`link set ${uplinkName(lab)} up`);
  lines.push(`route add unreachable ${privateHalf(base)} proto ${ROUTE_PROTO}`);
  return lines.join('\n') + '\n';
}

/** The private /25 of a lab's /24. */
export function privateHalf(base: string): string {
  return `${base}.128/25`;
}

/**
 * Switch namespace: two dumb bridges (and, in SSH mode, the bastion's address). Multicast snooping off so VRRP and any other multicast is
 * simply flooded, as on an unmanaged switch; STP is off by default, so ports forward at once.
 */
export function switchBatch(t: Topology, o: { bastion?: string } = {}): string {
  const lines = [
    'link set lo up',
    'link add br-pub type bridge mcast_snooping 0',
    'link add br-priv type bridge mcast_snooping 0',
    'link set br-pub up',
    'link set br-priv up',
    'link set inet master br-pub up',
  ];
  // SSH mode: the switch is also the bastion, one address on the private segment (no forwarding:
  // a new namespace has ip_forward 0, so this joins no segments).
  if (o.bastion) lines.push(`addr add ${o.bastion}/${t.privatePrefix} dev br-priv`);
  for (const h of t.hosts) {
    lines.push(`link set ${h.name}-priv master br-priv up`);
    if (hasPublicLeg(h)) lines.push(`link set ${h.name}-pub master br-pub up`);
  }
  return lines.join('\n') + '\n';
}

/**
 * A host's own legs: only the configured addresses, no default route. With `flush`, every IPv4
 * address is removed first (a reboot forgets a VIP that keepalived had added). Run with `-4`.
 */
export function hostBatch(h: HostSpec, t: Topology, o: { flush?: boolean; up?: boolean } = {}): string {
  const lines = ['link set lo up'];
  if (o.flush) {
    lines.push('addr flush dev priv');
    if (hasPublicLeg(h)) lines.push('addr flush dev pub');
  }
  lines.push(`addr add ${h.privateAddress}/${t.privatePrefix} dev priv`);
  if (hasPublicLeg(h) && h.publicAddress) lines.push(`addr add ${h.publicAddress}/${t.publicPrefix} dev pub`);
  if (o.up !== false) {
    lines.push('link set priv up');
    if (hasPublicLeg(h)) lines.push('link set pub up');
  }
  return lines.join('\n') + '\n';
}

/** Sets a host's legs down or up (power cut, cable pulled, cable back). */
export function linksBatch(h: HostSpec, state: 'up' | 'down'): string {
  const lines = [`link set priv ${state}`];
  if (hasPublicLeg(h)) lines.push(`link set pub ${state}`);
  return lines.join('\n') + '\n';
}

/** Runs `ip [-n ns] [-4] -batch -` with the script on stdin. */
export function runIp(script: string, o: { ns?: string; family4?: boolean; allowFail?: boolean; force?: boolean } = {}): Promise<RunResult> {
  const argv = ['ip'];
  // -force: go on after a failed line (teardown deletes what may already be gone).
  if (o.force) argv.push('-force');
  if (o.ns) argv.push('-n', o.ns);
  if (o.family4) argv.push('-4');
  argv.push('-batch', '-');
  return execArgv(o.ns ?? 'root', argv, { input: script, allowFail: o.allowFail ?? false, timeoutMs: 30_000 });
}

/** Runs one `ip` command in the root namespace. */
export function ip(args: readonly string[], o: { allowFail?: boolean } = {}): Promise<RunResult> {
  return execArgv('root', ['ip', ...args], { allowFail: o.allowFail ?? false, timeoutMs: 30_000 });
}

/**
 * /24 indexes (0..511) of 198.18.0.0/15 that some root route points into. Routes broader than the
 * /15 (the default route) do not claim anything. Sample `ip -4 -j route show table all` entry:
 * `{"dst":"198.18.3.0/25","dev":"vdab-inet","protocol":"kernel","scope":"link","prefsrc":"198.18.3.1","flags":[]}`;
 * a host route has no `/len` in `dst`.
 */
export function routedIndexes(routesJson: string): Set<number> {
  const out = new Set<number>();
  let routes: { dst?: string }[];
  try {
    routes = JSON.parse(routesJson) as { dst?: string }[];
  } catch {
    return out;
  }
  const lo = ipToInt('198.18.0.0');
  const hi = lo + 2 ** 17 - 1;
  for (const r of routes) {
    if (!r.dst || r.dst === 'default') continue;
    const [addr, lenS] = r.dst.split('/');
    if (!addr || !/^\d+\.\d+\.\d+\.\d+$/.test(addr)) continue;
    const len = lenS === undefined ? 32 : Number(lenS);
    if (len < 15) continue;
    const start = ipToInt(addr);
    const end = start + 2 ** (32 - len) - 1;
    if (end < lo || start > hi) continue;
    for (let i = Math.floor((Math.max(start, lo) - lo) / 256); i <= Math.floor((Math.min(end, hi) - lo) / 256); i++) out.add(i);
  }
  return out;
}

function ipToInt(a: string): number {
  return a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}
