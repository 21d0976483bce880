import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderHost as renderRoleSets } from '../../src/platform/reconcile.ts';
import type { HostSpec, Platform } from '../../src/model/index.ts';
import { renderSiteSkeleton } from '../../src/roles/web/site.ts';
import { FPM_SHARDS, fpmDaemon, fpmShardOf } from '../../src/roles/web/render.ts';
import { DAEMON_OPEN_FILES } from '../../src/render/index.ts';

const renderHost = (p: Platform, h: HostSpec) => renderRoleSets(p, h).map((rs) => rs.set);
import { assertGolden } from '../helpers/golden.ts';
import { samplePlatform } from '../helpers/model.ts';

test('every host of the reference platform renders to its golden files', () => {
  const p = samplePlatform();
  for (const host of p.topology.hosts) {
    for (const set of renderHost(p, host)) {
      for (const f of set.files) assertGolden(`reference/${host.name}/${set.daemon}/${f.path}`, f.content);
    }
  }
});

test('rendering is deterministic and independent of site order', () => {
  const p = samplePlatform(3);
  const reversed = { ...p, sites: [...p.sites].reverse() };
  for (const host of p.topology.hosts) assert.deepEqual(renderHost(reversed, host), renderHost(p, host));
});

test('each site gets its own port on every web server and its own FPM pool user [S11]', () => {
  const p = samplePlatform(2);
  for (const web of p.topology.hosts.filter((h) => h.roles.includes('web'))) {
    const sets = renderHost(p, web);
    const apache = sets.find((x) => x.daemon === 'apache2');
    for (const s of p.sites) {
      // The pool is in its shard's master and in no other.
      for (let k = 0; k < FPM_SHARDS; k++) {
        const fpm = sets.find((x) => x.daemon === fpmDaemon(k))!.files[0]!.content;
        if (k === fpmShardOf(s)) assert.match(fpm, new RegExp(`\\[${s.slug}\\]\\nuser = ${s.unixUser}\\n`));
        else assert.doesNotMatch(fpm, new RegExp(`\\[${s.slug}\\]`));
      }
      const vhost = apache!.files.find((f) => f.path === `sites/${s.slug}.conf`);
      assert.ok(vhost, `vhost for ${s.slug} on ${web.name}`);
      assert.match(vhost.content, new RegExp(`Listen ${web.privateAddress.replace(/\./g, '\\.')}:${s.port}\\n`));
    }
  }
});

test('HAProxy sends uncacheable traffic straight to the web servers and the rest to Varnish [S8]', () => {
  const p = samplePlatform(1);
  const lb1 = p.topology.hosts.find((h) => h.name === 'lb1')!;
  const set = renderHost(p, lb1).find((s) => s.daemon === 'haproxy')!;
  const cfg = set.files.find((f) => f.path === 'haproxy.cfg')!.content;
  assert.match(cfg, /use_backend %\[var\(txn\.backend\)\] if !cacheable_method \|\| drupal_session \|\| private_path/);
  assert.match(cfg, /default_backend be_varnish/);
  assert.match(cfg, /server peer 198\.18\.9\.131:6081 check backup/);
  for (const w of ['web1 198.18.9.141', 'web2 198.18.9.142', 'web3 198.18.9.143']) assert.ok(cfg.includes(`server ${w}:8081 check`));
  // The site → backend map lives in the same set, so it is checked and swapped with the config.
  const map = set.files.find((f) => f.path === 'sites.map')!.content;
  assert.match(map, /^example\.com be_web_example_com$/m);
});

test('a thousand sites still fit HAProxy: no line grows with the number of sites', () => {
  const p = samplePlatform(1);
  const many = { ...p, sites: Array.from({ length: 1000 }, (_, i) => ({ ...p.sites[0]!, domain: `s${i}.example.com`, slug: `s${i}-example-com`, port: 10_000 + i })) };
  const set = renderHost(many, p.topology.hosts.find((h) => h.name === 'lb1')!).find((s) => s.daemon === 'haproxy')!;
  for (const f of set.files) {
    for (const line of f.content.split('\n')) assert.ok(line.trim().split(/\s+/).length < 64, `${f.path}: ${line.slice(0, 80)}…`);
  }
  assert.equal(set.files.find((f) => f.path === 'sites.map')!.content.split('\n').filter((l) => / be_web_/.test(l)).length, 1000);
});

/** The sample platform with `n` sites (ports from both blocks), for the scale tests. */
function withSites(n: number): Platform {
  const p = samplePlatform(1);
  const site = p.sites[0]!;
  const sites = Array.from({ length: n }, (_, i) => ({ ...site, domain: `s${i}.example.com`, slug: `s${i}-example-com`, unixUser: `s${i}-example-com`, port: i < 919 ? 8081 + i : 10_000 + i - 919 }));
  return { ...p, sites };
}
const hostNamed = (p: Platform, name: string) => p.topology.hosts.find((h) => h.name === name)!;
const setOf = (p: Platform, host: string, daemon: string) => renderHost(p, hostNamed(p, host)).find((s) => s.daemon === daemon)!;

test('a thousand sites cost the balancers one health check per web server, not one per site and server', () => {
  const p = withSites(1000);
  const cfg = setOf(p, 'lb1', 'haproxy').files.find((f) => f.path === 'haproxy.cfg')!.content;
  const servers = cfg.split('\n').filter((l) => /^ {2}server web\d /.test(l));
  assert.equal(servers.length, 3000);
  const checked = servers.filter((l) => / check$/.test(l));
  assert.deepEqual(checked.map((l) => l.split(' ')[3]), ['web1', 'web2', 'web3']);
  // Every other server follows the checked one of its web server: a drain or a failure reaches all.
  for (const l of servers.filter((x) => !/ check$/.test(x))) {
    const name = l.trim().split(' ')[1];
    assert.match(l, new RegExp(`track be_web_s0_example_com/${name}$`));
  }
  assert.equal((cfg.match(/^ {2}option httpchk$/gm) ?? []).length, 1, 'only the checked site backend sends a check');
});

test('Varnish does not grow with the sites: its misses go to its own HAProxy, which routes by the site map', () => {
  const one = setOf(withSites(1), 'lb1', 'varnish');
  const many = setOf(withSites(1000), 'lb1', 'varnish');
  assert.deepEqual(many, one);
  const vcl = many.files[0]!.content;
  assert.equal((vcl.match(/^backend /gm) ?? []).length, 1);
  assert.doesNotMatch(vcl, /probe/);
  const cfg = setOf(withSites(1), 'lb1', 'haproxy').files.find((f) => f.path === 'haproxy.cfg')!.content;
  const port = /\.port = "(\d+)"/.exec(vcl)![1];
  assert.match(cfg, new RegExp(`frontend fe_cache_miss\\n  bind 127\\.0\\.0\\.1:${port}\\n[^]*?map\\(sites\\.map\\)[^]*?use_backend %\\[var\\(txn\\.backend\\)\\]\\n`));
  assert.doesNotMatch(cfg.split('frontend fe_cache_miss')[1]!.split('\n\n')[0]!, /be_varnish/, 'a miss never loops back to the cache');
});

test('a thousand sites fit a web server: no idle PHP worker per site, and open files for every socket and log', () => {
  const p = withSites(1000);
  const shards = Array.from({ length: FPM_SHARDS }, (_, k) => setOf(p, 'web1', fpmDaemon(k)).files[0]!.content);
  const fpm = shards.join('\n');
  const pools = fpm.split('\n[').slice(1).filter((x) => !x.startsWith('global]'));
  assert.equal(pools.length, 1000 + FPM_SHARDS, 'a health pool per shard and one per site');
  // Spread evenly, so a new site reloads an eighth of the pools.
  for (const shard of shards) assert.ok(shard.split('\n[').length - 2 <= Math.ceil(1000 / FPM_SHARDS) + 1, 'no shard holds more than its share');
  for (const pool of pools) {
    assert.match(pool, /\npm = ondemand\n/);
    assert.doesNotMatch(pool, /pm\.start_servers/);
  }
  assert.equal((fpm.match(/^pm\.max_children = 8$/gm) ?? []).length, 1000, 'each site keeps its own ceiling');
  assert.equal((fpm.match(/^pm\.process_idle_timeout = /gm) ?? []).length, 1000);
  // Its limit is the one every daemon is started with: rlimit_files would fail the start where the hard limit is lower.
  assert.doesNotMatch(fpm, /rlimit_files/);
  assert.ok((1000 + FPM_SHARDS) * 2 + 256 < DAEMON_OPEN_FILES);
  // Apache holds, in every process, a listening socket and two logs per site.
  const apache = setOf(p, 'web1', 'apache2').files;
  const listens = apache.flatMap((f) => f.content.split('\n').filter((l) => l.startsWith('Listen ')));
  const logs = apache.flatMap((f) => f.content.split('\n').filter((l) => /^\s*(ErrorLog|CustomLog) /.test(l)));
  assert.equal(listens.length, 1001);
  assert.equal(new Set(listens).size, 1001);
  assert.ok(listens.length + logs.length + 256 < DAEMON_OPEN_FILES, `${listens.length} sockets and ${logs.length} logs under ${DAEMON_OPEN_FILES}`);
});

test('the firewall opens only the public service ports of the VIP, and VRRP and Varnish to the peer [S10]', () => {
  const p = samplePlatform(1);
  const lb2 = p.topology.hosts.find((h) => h.name === 'lb2')!;
  const nft = renderHost(p, lb2).find((s) => s.daemon === 'nftables')!.files[0]!.content;
  assert.match(nft, /policy drop;/);
  assert.match(nft, /ip saddr \{ 198\.18\.9\.2, 198\.18\.9\.3, 198\.18\.9\.130, 198\.18\.9\.131 \} ip protocol vrrp accept/);
  assert.match(nft, /ip daddr 198\.18\.9\.100 tcp dport \{ 80 \} accept/);
  assert.match(nft, /ip saddr \{ [0-9., ]+ \} tcp dport \{ 6081 \} accept/);
  assert.doesNotMatch(nft, /dport \{[^}]*\b(22|3306|8081)\b/);
});

test('every host gets one table: web servers take site ports from the balancers only, db hosts MariaDB from web and db hosts', () => {
  const p = samplePlatform(2);
  const lbs = '198.18.9.2, 198.18.9.3, 198.18.9.130, 198.18.9.131';
  for (const h of p.topology.hosts) {
    const sets = renderHost(p, h).filter((s) => s.daemon === 'nftables');
    assert.equal(sets.length, 1, h.name);
    const nft = sets[0]!.files[0]!.content;
    assert.equal(nft.match(/^table inet vard \{$/gm)?.length, 1, h.name);
    if (h.roles.includes('web')) assert.match(nft, new RegExp(`ip saddr \\{ ${lbs} \\} tcp dport \\{ 8081, 8082 \\} accept`));
    if (h.roles.includes('db')) assert.match(nft, /ip saddr \{ [0-9., ]+ \} tcp dport \{ 3306 \} accept/);
    if (h.roles.includes('db') || h.roles.includes('quorum')) assert.match(nft, /ip saddr \{ 198\.18\.9\.170, 198\.18\.9\.171, 198\.18\.9\.172, 198\.18\.9\.173 \} udp dport \{ 5405 \} accept/);
    else assert.doesNotMatch(nft, /5405|3306/);
  }
});

test('the site skeleton has the settings.php format of its Drupal major', () => {
  const [d10, d7] = samplePlatform(2).sites;
  const s10 = renderSiteSkeleton(d10!).find((f) => f.path === 'web/sites/default/settings.php')!.content;
  const s7 = renderSiteSkeleton(d7!).find((f) => f.path === 'web/sites/default/settings.php')!.content;
  assert.match(s10, /\$databases = \[\];/);
  assert.match(s10, /\$settings\['hash_salt'\]/);
  assert.match(s7, /\$databases = array\(\);/);
  assert.match(s7, /\$drupal_hash_salt/);
  assert.ok(renderSiteSkeleton(d7!).some((f) => f.path === 'web/includes/bootstrap.inc'));
  assert.ok(renderSiteSkeleton(d10!).some((f) => f.path === 'web/core/lib/Drupal.php'));
});
