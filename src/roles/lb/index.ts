/**
 * The load balancer pair [S8–S10]: HAProxy on the public address, Varnish behind it, keepalived
 * (VRRP) moving the address. Other roles reach the public through it by contributing services
 * (`lbServices`); the firewall (every host's) opens the address's service ports to everyone.
 */
import { writeIfChanged } from '../../host/index.ts';
import { hostsWithRole } from '../../model/index.ts';
import type { RoleModule } from '../contract.ts';
import { LB_DAEMONS } from './drivers.ts';
import packages from './packages.json' with { type: 'json' };
import { chkHaproxyScript, LB_PATHS, LB_ROLE, publicPorts, renderHaproxy, renderKeepalived, renderVarnish, VARNISH_PORT } from './render.ts';
import { setRotation, vipHolders } from './runtime.ts';

export const lbRole: RoleModule = {
  id: LB_ROLE,
  summary: 'load balancer: HAProxy, Varnish, keepalived (the public address)',
  packages,
  topology: {
    privateBlock: 130,
    publicLeg: true,
    rules(shape) {
      const n = shape.hosts.filter((h) => h.roles.includes(LB_ROLE)).length;
      if (n === 0) return [{ path: 'hosts', message: `no host has the role "${LB_ROLE}": the platform needs a load balancer` }];
      if (n > 2) return [{ path: 'hosts', message: `${n} hosts have the role "${LB_ROLE}"; the active/passive pair takes one or two` }];
      return [];
    },
  },
  reference: [
    { name: 'lb1', roles: [LB_ROLE] },
    { name: 'lb2', roles: [LB_ROLE] },
  ],
  // The pair and the one web server they route to: takeover, no split brain, the firewall.
  testTopology: {
    source: 'test:lb',
    hosts: [
      { name: 'lb1', roles: [LB_ROLE] },
      { name: 'lb2', roles: [LB_ROLE] },
      { name: 'web1', roles: ['web'] },
    ],
  },
  daemons: LB_DAEMONS,
  // The VIP manager last, so a node only bids for the address once it can serve.
  render: (p, host, lb) => [renderVarnish(p, host), renderHaproxy(p, host, lb), renderKeepalived(p, host)],
  accepts: (_p, _host, lb) => [
    { proto: 'tcp', ports: publicPorts(lb), from: 'public', why: 'the public address: every service the balancers front' },
    { proto: 'vrrp', from: [LB_ROLE], why: 'keepalived: the other balancer' },
    // HAProxy's backup cache is the other balancer's Varnish.
    { proto: 'tcp', ports: [VARNISH_PORT], from: [LB_ROLE], why: 'Varnish: the other balancer HAProxy' },
  ],
  rollout: { kind: 'active-last' },
  active: async (ctx) => (await vipHolders(ctx.platform, ctx.hostOf))[0],
  async prepareHost(ctx, host) {
    await writeIfChanged(ctx.hostOf(host.name), LB_PATHS.chkHaproxy, chkHaproxyScript(), 0o755);
  },
  balancer: { setRotation, holders: (ctx) => vipHolders(ctx.platform, ctx.hostOf) },
  async status(ctx) {
    const holders = await vipHolders(ctx.platform, ctx.hostOf);
    const vip = ctx.platform.topology.publicVip;
    const alerts = holders.length === 0 ? [`no load balancer holds the public address ${vip}`] : holders.length > 1 ? [`split brain: ${holders.join(', ')} all hold ${vip}`] : [];
    const n = hostsWithRole(ctx.platform.topology, LB_ROLE).length;
    return {
      healthy: alerts.length === 0,
      summary: `public address ${vip} on ${holders.join(', ') || 'no host'} (${n} load balancer${n === 1 ? '' : 's'})`,
      alerts,
      details: { publicVip: vip, activeLb: holders.length === 1 ? holders[0] : undefined, vipHolders: holders },
    };
  },
};
