import { setStatus } from '../apply/config-set.ts';
import { DRIVERS } from '../daemon/index.ts';
import { isVardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import type { Platform } from '../model/index.ts';
import { renderHost } from '../render/index.ts';
import { vipHolders } from './support.ts';

export interface DaemonStatus {
  readonly daemon: string;
  readonly running: boolean;
  /** True when the running version is the one the model renders. */
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
}

export async function platformStatus(p: Platform, hostOf: (n: string) => Host): Promise<PlatformStatus> {
  const hosts = await Promise.all(
    p.topology.hosts.map(async (spec): Promise<HostStatus> => {
      const base = { name: spec.name, roles: spec.roles, address: spec.privateAddress, ...(spec.publicAddress ? { publicAddress: spec.publicAddress } : {}) };
      try {
        const h = hostOf(spec.name);
        const daemons: DaemonStatus[] = [];
        for (const set of renderHost(p, spec)) {
          const st = await setStatus(h, set, DRIVERS[set.daemon]);
          daemons.push({ daemon: set.daemon, running: st.running, inSync: st.current === st.desired, version: st.current });
        }
        return { ...base, up: true, daemons };
      } catch (e) {
        if (isVardError(e, 'VARD_ERR_HOST_DOWN')) return { ...base, up: false, daemons: [] };
        throw e;
      }
    }),
  );
  const holders = await vipHolders(p, hostOf);
  return { name: p.name, publicVip: p.topology.publicVip, activeLb: holders.length === 1 ? holders[0] : undefined, vipHolders: holders, sites: p.sites.length, hosts };
}

export function formatStatus(s: PlatformStatus): string {
  const lines = [
    `platform ${s.name}: public address ${s.publicVip}, active load balancer ${s.activeLb ?? (s.vipHolders.length > 1 ? `SPLIT: ${s.vipHolders.join(', ')}` : 'none')}, ${s.sites} site(s)`,
  ];
  for (const h of s.hosts) {
    const d = h.daemons.map((x) => `${x.daemon}${x.running ? '' : ' (stopped)'}${x.inSync ? '' : ' (out of date)'}`).join(', ');
    lines.push(`  ${h.name.padEnd(8)} ${h.address.padEnd(15)} ${h.roles.join('+').padEnd(7)} ${h.up ? 'up  ' : 'DOWN'} ${d}`);
  }
  return lines.join('\n');
}
