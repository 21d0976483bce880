import { hostsWithRole, type HostSpec, type Platform } from '../model/index.ts';
import { renderHaproxy, renderKeepalived, renderNftables, renderVarnish } from './lb.ts';
import type { ConfigSet } from './types.ts';
import { renderApache, renderPhpFpm } from './web.ts';

export * from './types.ts';
export { chkHaproxyScript, varnishBackendName, HAPROXY_HEALTH_PORT, VARNISH_PORT, PUBLIC_IF, PRIVATE_IF } from './lb.ts';
export { APACHE_HEALTH_PORT, FPM_HEALTH_POOL } from './web.ts';
export { renderSiteSkeleton, renderWebSupport, WRITABLE_DIRS, VARD_OWNED_SITE_FILES, DB_CHECK_TABLE } from './site.ts';
export * from './db.ts';
export { renderHaproxy, renderVarnish, renderKeepalived, renderNftables, renderApache, renderPhpFpm };

/**
 * Every config set one host must hold, in the order they are brought up: a web server's PHP
 * pools before the Apache that forwards to them; on a load balancer the firewall first, and the
 * VIP manager last so a node only bids for the address once it can serve.
 */
export function renderHost(p: Platform, host: HostSpec): ConfigSet[] {
  const out: ConfigSet[] = [];
  if (host.roles.includes('web')) out.push(renderPhpFpm(p, host), renderApache(p, host));
  if (host.roles.includes('lb')) out.push(renderNftables(p, host), renderVarnish(p, host), renderHaproxy(p, host), renderKeepalived(p, host));
  return out;
}

export function lbHosts(p: Platform): HostSpec[] {
  return hostsWithRole(p.topology, 'lb');
}
export function webHosts(p: Platform): HostSpec[] {
  return hostsWithRole(p.topology, 'web');
}
