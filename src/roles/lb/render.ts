/**
 * The load balancers' files, rendered purely from the model and what the other roles ask of the
 * balancers (`LbContribution`): HAProxy, Varnish and keepalived [S8–S10]; the firewall is every host's
 * (src/roles/firewall), opened here by the role's `accepts`.
 */
import { configId, hostsWithRole, type HostSpec, type Platform } from '../../model/index.ts';
import { BIN_DIR, header, type ConfigSet } from '../../render/index.ts';
import type { HttpService, LbContribution } from '../contract.ts';

export const LB_ROLE = 'lb';
/** HAProxy's site → backend map, beside haproxy.cfg in the same config set (HAProxy runs with -C on the set). */
export const SITES_MAP = 'sites.map';
export const LB_PATHS = {
  haproxySocket: '/run/haproxy/admin.sock',
  varnishWorkdir: '/run/varnish',
  chkHaproxy: `${BIN_DIR}/chk-haproxy`,
} as const;

/** The interface of a load balancer's public leg, which carries the VIP. */
export const PUBLIC_IF = 'pub';
export const VARNISH_PORT = 6081;
export const HAPROXY_HEALTH_PORT = 8404;
/** HAProxy's loopback frontend for Varnish's misses (the same site map as the public one). */
export const CACHE_MISS_PORT = 8405;

function byId(a: { readonly id: string }, b: { readonly id: string }): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** HTTP services sorted for stable output. */
function httpServices(lb: LbContribution): HttpService[] {
  return [...(lb.http ?? [])].sort(byId);
}

export function backendName(s: { readonly role: string; readonly id: string }): string {
  return `be_${configId(s.role)}_${configId(s.id)}`;
}

function checkKey(role: string, host: string): string {
  return `${role} ${host}`;
}

/**
 * Which backend holds the one real health check of each server (by role and host): the first
 * HTTP service it serves in. The server in every other site's backend tracks it, so a web server
 * costs the balancers one check a second whatever the number of sites (1,000 sites × 3 web
 * servers × 2 balancers were 6,000 checks a second), and a drain or a failure of that one server
 * reaches every backend at once. What a per-site check would catch beyond "Apache answers" (a
 * broken vhost) is caught by the web role's verify before a change stays.
 */
export function checkedBackends(lb: LbContribution): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of httpServices(lb)) for (const w of s.servers) if (!out.has(checkKey(s.role, w.host))) out.set(checkKey(s.role, w.host), backendName(s));
  return out;
}

/** The backend/server whose state `server` has in the HTTP service `s`: its own, or the one it tracks (`checked`: checkedBackends). */
export function checkedServer(checked: ReadonlyMap<string, string>, s: { readonly role: string; readonly id: string }, server: string): string {
  return `${checked.get(checkKey(s.role, server)) ?? backendName(s)}/${server}`;
}

/** Drupal's session cookie is SESS<hash> over http and SSESS<hash> over https. */
const SESSION_COOKIE_RE = '(^|;\\s*)S?SESS[A-Za-z0-9_]+=';
/** Paths that are personal or administrative in Drupal and must never be cached [S8]. */
const UNCACHEABLE_PATH_RE = '^/(user|admin)(/|$|\\?)';

function peerOf(p: Platform, self: HostSpec): HostSpec | undefined {
  return hostsWithRole(p.topology, LB_ROLE).find((h) => h.name !== self.name);
}

export function renderHaproxy(p: Platform, self: HostSpec, lb: LbContribution): ConfigSet {
  const sites = httpServices(lb);
  const peer = peerOf(p, self);
  const L: string[] = [];
  L.push(header('#', `platform ${p.name}, host ${self.name}`).trimEnd());
  L.push(
    'global',
    '  log stdout format raw local0 notice',
    // expose-fd lets a reloaded worker take over the listening sockets: no refused connection on reload.
    `  stats socket ${LB_PATHS.haproxySocket} mode 600 level admin expose-fd listeners`,
    '  maxconn 4096',
    '  hard-stop-after 30s',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option dontlognull',
    '  option forwardfor',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 30s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 5s',
    // A request whose server dies before answering is retried on another one, not failed.
    '  option redispatch 1',
    '  retries 2',
    '  retry-on conn-failure empty-response response-timeout 503',
    '  default-server inter 1s fall 2 rise 2',
    '',
    'frontend fe_health',
    `  bind 127.0.0.1:${HAPROXY_HEALTH_PORT}`,
    '  monitor-uri /healthz',
    '',
    'frontend fe_http',
    `  bind ${p.topology.publicVip}:80`,
    '  http-response set-header X-LB-Node %[hostname]',
    '  http-request set-var(txn.site) req.hdr(host),lower,field(1,:)',
    // One map from site to backend, not a line per site: HAProxy reads at most 64 words a line,
    // and a lookup stays one step however many sites there are.
    `  http-request set-var(txn.backend) var(txn.site),map(${SITES_MAP})`,
    '  acl known_site var(txn.backend) -m found',
    '  http-request return status 404 content-type text/plain string "No such site on this platform\\n" if !known_site',
    '  acl cacheable_method method GET HEAD',
    `  acl drupal_session req.hdr(cookie) -m reg ${SESSION_COOKIE_RE}`,
    `  acl private_path path -m reg ${UNCACHEABLE_PATH_RE}`,
    '  use_backend %[var(txn.backend)] if !cacheable_method || drupal_session || private_path',
  );
  L.push('  default_backend be_varnish', '');
  // Varnish's misses come back here and take the same site map: the cache needs no backend, probe
  // or VCL line per site (varnishd -C compiled 1,000 sites' VCL in minutes), and a web server
  // taken out of rotation or found dead here is out for the cache too.
  L.push(
    'frontend fe_cache_miss',
    `  bind 127.0.0.1:${CACHE_MISS_PORT}`,
    '  http-request set-var(txn.site) req.hdr(host),lower,field(1,:)',
    `  http-request set-var(txn.backend) var(txn.site),map(${SITES_MAP})`,
    '  acl known_site var(txn.backend) -m found',
    '  http-request return status 404 content-type text/plain string "No such site on this platform\\n" if !known_site',
    '  use_backend %[var(txn.backend)]',
    '',
  );
  L.push('backend be_varnish', '  option httpchk GET /varnish-health', `  server local 127.0.0.1:${VARNISH_PORT} check`);
  if (peer) L.push(`  server peer ${peer.privateAddress}:${VARNISH_PORT} check backup`);
  L.push('');
  const checked = checkedBackends(lb);
  for (const s of sites) {
    const own = s.servers.some((w) => checked.get(checkKey(s.role, w.host)) === backendName(s));
    L.push(
      `backend ${backendName(s)}`,
      '  balance roundrobin',
      ...(own ? ['  option httpchk', `  http-check send meth GET uri ${s.healthPath} ver HTTP/1.1 hdr Host ${s.domain}`] : []),
      ...s.servers.map((w) => {
        const at = checked.get(checkKey(s.role, w.host));
        return `  server ${w.host} ${w.address}:${w.port} ${at === backendName(s) ? 'check' : `track ${at}/${w.host}`}`;
      }),
      '',
    );
  }
  for (const t of [...(lb.tcp ?? [])].sort(byId)) {
    // Mail and other TCP services: passed through as they are; an active/backup pair sends to the first.
    L.push(
      `frontend fe_${configId(t.role)}_${configId(t.id)}`,
      '  mode tcp',
      `  bind ${p.topology.publicVip}:${t.port}`,
      `  default_backend ${backendName(t)}`,
      '',
      `backend ${backendName(t)}`,
      '  mode tcp',
      ...t.servers.map((w, i) => `  server ${w.host} ${w.address}:${w.port} check${t.activeBackup && i > 0 ? ' backup' : ''}`),
      '',
    );
  }
  const map = [header('#', `platform ${p.name}, host ${self.name}: site → backend`).trimEnd(), ...sites.map((x) => `${x.domain} ${backendName(x)}`), ''].join('\n');
  return { daemon: 'haproxy', files: [{ path: 'haproxy.cfg', content: L.join('\n') }, { path: SITES_MAP, content: map }] };
}

export function renderVarnish(p: Platform, self: HostSpec): ConfigSet {
  const L: string[] = ['vcl 4.1;', header('#', `platform ${p.name}, host ${self.name}`).trimEnd(), ''];
  L.push(
    // One backend whatever the number of sites: this balancer's HAProxy, which routes by the site
    // map, checks the web servers and drains them. No probe: it is on loopback, and HAProxy going
    // away takes this node's public side with it (keepalived tracks it).
    'backend haproxy {',
    '  .host = "127.0.0.1";',
    `  .port = "${CACHE_MISS_PORT}";`,
    '  .connect_timeout = 1s;',
    // HAProxy may try up to three servers (retries 2) of up to 30 s each before it answers.
    '  .first_byte_timeout = 95s;',
    '}',
    '',
    'sub vcl_recv {',
    '  if (req.url == "/varnish-health") {',
    '    return (synth(200, "OK"));',
    '  }',
    '  set req.backend_hint = haproxy;',
    '  if (req.method != "GET" && req.method != "HEAD") {',
    '    return (pass);',
    '  }',
    `  if (req.url ~ "${UNCACHEABLE_PATH_RE}") {`,
    '    return (pass);',
    '  }',
    `  if (req.http.Cookie ~ "${SESSION_COOKIE_RE}") {`,
    '    return (pass);',
    '  }',
    // Anonymous visitors: other cookies (analytics, consent) do not change Drupal's page.
    '  unset req.http.Cookie;',
    '  return (hash);',
    '}',
    '',
    'sub vcl_backend_response {',
    // A web server answering 5xx (its PHP pool down) is retried; HAProxy's round robin sends the retry to the next one.
    '  if (beresp.status >= 500 && bereq.retries < 2 && (bereq.method == "GET" || bereq.method == "HEAD")) {',
    '    return (retry);',
    '  }',
    '  if (beresp.http.Set-Cookie) {',
    '    set beresp.uncacheable = true;',
    '    return (deliver);',
    '  }',
    '}',
    '',
    'sub vcl_backend_error {',
    // A connection HAProxy dropped (a worker replaced mid-request) must not cost the visitor an error.
    '  if (bereq.retries < 2) {',
    '    return (retry);',
    '  }',
    '}',
    '',
    'sub vcl_deliver {',
    '  if (obj.hits > 0) {',
    '    set resp.http.X-Cache = "HIT";',
    '  } else {',
    '    set resp.http.X-Cache = "MISS";',
    '  }',
    '  set resp.http.X-Cache-Hits = obj.hits;',
    '}',
    '',
  );
  return { daemon: 'varnish', files: [{ path: 'default.vcl', content: L.join('\n') }] };
}

/** VRRP router id: one per segment; every lab has its own bridge, production sets one per VIP. */
export const VRRP_ROUTER_ID = 51;

export function renderKeepalived(p: Platform, self: HostSpec): ConfigSet {
  const lbs = hostsWithRole(p.topology, LB_ROLE);
  const rank = lbs.findIndex((h) => h.name === self.name);
  const priority = 150 - 50 * Math.max(rank, 0);
  const content = [
    header('#', `platform ${p.name}, host ${self.name}`).trimEnd(),
    'global_defs {',
    `  router_id ${self.name}`,
    '  script_user root',
    '  enable_script_security',
    '}',
    '',
    'vrrp_script chk_haproxy {',
    `  script "${LB_PATHS.chkHaproxy}"`,
    '  interval 1',
    '  fall 2',
    '  rise 2',
    '}',
    '',
    // Both nodes start as BACKUP with nopreempt: a node that comes back (revived, link restored)
    // never takes the address from the node serving it, so the VIP is never held twice once
    // they see each other. A node whose public link fails goes to FAULT and drops the VIP.
    'vrrp_instance VI_WEB {',
    '  state BACKUP',
    '  nopreempt',
    `  interface ${PUBLIC_IF}`,
    `  virtual_router_id ${VRRP_ROUTER_ID}`,
    `  priority ${priority}`,
    '  advert_int 1',
    '  virtual_ipaddress {',
    `    ${p.topology.publicVip}/${p.topology.publicPrefix} dev ${PUBLIC_IF}`,
    '  }',
    '  track_script {',
    '    chk_haproxy',
    '  }',
    '}',
    '',
  ].join('\n');
  return { daemon: 'keepalived', files: [{ path: 'keepalived.conf', content }] };
}

/** The keepalived track script: the node is fit to hold the VIP only while its HAProxy answers. */
export function chkHaproxyScript(): string {
  return [
    '#!/bin/sh',
    header('#', 'vard').trimEnd(),
    `exec /usr/bin/curl -fsS -o /dev/null --max-time 1 http://127.0.0.1:${HAPROXY_HEALTH_PORT}/healthz`,
    '',
  ].join('\n');
}

/** The ports the public address serves: HTTP always (the front of every site), plus each TCP service's. */
export function publicPorts(lb: LbContribution): number[] {
  return [...new Set([80, ...(lb.tcp ?? []).map((t) => t.port)])].sort((a, b) => a - b);
}
