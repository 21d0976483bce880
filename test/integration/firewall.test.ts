// A firewall on every host, and no unauthenticated door between hosts (issue 9, lines 3 and 4):
// a tenant's PHP on a web server reaches only what web servers are meant to reach; the Internet
// reaches only the public address's port 80; the cluster traffic is encrypted; a replica's
// rebuild stream accepts the primary alone.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { Host } from '../../src/host/index.ts';
import { currentPrimary, rejoin, siteChecksums, waitReplicaHealthy } from '../../src/roles/db/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { httpGet, startPlatform, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
const SITES = ['fw.example.com', 'other.example.org'];
const measured: Record<string, unknown> = {};
const hostOf = (n: string) => P.lab.host(n);
const platform = () => P.ctx.service.platform();
const log = (m: string) => process.env.VARD_TEST_VERBOSE && process.stderr.write(`  [tfw] ${m}\n`);
const addr = (n: string) => P.lab.topology.hosts.find((h) => h.name === n)!.privateAddress;

before(async () => {
  const t0 = Date.now();
  P = await startPlatform('tfw', PRESETS['test-db']!);
  for (const d of SITES) {
    const r = await P.cli(['--json', 'site', 'create', d]);
    assert.equal(r.code, 0, r.stderr);
  }
  measured.labUpWithSitesMs = Date.now() - t0;
});
after(async () => {
  process.stderr.write(`  [tfw] measured: ${JSON.stringify(measured)}\n`);
  await P?.teardown();
});

/**
 * Tries every target at once (non-blocking connects) and answers which ones accepted: a dropped
 * SYN never answers, a closed port refuses; only a completed handshake counts as open.
 */
const PROBE = String.raw`<?php
header('Content-Type: application/json');
header('Cache-Control: no-store');
$targets = explode(',', $_GET['t'] ?? '');
$pending = []; $open = [];
foreach ($targets as $t) {
  $s = @stream_socket_client("tcp://$t", $errno, $errstr, 1, STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT);
  if ($s) $pending[$t] = $s;
}
$deadline = microtime(true) + 1.5;
while ($pending && microtime(true) < $deadline) {
  $r = null; $e = null; $w = array_values($pending);
  if (@stream_select($r, $w, $e, 0, 100000) === false) break;
  foreach ($w as $s) {
    $k = array_search($s, $pending, true);
    if (stream_socket_get_name($s, true) !== false) $open[] = $k;
    unset($pending[$k]);
  }
}
$user = function_exists('posix_geteuid') ? (posix_getpwuid(posix_geteuid())['name'] ?? '?') : '?';
echo json_encode(['host' => gethostname(), 'user' => $user, 'open' => $open]);
`;

function probeTargets(): string[] {
  const t = P.lab.topology;
  const sitePorts = platform().sites.map((s) => s.port);
  const ports = [22, 80, 3306, 4444, 5405, 6081, 6082, 8079, 8404, 2224, 9000, ...sitePorts];
  const addrs = [...t.hosts.map((h) => h.privateAddress), ...Object.values(t.vips ?? {})];
  return addrs.flatMap((a) => ports.map((p) => `${a}:${p}`));
}

/** What a web server's tenant may reach: MariaDB on the db hosts and the database address, nothing else. */
function intendedFromWeb(): string[] {
  const t = P.lab.topology;
  return [addr('db1'), addr('db2'), t.vips!.db!].map((a) => `${a}:3306`).sort();
}

test("a tenant's PHP on each web server reaches MariaDB and nothing else: no balancer, no site port (not even its own), no cluster port", async () => {
  const site = platform().sites.find((s) => s.domain === SITES[0])!;
  for (const web of ['web1', 'web2']) await hostOf(web).writeFile(`/srv/vard/sites/${site.slug}/web/fw-probe.php`, PROBE, { mode: 0o644 });
  const targets = probeTargets();
  const seen = new Map<string, { user: string; open: string[] }>();
  // A session cookie sends the request straight to the web servers, round robin: both get asked.
  for (let i = 0; i < 12 && seen.size < 2; i++) {
    const r = await httpGet(P.vip, site.domain, `/fw-probe.php?t=${targets.join(',')}`, { timeoutMs: 10_000, headers: { Cookie: `SESSfw=${i}` } });
    assert.equal(r.status, 200, r.body.slice(0, 300));
    const j = JSON.parse(r.body) as { host: string; user: string; open: string[] };
    seen.set(j.host, { user: j.user, open: [...j.open].sort() });
  }
  assert.deepEqual([...seen.keys()].sort(), ['web1', 'web2']);
  for (const [web, r] of seen) {
    assert.equal(r.user, site.unixUser, `the probe ran as the tenant on ${web}`);
    assert.deepEqual(r.open, intendedFromWeb(), `what ${web}'s tenant reaches`);
  }
  measured.probedTargets = targets.length;
});

function tcpOpen(host: string, port: number, timeoutMs = 700): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

test("from the Internet only the public address's port 80 answers", async () => {
  const t = P.lab.topology;
  const addrs = [t.publicVip, ...t.hosts.flatMap((h) => (h.publicAddress ? [h.publicAddress] : []))];
  const ports = [22, 80, 443, 3306, 5405, 6081, 6082, 8079, 8404, ...platform().sites.map((s) => s.port)];
  const results = await Promise.all(addrs.flatMap((a) => ports.map(async (p) => ((await tcpOpen(a, p)) ? `${a}:${p}` : undefined))));
  assert.deepEqual(results.filter(Boolean), [`${t.publicVip}:80`]);
});

/** The input chain's closing counter: packets that matched no rule and were dropped. */
async function dropped(host: string): Promise<number> {
  const r = await hostOf(host).run(['nft', 'list', 'chain', 'inet', 'vard', 'input']);
  const m = /^\s*counter packets (\d+) bytes \d+\s*$/m.exec(r.stdout);
  assert.ok(m, r.stdout);
  return Number(m[1]);
}

test('cluster traffic: Corosync is encrypted with the platform key (root-only), members only; a web server cannot reach it', async () => {
  for (const h of ['db1', 'db2', 'dbq']) {
    const c = await hostOf(h).run(['corosync-cmapctl', '-g', 'totem.crypto_cipher']);
    assert.match(c.stdout, /= aes256$/m, h);
    const k = await hostOf(h).run(['sh', '-c', 'stat -L -c "%a %U %s" /etc/vard/corosync/current/authkey']);
    assert.match(k.stdout.trim(), /^400 root \d+$/, h);
    const q = await hostOf(h).run(['corosync-quorumtool', '-s'], { allowFail: true });
    assert.match(q.stdout, /Quorate:\s+Yes/, h);
    assert.match(q.stdout, /Total votes:\s+3/, h);
  }
  // UDP cannot be probed by a connect: the datagrams from web1 must end in db1's drop counter.
  const before = await dropped('db1');
  await hostOf('web1').run(['sh', '-c', 'for i in 1 2 3 4 5; do printf x | socat -u STDIN UDP-SENDTO:"$1":5405; done', 'vard-udp', addr('db1')]);
  const after = await dropped('db1');
  assert.ok(after - before >= 5, `db1 dropped ${after - before} of web1's 5 datagrams to 5405`);
});

test("the db hosts' TLS key pairs are root's only", async () => {
  for (const h of ['db1', 'db2']) {
    const r = await hostOf(h).run(['sh', '-c', 'stat -c "%a %U %n" /etc/vard/tls /etc/vard/tls/*']);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['600 root /etc/vard/tls/ca.pem', '600 root /etc/vard/tls/host.key', '600 root /etc/vard/tls/host.pem', '700 root /etc/vard/tls'].sort(), h);
  }
});

/**
 * The primary's host, with one interruption: just before it starts sending the backup, strangers
 * try the replica's receiver first — a web server over plain TCP, and the primary's own address
 * without a certificate.
 */
function withIntruders(real: Host, attempts: { plainFromWeb?: number; tlsWithoutCert?: number }): Host {
  return new Proxy(real, {
    get(target, key) {
      if (key === 'run') {
        return async (argv: readonly string[], o?: Parameters<Host['run']>[1]) => {
          if (argv.includes('vard-send')) {
            const to = `${addr('db2')}:4444`;
            const plain = await hostOf('web1').run(['socat', '-u', 'STDIN', `TCP:${to},connect-timeout=2`], { input: 'not a backup\n', allowFail: true, timeoutMs: 10_000 });
            attempts.plainFromWeb = plain.exitCode;
            const tls = await target.run(['socat', '-u', 'STDIN', `OPENSSL:${to},verify=0,connect-timeout=2`], { input: 'not a backup either\n', allowFail: true, timeoutMs: 10_000 });
            attempts.tlsWithoutCert = tls.exitCode;
          }
          return target.run(argv, o);
        };
      }
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

test('a replica rebuild takes the stream from the primary only: strangers are refused, what arrives is verified', async () => {
  assert.equal(await currentPrimary(platform(), hostOf), 'db1');
  await hostOf('db2').run(['sh', '-c', ': > /var/log/vard/rejoin.log']);
  const attempts: { plainFromWeb?: number; tlsWithoutCert?: number } = {};
  const intruded = (n: string) => (n === 'db1' ? withIntruders(hostOf(n), attempts) : hostOf(n));
  const t0 = Date.now();
  const r = await rejoin(platform(), intruded, 'db2', log).catch((e: unknown) => e as Error);
  measured.rejoinMs = Date.now() - t0;
  assert.notEqual(attempts.plainFromWeb, undefined, 'the intruders tried');
  assert.notEqual(attempts.plainFromWeb, 0, "web1's plain connection to the receiver must not get through");
  const recvLog = (await hostOf('db2').readFile('/var/log/vard/rejoin.log'))?.toString('utf8') ?? '';
  assert.match(recvLog, /peer did not return a certificate/, 'the certificate-less connection was refused at the handshake');
  assert.ok(!(r instanceof Error), `the rebuild itself succeeds: ${r instanceof Error ? r.message : ''}`);
  assert.match(r.gtid, /^0-1-\d+$/);
  await waitReplicaHealthy(platform(), hostOf, 'db2', 120_000);
  assert.deepEqual(await siteChecksums(hostOf('db2')), await siteChecksums(hostOf('db1')));
});
