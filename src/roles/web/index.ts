/**
 * The web servers [S11]: Apache + PHP-FPM, one vhost on its own port and one pool running as the
 * site's own Unix user per site, on every web server; each site's Drupal-shaped tree. They reach
 * the public through the load balancers, one HTTP service per site.
 */
import { hostsWithRole } from '../../model/index.ts';
import type { RoleModule } from '../contract.ts';
import { WEB_DAEMONS } from './drivers.ts';
import { prepareWebHost, removeSiteFromHost, siteDirsOn, verifyPhpPools, verifyWebSites } from './hosts.ts';
import packages from './packages.json' with { type: 'json' };
import { renderApache, renderPhpFpmShards, WEB_ROLE } from './render.ts';

/** Every web server answers this on every site's port (the skeleton's health file). */
const HEALTH_PATH = '/health.txt';

export const webRole: RoleModule = {
  id: WEB_ROLE,
  summary: 'web server: Apache + PHP-FPM, a port, a vhost and a pool per site',
  packages,
  topology: {
    privateBlock: 141,
    rules(shape) {
      const n = shape.hosts.filter((h) => h.roles.includes(WEB_ROLE)).length;
      if (n === 0) return [{ path: 'hosts', message: `no host has the role "${WEB_ROLE}"` }];
      if (n > 9) return [{ path: 'hosts', message: `${n} web servers; at most 9 are supported` }];
      return [];
    },
  },
  reference: [
    { name: 'web1', roles: [WEB_ROLE] },
    { name: 'web2', roles: [WEB_ROLE] },
    { name: 'web3', roles: [WEB_ROLE] },
  ],
  // Two web servers behind one balancer: rolling changes with drain, a web server lost under load.
  testTopology: {
    source: 'test:web',
    hosts: [
      { name: 'lb1', roles: ['lb'] },
      { name: 'web1', roles: [WEB_ROLE] },
      { name: 'web2', roles: [WEB_ROLE] },
    ],
  },
  daemons: WEB_DAEMONS,
  // PHP pools before the Apache that forwards to them.
  render: (p, host) => [...renderPhpFpmShards(p, host), renderApache(p, host)],
  rollout: { kind: 'one-at-a-time', drain: true },
  // Apache is verified through every site it serves, so a vhost that breaks a site rolls back.
  async verify(ctx, host, set) {
    if (set.daemon === 'apache2') await verifyWebSites(ctx.platform, host, ctx.hostOf(host.name), set);
    else await verifyPhpPools(ctx.platform, ctx.hostOf(host.name), set);
  },
  prepareHost: (ctx, host) => prepareWebHost(ctx.platform, ctx.hostOf(host.name)),
  lbServices(p) {
    const webs = hostsWithRole(p.topology, WEB_ROLE);
    return {
      http: p.sites.map((s) => ({
        role: WEB_ROLE,
        id: s.slug,
        domain: s.domain,
        healthPath: HEALTH_PATH,
        servers: webs.map((w) => ({ host: w.name, address: w.privateAddress, port: s.port })),
      })),
    };
  },
  siteResidue: siteDirsOn,
  removeSiteResidue: removeSiteFromHost,
};
