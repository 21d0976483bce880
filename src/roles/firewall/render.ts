/**
 * One nftables table per host, rendered from what the roles on it accept (`FirewallRule`, merged
 * by the core): everything else arriving at the host is dropped, and nothing is forwarded.
 */
import { hostsWithRole, type HostSpec, type Platform } from '../../model/index.ts';
import { header, type ConfigSet } from '../../render/index.ts';
import type { FirewallRule } from '../contract.ts';

export const FIREWALL_ROLE = 'firewall';
export const FW_TABLE = 'vard';
/** Tables earlier releases loaded; dropped in the same transaction so one table is left per host. */
const OLD_TABLES = ['vard_lb'];
/**
 * Conntrack mark of connections root opens on this host to one of its own addresses: Vard's own
 * checks (a web server's sites on its private address) run as root there, a tenant's PHP never does.
 */
export const ROOT_LOCAL_MARK = '0x7661';

/** Every address a role's hosts send from: private and public legs, and the role's VIP. */
export function roleAddresses(p: Platform, roles: readonly string[]): string[] {
  const out = new Set<string>();
  for (const r of roles) {
    for (const h of hostsWithRole(p.topology, r)) {
      out.add(h.privateAddress);
      if (h.publicAddress) out.add(h.publicAddress);
    }
    const vip = p.topology.vips?.[r];
    if (vip) out.add(vip);
  }
  return [...out].sort(byAddress);
}

function byAddress(a: string, b: string): number {
  const n = (x: string) => x.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  return n(a) - n(b);
}

function comment(why: string): string {
  return `comment "${why.replace(/[^A-Za-z0-9 ,.:()/_-]/g, '').slice(0, 120)}"`;
}

function ruleLine(p: Platform, r: FirewallRule): string | undefined {
  const what = r.proto === 'vrrp' ? 'ip protocol vrrp' : `${r.proto} dport { ${[...(r.ports ?? [])].sort((a, b) => a - b).join(', ')} }`;
  if (r.proto !== 'vrrp' && !r.ports?.length) return undefined;
  if (r.from === 'public') return `ip daddr ${p.topology.publicVip} ${what} accept ${comment(r.why)}`;
  if ('addresses' in r.from) return r.from.addresses.length ? `ip saddr { ${[...r.from.addresses].sort().join(', ')} } ${what} accept ${comment(r.why)}` : undefined;
  const from = roleAddresses(p, r.from);
  // No host of the sending roles in this topology: nobody to let in.
  if (!from.length) return undefined;
  return `ip saddr { ${from.join(', ')} } ${what} accept ${comment(r.why)}`;
}

export function renderFirewall(p: Platform, self: HostSpec, accepts: readonly FirewallRule[]): ConfigSet {
  const everyone = [...new Set(p.topology.hosts.flatMap((h) => [h.privateAddress, ...(h.publicAddress ? [h.publicAddress] : [])]))].sort(byAddress);
  const lines = [...new Set(accepts.map((r) => ruleLine(p, r)).filter((l): l is string => l !== undefined))];
  const L = [
    header('#', `platform ${p.name}, host ${self.name}`).trimEnd(),
    // Declaring then deleting a table makes the load one atomic, idempotent transaction that
    // replaces Vard's table and leaves any other table alone.
    ...[...OLD_TABLES, FW_TABLE].flatMap((t) => [`table inet ${t}`, `delete table inet ${t}`]),
    `table inet ${FW_TABLE} {`,
    '  chain input {',
    '    type filter hook input priority filter; policy drop;',
    '    ct state established,related accept',
    '    ct state invalid drop',
    '    iif "lo" ip saddr 127.0.0.0/8 accept',
    '    iif "lo" ip6 saddr ::1 accept',
    `    iif "lo" ct mark ${ROOT_LOCAL_MARK} accept ${comment('root on this host, to its own addresses')}`,
    `    ip saddr { ${everyone.join(', ')} } icmp type echo-request accept ${comment('ping between the platform hosts')}`,
    `    ip daddr ${p.topology.publicVip} icmp type echo-request accept ${comment('ping the public address')}`,
    ...lines.map((l) => `    ${l}`),
    '    counter',
    '  }',
    '  chain output {',
    '    type filter hook output priority filter; policy accept;',
    `    oif "lo" meta skuid 0 ct state new ct mark set ${ROOT_LOCAL_MARK}`,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy drop;',
    '    counter',
    '  }',
    '}',
    '',
  ];
  return { daemon: 'nftables', files: [{ path: 'ruleset.nft', content: L.join('\n') }] };
}
