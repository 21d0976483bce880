// A hostile tenant on a shared web tier, against the real daemons. Issue 9, lines 5 and 6: sites
// cannot read each other (through PHP, the shell, symbolic links published over HTTP, or as their
// Unix users); one busy site starves neither the web workers nor the database connections of the
// rest; Drupal 7 and 10 see the real client address and believe forwarded headers only from the
// balancers; the health and database-check pages answer only the balancers and the web server
// itself, keep a bounded table and name no internal host.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Site } from '../../src/model/index.ts';
import { currentPrimary, query } from '../../src/roles/db/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { httpGet, startPlatform, until, type HttpResult, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
/** Site A is the attacker. B's slug begins with A's (`a-example-com` / `a-example-community`): a path prefix is not a directory. */
const A = 'a.example.com';
const B = 'a.example.community';
const D7 = 'seven.example.org';
const SECRET = 'B-SECRET-7c1e5a';
/** A session cookie sends a request past Varnish, straight to a web server. */
const DIRECT = { Cookie: 'SESSprobe=1' };

const site = (domain: string): Site => {
  const s = P.ctx.service.platform().sites.find((x) => x.domain === domain);
  assert.ok(s, domain);
  return s;
};
const home = (domain: string) => `/srv/vard/sites/${site(domain).slug}`;
const WEBS = () => P.lab.topology.hosts.filter((h) => h.roles.includes('web')).map((h) => h.name).sort();

before(async () => {
  P = await startPlatform('ttnt', PRESETS['test-db']!);
  for (const [d, extra] of [[A, []], [B, []], [D7, ['--drupal', '7']]] as const) {
    const r = await P.cli(['--json', 'site', 'create', d, ...extra]);
    assert.equal(r.code, 0, r.stderr);
  }
});
after(async () => {
  await P?.teardown();
});

/** Deploys a file into a site's docroot on every web server, as the deploy does: root's, read-only to PHP. */
async function deploy(domain: string, name: string, php: string): Promise<void> {
  for (const w of WEBS()) await P.lab.host(w).writeFile(`${home(domain)}/web/${name}`, php, { mode: 0o644 });
}

/** Requests `path` through the public address until every web server has answered it once; the bodies by web server. */
async function onEveryWeb(domain: string, path: string): Promise<Record<string, HttpResult>> {
  const seen: Record<string, HttpResult> = {};
  for (let i = 0; i < 40 && Object.keys(seen).length < WEBS().length; i++) {
    const r = await httpGet(P.vip, domain, path, { headers: DIRECT, timeoutMs: 10_000 });
    const by = String(r.headers['x-served-by'] ?? '');
    if (by && !seen[by]) seen[by] = r;
  }
  assert.deepEqual(Object.keys(seen).sort(), WEBS(), `${domain}${path} answered by every web server`);
  return seen;
}

/** A request from a load balancer itself, through the public address (what the platform's own checks may do). */
async function fromBalancer(domain: string, path: string): Promise<{ status: number; body: string }> {
  const r = await P.lab.host('lb1').run(['curl', '-sS', '--max-time', '10', '-H', `Host: ${domain}`, '-w', '\n%{http_code}', `http://${P.vip}${path}`], { allowFail: true });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)) || 0, body: r.stdout.slice(0, i) };
}

/** After a flood the balancers may have marked web servers down: wait until every site is routed again. */
async function servedAgain(): Promise<void> {
  for (const d of [A, B, D7]) await until(`${d} served again`, async () => (await httpGet(P.vip, d, '/', { headers: DIRECT })).status === 200, 60_000);
}

const json = <T>(r: HttpResult): T => {
  assert.equal(r.status, 200, r.body);
  return JSON.parse(r.body) as T;
};

/** Site B's PHP leaves secrets where PHP puts them: its private files, its temporary directory and the system's temporary directory. */
const WRITER = `<?php
header('Cache-Control: no-store');
header('Content-Type: application/json');
$home = dirname(__DIR__);
$out = [];
foreach (['private' => $home . '/private/secret-b.txt', 'tmp' => $home . '/tmp/secret-b.txt', 'systmp' => sys_get_temp_dir() . '/secret-b.txt'] as $k => $p) {
  $out[$k] = @file_put_contents($p, '${SECRET}') !== false ? $p : null;
}
echo json_encode($out), "\\n";
`;

/** Site A's PHP trying every way it has to reach B's files: PHP functions, the shell, symbolic links. */
function probePhp(targets: Record<string, string>, bHome: string, aSettings: string): string {
  return `<?php
header('Cache-Control: no-store');
header('Content-Type: application/json');
$targets = json_decode(${JSON.stringify(JSON.stringify(targets))}, true);
$out = ['read' => [], 'shell' => [], 'link' => [], 'list' => null];
foreach ($targets as $k => $p) { $c = @file_get_contents($p); $out['read'][$k] = $c === false ? null : $c; }
$l = @scandir(${JSON.stringify(bHome)});
$out['list'] = $l === false ? null : $l;
$cmd = 'cat ' . escapeshellarg($targets['private']);
$shell = [
  'exec' => function () use ($cmd) { $o = []; exec($cmd, $o); return implode("\\n", $o); },
  'shell_exec' => function () use ($cmd) { return shell_exec($cmd); },
  'system' => function () use ($cmd) { ob_start(); system($cmd); return ob_get_clean(); },
  'passthru' => function () use ($cmd) { ob_start(); passthru($cmd); return ob_get_clean(); },
  'popen' => function () use ($cmd) { $h = popen($cmd, 'r'); $s = stream_get_contents($h); pclose($h); return $s; },
  'proc_open' => function () use ($cmd) { $p = proc_open($cmd, [1 => ['pipe', 'w']], $pipes); $s = stream_get_contents($pipes[1]); proc_close($p); return $s; },
];
foreach ($shell as $k => $f) { try { $out['shell'][$k] = (string) $f(); } catch (Throwable $e) { $out['shell'][$k] = 'refused: ' . get_class($e); } }
$files = __DIR__ . '/sites/default/files';
$links = $targets + ['own-settings' => ${JSON.stringify(aSettings)}];
foreach ($links as $k => $p) {
  @unlink("$files/php-$k.txt"); @unlink("$files/sh-$k.txt");
  $out['link']["php-$k"] = @symlink($p, "$files/php-$k.txt");
  try { $o = []; $rc = 1; exec('ln -s ' . escapeshellarg($p) . ' ' . escapeshellarg("$files/sh-$k.txt") . ' 2>&1', $o, $rc); $out['link']["sh-$k"] = $rc === 0; }
  catch (Throwable $e) { $out['link']["sh-$k"] = false; }
}
echo json_encode($out), "\\n";
`;
}

interface Probe {
  read: Record<string, string | null>;
  shell: Record<string, string>;
  link: Record<string, boolean>;
  list: string[] | null;
}

test("site A's PHP reads none of site B's settings, private or temporary files: not through PHP, not through the shell, not through links published over HTTP", async () => {
  await deploy(B, 'writer.php', WRITER);
  const written = Object.values(await onEveryWeb(B, '/writer.php')).map((r) => json<Record<string, string | null>>(r));
  const w = written[0]!;
  assert.ok(w.private && w.tmp && w.systmp, JSON.stringify(w));
  const targets = { settings: `${home(B)}/web/sites/default/settings.php`, private: w.private, tmp: w.tmp, systmp: w.systmp };
  await deploy(A, 'probe.php', probePhp(targets, home(B), `${home(A)}/web/sites/default/settings.php`));
  const leaks: string[] = [];
  for (const [web, r] of Object.entries(await onEveryWeb(A, '/probe.php'))) {
    const p = json<Probe>(r);
    for (const [k, v] of Object.entries(p.read)) if (v !== null) leaks.push(`${web}: PHP read B's ${k}`);
    if (p.list !== null) leaks.push(`${web}: PHP listed B's home: ${p.list.join(' ')}`);
    for (const [k, v] of Object.entries(p.shell)) if (!v.startsWith('refused')) leaks.push(`${web}: PHP ran a shell command through ${k}${v.includes(SECRET) ? ` and read B's private file` : ''}`);
  }
  // Whatever links PHP managed to make, none of them publishes a file Apache should not serve.
  for (const name of ['settings', 'private', 'tmp', 'systmp', 'own-settings']) {
    for (const how of ['php', 'sh']) {
      for (let i = 0; i < WEBS().length * 2; i++) {
        const r = await httpGet(P.vip, A, `/sites/default/files/${how}-${name}.txt`, { headers: DIRECT });
        // A missing file falls back to the front controller (200): what counts is what the body holds.
        if (r.body.includes(SECRET) || /\$databases|hash_salt/.test(r.body)) leaks.push(`${String(r.headers['x-served-by'])}: link ${how}-${name} served over HTTP: ${r.body.includes(SECRET) ? `B's secret` : 'a settings.php'}`);
      }
    }
  }
  assert.deepEqual(leaks, []);
});

test("site A's Unix user cannot enter site B's home; Apache still serves every site's static files", async () => {
  const a = site(A).unixUser;
  const leaks: string[] = [];
  for (const w of WEBS()) {
    const h = P.lab.host(w);
    for (const path of [home(B), `${home(B)}/web/index.php`, `${home(B)}/private/secret-b.txt`, `${home(B)}/tmp/secret-b.txt`, `${home(B)}/web/sites/default/files/.keep`]) {
      const r = await h.run(['runuser', '-u', a, '--', 'sh', '-c', 'ls -d "$1" && (test -d "$1" && ls "$1" || cat "$1")', 'probe', path], { allowFail: true });
      if (r.exitCode === 0) leaks.push(`${w}: ${a} read ${path}`);
    }
  }
  assert.deepEqual(leaks, []);
  for (const d of [A, B, D7]) for (const r of Object.values(await onEveryWeb(d, '/robots.txt'))) assert.equal(r.status, 200, d);
});

/** What a site's Drupal would take as the client address: Drupal 7's ip_address() and Drupal 10's (Symfony's) getClientIp(), on the site's own settings.php. */
const CLIENT_PHP = `<?php
header('Cache-Control: no-store');
header('Content-Type: application/json');
$databases = array(); $settings = array(); $conf = array();
require __DIR__ . '/sites/default/settings.php';
$remote = $_SERVER['REMOTE_ADDR'];
$xff = $_SERVER['HTTP_X_FORWARDED_FOR'] ?? '';
if (isset($conf['reverse_proxy'])) {
  // Drupal 7, includes/bootstrap.inc ip_address().
  $ip = $remote;
  if ($conf['reverse_proxy'] && $xff !== '') {
    $forwarded = array_map('trim', explode(',', $xff));
    $forwarded[] = $remote;
    $untrusted = array_diff($forwarded, $conf['reverse_proxy_addresses'] ?? array());
    $ip = $untrusted ? array_pop($untrusted) : array_shift($forwarded);
  }
} else {
  // Drupal 10: ReverseProxyMiddleware trusts reverse_proxy_addresses; Symfony's Request::getClientIps().
  $ip = $remote;
  $trusted = !empty($settings['reverse_proxy']) ? ($settings['reverse_proxy_addresses'] ?? []) : [];
  if (in_array($remote, $trusted, true) && $xff !== '') {
    $ips = array_map('trim', explode(',', $xff));
    $ips[] = $remote;
    $ips = array_values(array_filter($ips, fn ($x) => !in_array($x, $trusted, true)));
    $ip = $ips ? end($ips) : $remote;
  }
}
echo json_encode(['remote' => $remote, 'drupal' => $ip]), "\\n";
`;

test('Drupal 7 and 10 see the real client address; an X-Forwarded-For sent from outside is not believed', async () => {
  const client = `${P.lab.base}.1`;
  const wrong: string[] = [];
  for (const d of [A, D7]) {
    await deploy(d, 'client.php', CLIENT_PHP);
    for (const [how, headers] of [['direct', DIRECT], ['through Varnish', {}]] as const) {
      for (const spoof of [undefined, '203.0.113.66', `${P.lab.base}.130, 127.0.0.1`]) {
        const r = await httpGet(P.vip, d, '/client.php', { headers: { ...headers, ...(spoof ? { 'X-Forwarded-For': spoof } : {}) } });
        const j = json<{ remote: string; drupal: string }>(r);
        const label = `${d} ${how}${spoof ? ` with X-Forwarded-For: ${spoof}` : ''}`;
        if (j.remote !== client) wrong.push(`${label}: REMOTE_ADDR ${j.remote}`);
        if (j.drupal !== client) wrong.push(`${label}: Drupal's client ${j.drupal}`);
      }
    }
  }
  assert.deepEqual(wrong, [], `the client is ${client}`);
});

test("a busy site cannot take every web worker: B answers while A's slow pages flood both web servers", async () => {
  await deploy(A, 'slow.php', "<?php\nheader('Cache-Control: no-store');\nsleep(6);\necho \"slow\\n\";\n");
  const flood = Array.from({ length: 260 }, () => httpGet(P.vip, A, '/slow.php', { headers: DIRECT, timeoutMs: 40_000 }));
  // B is asked all through the first wave of A's flood, while A's requests hold what they can.
  const times: number[] = [];
  for (const t0 = Date.now(); Date.now() - t0 < 8000; ) {
    const t = Date.now();
    const r = await httpGet(P.vip, B, '/', { headers: DIRECT, timeoutMs: 3000 });
    times.push(r.status === 200 ? Date.now() - t : -r.status || -1);
    await new Promise((res) => setTimeout(res, 200));
  }
  const done = await Promise.all(flood);
  const byStatus: Record<number, number> = {};
  for (const r of done) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
  process.stderr.write(`  [ttnt] B during A's flood: ${times.join(', ')} ms; A's flood: ${JSON.stringify(byStatus)}\n`);
  assert.ok(times.every((t) => t >= 0 && t < 3000), `B's answers (ms; negative: the status, or -1 for none in 3 s): ${times.join(', ')}`);
  assert.ok((byStatus[200] ?? 0) > 0, 'A is still served, within its share');
});

test("a busy site cannot take every database connection: A's user is limited, B still connects", async () => {
  await servedAgain();
  const flood = `<?php
header('Cache-Control: no-store');
header('Content-Type: application/json');
$databases = array(); $settings = array(); $conf = array();
require __DIR__ . '/sites/default/settings.php';
$d = $databases['default']['default'];
$held = []; $error = null;
for ($i = 0; $i < 80; $i++) {
  try { $held[] = new PDO('mysql:host=' . $d['host'] . ';port=' . $d['port'] . ';dbname=' . $d['database'], $d['username'], $d['password'], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]); }
  catch (Throwable $e) { $error = $e->getMessage(); break; }
}
if (isset($_GET['hold'])) sleep((int) $_GET['hold']);
echo json_encode(['opened' => count($held), 'error' => $error]), "\\n";
`;
  await deploy(A, 'dbflood.php', flood);
  await deploy(B, 'dbflood.php', flood.replace('$i < 80', '$i < 1'));
  const hog = httpGet(P.vip, A, '/dbflood.php?hold=3', { headers: DIRECT, timeoutMs: 20_000 });
  await new Promise((r) => setTimeout(r, 1500));
  const b = json<{ opened: number; error: string | null }>(await httpGet(P.vip, B, '/dbflood.php', { headers: DIRECT, timeoutMs: 10_000 }));
  const a = json<{ opened: number; error: string | null }>(await hog);
  assert.ok(a.opened < 80, `site A opened ${a.opened} connections at once`);
  assert.match(a.error ?? '', /max_user_connections/);
  assert.deepEqual(b, { opened: 1, error: null });
});

test('health and database-check pages answer only the balancers and the web server itself, never the public, however it dresses up', async () => {
  await servedAgain();
  const refused: string[] = [];
  for (const path of ['/health.txt', '/db-check.php', '//db-check.php', '/db-check.php/x', '/%68ealth.txt']) {
    const dressed: Record<string, string>[] = [{}, DIRECT, { 'X-Forwarded-For': `${P.lab.base}.130` }, { 'X-Forwarded-For': '127.0.0.1' }, { 'X-Real-IP': '127.0.0.1' }];
    for (const headers of dressed) {
      const r = await httpGet(P.vip, A, path, { headers, timeoutMs: 10_000 });
      if (r.status === 200) refused.push(`${path} ${JSON.stringify(headers)} answered 200: ${r.body.trim().slice(0, 120)}`);
    }
  }
  assert.deepEqual(refused, []);
  for (const path of ['/health.txt', '/db-check.php']) assert.equal((await fromBalancer(A, path)).status, 200, path);
  // The web server checks itself on its own address (what `vard apply` verifies).
  const web1 = P.lab.topology.hosts.find((h) => h.name === 'web1')!;
  const self = await P.lab.host('web1').run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${A}`, `http://${web1.privateAddress}:${site(A).port}/health.txt`]);
  assert.equal(self.stdout, '200');
});

test('the database check keeps one row per web server and names no internal host or address', async () => {
  const names = P.lab.topology.hosts.map((h) => h.name);
  for (let i = 0; i < 12; i++) {
    const r = await fromBalancer(A, '/db-check.php');
    assert.equal(r.status, 200, r.body);
    assert.equal((JSON.parse(r.body) as { ok: boolean }).ok, true, r.body);
    for (const n of names) assert.ok(!new RegExp(`\\b${n}\\b`).test(r.body), `names ${n}: ${r.body}`);
    assert.ok(!r.body.includes(P.lab.base), `an internal address: ${r.body}`);
  }
  const hostOf = (n: string) => P.lab.host(n);
  const primary = hostOf(await currentPrimary(P.ctx.service.platform(), hostOf));
  const db = P.ctx.service.credentials(A);
  const rows = (await query(primary, 'SELECT web FROM vard_db_check ORDER BY web', { database: db.name })) ?? [];
  assert.deepEqual(rows.map((r) => r[0]), WEBS(), 'one row per web server that answered');
});
