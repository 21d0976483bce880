/**
 * The firewall: every host carries it (`everyHost`), so no topology names it. Each host gets one
 * nftables table from what the roles on it accept (their `accepts`, and the ports the balancers
 * route to), and drops the rest. Which ports and from whom is each role's to say; this folder
 * only renders and loads the rules.
 */
import { DEFAULT_SSH_PORT } from '../../model/index.ts';
import type { RoleModule } from '../contract.ts';
import { FIREWALL_DAEMONS } from './drivers.ts';
import packages from './packages.json' with { type: 'json' };
import { FIREWALL_ROLE, renderFirewall } from './render.ts';

export const firewallRole: RoleModule = {
  id: FIREWALL_ROLE,
  summary: 'firewall on every host: nftables, only what the roles on the host accept',
  packages,
  everyHost: true,
  // Never a host's first role, so never addressed.
  topology: { privateBlock: 0 },
  reference: [],
  // The tiers' smallest platform with every kind of traffic: balancer, web servers, the database cluster.
  testTopology: {
    source: 'test:firewall',
    hosts: [
      { name: 'lb1', roles: ['lb'] },
      { name: 'web1', roles: ['web'] },
      { name: 'web2', roles: ['web'] },
      { name: 'db1', roles: ['db'] },
      { name: 'db2', roles: ['db'] },
      { name: 'dbq', roles: ['quorum'] },
    ],
  },
  daemons: FIREWALL_DAEMONS,
  render: (p, host, _lb, accepts) => [renderFirewall(p, host, accepts)],
  // The operator's addresses the topology names (an inventory's, or the bastion of a lab in SSH
  // mode) keep every host's SSH port open: dropping it would lock Vard out at the first converge.
  // A netns lab names none, so nothing is opened there.
  accepts: (p, host) => {
    const from = p.topology.operator?.sshFrom ?? [];
    return from.length ? [{ proto: 'tcp', ports: [host.ssh?.port ?? DEFAULT_SSH_PORT], from: { addresses: from }, why: 'ssh from the operator' }] : [];
  },
  // A ruleset swap is one atomic nft transaction and established connections stay: no draining.
  rollout: { kind: 'all-at-once' },
};
