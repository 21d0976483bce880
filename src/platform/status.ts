import { setStatus } from '../apply/config-set.ts';
import { isVardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import type { Platform } from '../model/index.ts';
import type { RoleContext, RoleStatus } from '../roles/contract.ts';
import { ROLES } from '../roles/registry.ts';
import { driverOf, renderPlatform } from './reconcile.ts';

export interface DaemonStatus {
  readonly daemon: string;
  readonly role: string;
  readonly running: boolean;
  /** True when the running version is the one the model renders, with its files intact. */
  readonly inSync: boolean;
  readonly version: string | undefined;
}

export interface HostStatus {
  readonly name: string;
  readonly roles: readonly string[];
  readonly address: string;
  readonly publicAddress?: string;
  readonly up: boolean;
  readonly daemons: readonly DaemonStatus[];
}

export interface PlatformStatus {
  readonly name: string;
  readonly publicVip: string;
  /** The load balancer holding the public address; more than one would be a split brain. */
  readonly activeLb: string | undefined;
  readonly vipHolders: readonly string[];
  readonly sites: number;
  readonly hosts: readonly HostStatus[];
  /** Each role's own view of its health (primary, replication, who holds an address…). */
  readonly roles: Readonly<Record<string, RoleStatus>>;
  readonly healthy: boolean;
}

export async function platformStatus(p: Platform, hostOf: (n: string) => Host): Promise<PlatformStatus> {
  const desired = renderPlatform(p);
  const hosts = await Promise.all(
    p.topology.hosts.map(async (spec): Promise<HostStatus> => {
      const base = { name: spec.name, roles: spec.roles, address: spec.privateAddress, ...(spec.publicAddress ? { publicAddress: spec.publicAddress } : {}) };
      try {
        const h = hostOf(spec.name);
        await h.run(['true'], { timeoutMs: 10_000 });
        const daemons: DaemonStatus[] = [];
        for (const rs of desired.get(spec.name) ?? []) {
          const st = await setStatus(h, rs.set, driverOf(rs));
          daemons.push({ daemon: rs.set.daemon, role: rs.role.id, running: st.running, inSync: st.current === st.desired, version: st.current });
        }
        return { ...base, up: true, daemons };
      } catch (e) {
        if (isVardError(e, 'VARD_ERR_HOST_DOWN')) return { ...base, up: false, daemons: [] };
        throw e;
      }
    }),
  );
  const ctx: RoleContext = { platform: p, hostOf, say: () => undefined };
  const roles: Record<string, RoleStatus> = {};
  for (const r of ROLES) {
    if (!r.status || !p.topology.hosts.some((h) => h.roles.includes(r.id))) continue;
    roles[r.id] = await r.status(ctx).catch((e: unknown): RoleStatus => ({ healthy: false, summary: 'status unavailable', alerts: [isVardError(e) ? e.message : String(e)] }));
  }
  const holders = (await Promise.all(ROLES.map((r) => r.balancer?.holders(ctx) ?? []))).flat();
  const healthy = hosts.every((h) => h.up && h.daemons.every((d) => d.running && d.inSync)) && Object.values(roles).every((r) => r.healthy);
  return { name: p.name, publicVip: p.topology.publicVip, activeLb: holders.length === 1 ? holders[0] : undefined, vipHolders: holders, sites: p.sites.length, hosts, roles, healthy };
}

export function formatStatus(s: PlatformStatus): string {
  const lines = [
    `platform ${s.name}: public address ${s.publicVip}, active load balancer ${s.activeLb ?? (s.vipHolders.length > 1 ? `SPLIT: ${s.vipHolders.join(', ')}` : 'none')}, ${s.sites} site(s)`,
  ];
  for (const h of s.hosts) {
    const d = h.daemons.map((x) => `${x.daemon}${x.running ? '' : ' (stopped)'}${x.inSync ? '' : ' (out of date)'}`).join(', ');
    lines.push(`  ${h.name.padEnd(8)} ${h.address.padEnd(15)} ${h.roles.join('+').padEnd(7)} ${h.up ? 'up  ' : 'DOWN'} ${d}`);
  }
  for (const [id, r] of Object.entries(s.roles)) {
    lines.push(`  ${id}: ${r.healthy ? 'healthy' : 'UNHEALTHY'}; ${r.summary}`);
    for (const a of r.alerts) lines.push(`    ${a}`);
  }
  return lines.join('\n');
}
