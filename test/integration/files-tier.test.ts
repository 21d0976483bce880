// The files tier against the real daemons (issue 11, line 1): a GlusterFS volume, replica 3 with an
// arbiter, mounted on every web server. A file uploaded through one web server is served by the
// other at once; files1 powered off during a stream of uploads loses none and stops none; after
// it is back the copies heal and match brick by brick; `vard files status` says so.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { labCut, labKill, labRevive } from '../../src/lab/index.ts';
import { onHostRevived } from '../../src/platform/hooks.ts';
import { FILES_PATHS, type FilesStatus } from '../../src/roles/files/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { httpGet, startPlatform, until, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
const SITE = 'up.example.com';
const OTHER = 'other.example.org';
/** A session cookie sends a request past Varnish, straight to a web server. */
const DIRECT = { Cookie: 'SESSprobe=1' };
const log = (m: string) => process.env.VARD_TEST_VERBOSE && process.stderr.write(`  [tfil] ${m}\n`);
const WEBS = ['web1', 'web2'];

const slugOf = (domain: string) => {
  const s = P.ctx.service.platform().sites.find((x) => x.domain === domain);
  assert.ok(s, domain);
  return s;
};

/** Writes the request body to the site's public files as the site's own PHP (its Unix user), and answers its digest and the web server. */
const UPLOAD_PHP = `<?php
header('Cache-Control: no-store');
$name = preg_replace('/[^a-z0-9.-]/', '', $_GET['name'] ?? '');
$data = file_get_contents('php://input');
if ($name === '' || @file_put_contents(__DIR__ . '/sites/default/files/' . $name, $data) !== strlen($data)) { http_response_code(500); echo "write failed\\n"; exit; }
echo hash('sha256', $data), ' ', gethostname(), "\\n";
`;

function post(domain: string, path: string, body: string, timeoutMs = 30_000): Promise<{ status: number; body: string; by: string }> {
  return new Promise((resolve) => {
    const req = request(
      { host: P.vip, port: 80, path, method: 'POST', headers: { Host: domain, Connection: 'close', 'Content-Length': Buffer.byteLength(body), ...DIRECT }, timeout: timeoutMs, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, by: String(res.headers['x-served-by'] ?? '') }));
        res.on('error', () => resolve({ status: 0, body: '', by: '' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, body: '', by: '' }));
    req.end(body);
  });
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function files(): Promise<FilesStatus & { healthy: boolean; alerts: string[] }> {
  const r = await P.cli(['--json', 'files', 'status']);
  assert.ok(r.code === 0 || r.code === 13, r.stderr);
  return JSON.parse(r.stdout);
}

/** `sha256sum` of every file of the site on a brick (GlusterFS's own .glusterfs tree left out), as `digest path` lines. */
async function brickSums(host: string, slug: string): Promise<string[]> {
  const r = await P.lab.host(host).run(['sh', '-c', 'cd "$1" && find . -path ./.glusterfs -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum', 'sums', `${FILES_PATHS.brick}/${slug}`]);
  return r.stdout.trim().split('\n').filter(Boolean);
}

before(async () => {
  P = await startPlatform('tfil', PRESETS['test-files']!);
  for (const d of [SITE, OTHER]) {
    const r = await P.cli(['--json', 'site', 'create', d]);
    assert.equal(r.code, 0, r.stderr);
  }
  for (const w of WEBS) await P.lab.host(w).writeFile(`/srv/vard/sites/${slugOf(SITE).slug}/web/upload.php`, UPLOAD_PHP, { mode: 0o644 });
});
after(async () => {
  await P?.teardown();
});

test('the volume is up, mounted on both web servers, and each site has its own closed directory on it', async () => {
  const s = await files();
  assert.deepEqual(s.alerts, [], JSON.stringify(s, null, 2));
  assert.equal(s.bricks.filter((b) => b.online).length, 3);
  assert.deepEqual(s.bricks.map((b) => b.arbiter), [false, false, true]);
  const site = slugOf(SITE);
  const other = slugOf(OTHER);
  for (const w of WEBS) {
    const h = P.lab.host(w);
    // Ownership on the volume is by number: a site's ids are the same on every web server, derived from its port.
    for (const x of [site, other]) assert.equal((await h.run(['id', '-u', x.unixUser])).stdout.trim(), String(20_000 + x.port), `${w} ${x.unixUser}`);
    assert.equal(await h.readlink(`/srv/vard/sites/${site.slug}/web/sites/default/files`), `${FILES_PATHS.mount}/${site.slug}/public`, w);
    const ls = await h.run(['stat', '-c', '%n %U %G %a', `${FILES_PATHS.mount}/${site.slug}`, `${FILES_PATHS.mount}/${site.slug}/public`, `${FILES_PATHS.mount}/${site.slug}/private`]);
    assert.deepEqual(ls.stdout.trim().split('\n').map((l) => l.split(' ').slice(1).join(' ')), [`root ${site.unixUser} 750`, `${site.unixUser} ${site.unixUser} 755`, `${site.unixUser} ${site.unixUser} 700`], w);
  }
  // Another site's user reaches nothing of this one's on the volume (issue 9's isolation, one layer down).
  const h = P.lab.host('web1');
  await h.run(['sh', '-c', 'echo private > "$1"; chown "$2:$2" "$1"', 'seed', `${FILES_PATHS.mount}/${site.slug}/private/secret.txt`, site.unixUser]);
  for (const target of [`${FILES_PATHS.mount}/${site.slug}/private/secret.txt`, `${FILES_PATHS.mount}/${site.slug}/public`, FILES_PATHS.mount]) {
    const r = await h.run(['setpriv', `--reuid=${other.unixUser}`, `--regid=${other.unixUser}`, '--init-groups', 'ls', target], { allowFail: true });
    assert.notEqual(r.exitCode, 0, `${other.unixUser} listed ${target}: ${r.stdout}`);
  }
});

test('a file uploaded through one web server is served through the other at once', async () => {
  const body = `hello from the files tier ${Date.now()}\n`;
  let up: { status: number; body: string; by: string } | undefined;
  for (let i = 0; i < 10 && up?.by !== 'web1'; i++) up = await post(SITE, `/upload.php?name=first.txt`, body);
  assert.equal(up?.status, 200, up?.body);
  assert.equal(up?.by, 'web1');
  assert.equal(up?.body.split(' ')[0], sha(body));
  const seen = new Set<string>();
  for (let i = 0; i < 20 && !seen.has('web2'); i++) {
    const r = await httpGet(P.vip, SITE, '/sites/default/files/first.txt', { headers: DIRECT });
    assert.equal(r.status, 200, `try ${i}: ${r.status} from ${String(r.headers['x-served-by'])}`);
    assert.equal(r.body, body);
    seen.add(String(r.headers['x-served-by']));
  }
  assert.ok(seen.has('web2'), `served by ${[...seen].join(', ')}`);
  // PHP in the files directory is never run.
  await post(SITE, '/upload.php?name=x.php', '<?php echo "ran";');
  const php = await httpGet(P.vip, SITE, '/sites/default/files/x.php', { headers: DIRECT });
  assert.ok(!php.body.includes('ran') && php.status === 403, `${php.status} ${php.body}`);
});

interface Stream {
  acked: { name: string; digest: string }[];
  failures: string[];
  readFailures: string[];
  /** Upload latencies from the fault on, in ms. */
  afterFault: number[];
  before: number;
}

/**
 * Two writers upload files of 1-21 kB through the public address without pause (each as the site's
 * PHP, past Varnish) and a reader fetches the newest acknowledged one, for `ms`; `fault` runs after 3 s.
 */
async function uploadStream(prefix: string, ms: number, fault: () => Promise<void>): Promise<Stream> {
  const st: Stream = { acked: [], failures: [], readFailures: [], afterFault: [], before: 0 };
  let running = true;
  let faultAt = 0;
  const t0 = Date.now();
  const writer = async (k: number) => {
    for (let i = 0; running; i++) {
      const name = `${prefix}${k}-${i}.txt`;
      const body = `${name} ${'x'.repeat(1000 + ((i * 7919) % 20_000))}\n`;
      const t = Date.now();
      const r = await post(SITE, `/upload.php?name=${name}`, body);
      if (faultAt && t >= faultAt) st.afterFault.push(Date.now() - t);
      if (r.status === 200 && r.body.startsWith(sha(body))) st.acked.push({ name, digest: sha(body) });
      else st.failures.push(`+${t - t0}ms ${name}: ${r.status} ${r.body.trim().slice(0, 100)}`);
    }
  };
  const writers = [0, 1].map(writer);
  const reader = (async () => {
    while (running) {
      const last = st.acked[st.acked.length - 1];
      if (!last) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const r = await httpGet(P.vip, SITE, `/sites/default/files/${last.name}`, { headers: DIRECT, timeoutMs: 30_000 });
      if (r.status !== 200 || sha(r.body) !== last.digest) st.readFailures.push(`${last.name}: ${r.status}`);
    }
  })();
  await new Promise((r) => setTimeout(r, 3000));
  st.before = st.acked.length;
  faultAt = Date.now();
  await fault();
  await new Promise((r) => setTimeout(r, Math.max(0, ms - 3000)));
  running = false;
  await Promise.all([...writers, reader]);
  return st;
}

/** Every acknowledged upload is there, whole, through both web servers. */
async function noneLost(acked: readonly { name: string; digest: string }[]): Promise<void> {
  const site = slugOf(SITE);
  for (const w of WEBS) {
    const sums = await P.lab.host(w).run(['sh', '-c', 'cd "$1" && shift && sha256sum -- "$@"', 'sums', `${FILES_PATHS.mount}/${site.slug}/public`, ...acked.map((a) => a.name)], { allowFail: true, timeoutMs: 120_000 });
    const got = new Map(sums.stdout.trim().split('\n').map((l) => [l.slice(66), l.slice(0, 64)]));
    const lost = acked.filter((a) => got.get(a.name) !== a.digest);
    assert.deepEqual(lost.map((a) => a.name), [], `${w}: lost or damaged`);
  }
}

/** Back after a fault: the host's daemons and the role's repair, then until nothing waits to be healed; the two data bricks equal byte for byte and the arbiter holding the same names. */
async function reviveAndHeal(host: string, acked: readonly { name: string; digest: string }[]): Promise<{ backMs: number; healMs: number }> {
  const site = slugOf(SITE);
  const t1 = Date.now();
  await labRevive(P.lab, host);
  await onHostRevived(P.g, P.lab, host, log);
  const backMs = Date.now() - t1;
  const healMs = await until('the copies healed', async () => {
    const s = await files();
    return s.bricks.every((b) => b.online && b.healPending === 0);
  }, 300_000);
  const s = await files();
  assert.deepEqual(s.alerts, [], JSON.stringify(s, null, 2));
  const [a, b, q] = await Promise.all(['files1', 'files2', 'filesq'].map((h) => brickSums(h, site.slug)));
  assert.deepEqual(a, b, 'the two data bricks hold the same files, byte for byte');
  assert.ok(acked.every((x) => a!.some((l) => l.endsWith(`/public/${x.name}`) && l.startsWith(x.digest))), `every upload is on both data bricks again`);
  // The arbiter holds the names only (empty files).
  const names = (ls: string[]) => ls.map((l) => l.slice(66)).sort();
  assert.deepEqual(names(q!), names(a!));
  return { backMs, healMs };
}

const report = (what: string, st: Stream) => {
  const worst = Math.max(0, ...st.afterFault);
  process.stderr.write(`  [tfil] ${what}: ${st.acked.length} uploads acknowledged (${st.acked.length - st.before} after the fault), longest upload after the fault ${worst} ms\n`);
};

test('files1 powered off during a stream of uploads: uploads and reads go on, none is lost; after revive the copies heal and match', async () => {
  const st = await uploadStream('k', 15_000, async () => {
    await labKill(P.lab, 'files1');
    log('files1 killed');
  });
  report('files1 killed', st);
  assert.deepEqual(st.failures, []);
  assert.deepEqual(st.readFailures, []);
  assert.ok(st.acked.length - st.before > 20, `uploads went on after the kill: ${st.acked.length - st.before}`);
  const down = await files();
  assert.ok(down.bricks.some((b) => b.host === 'files1' && !b.online), JSON.stringify(down.bricks));
  assert.ok((down.healPending ?? 0) > 0, 'the uploads made while files1 was away wait to be healed');
  await noneLost(st.acked);
  const { backMs, healMs } = await reviveAndHeal('files1', st.acked);
  process.stderr.write(`  [tfil] files1 revived and converged in ${backMs} ms; nothing to heal ${healMs} ms later\n`);
  // The platform's own status carries the files tier's health.
  const all = JSON.parse((await P.cli(['--json', 'status'])).stdout) as { roles: Record<string, { healthy: boolean; summary: string }> };
  assert.equal(all.roles['files']?.healthy, true, JSON.stringify(all.roles['files']));
});

test("files2's cables pulled during uploads (no reset: the clients wait out the ping timeout): none fails or is lost; back, it heals", async () => {
  const st = await uploadStream('c', 20_000, async () => {
    await labCut(P.lab, 'files2');
    log('files2 cut');
  });
  report('files2 cut', st);
  assert.deepEqual(st.failures, []);
  assert.deepEqual(st.readFailures, []);
  assert.ok(st.acked.length - st.before > 20, `uploads went on after the cut: ${st.acked.length - st.before}`);
  await noneLost(st.acked);
  const { backMs, healMs } = await reviveAndHeal('files2', st.acked);
  process.stderr.write(`  [tfil] files2 reconnected in ${backMs} ms; nothing to heal ${healMs} ms later\n`);
});

/** Another site's PHP trying every way it has to reach this site's files on the volume: reads, listings, links published over HTTP. */
function probePhp(targets: Record<string, string>): string {
  return `<?php
header('Cache-Control: no-store');
header('Content-Type: application/json');
$targets = json_decode(${JSON.stringify(JSON.stringify(targets))}, true);
$out = ['read' => [], 'list' => [], 'link' => []];
$files = __DIR__ . '/sites/default/files';
foreach ($targets as $k => $p) {
  $c = @file_get_contents($p); $out['read'][$k] = $c === false ? null : $c;
  $l = @scandir(dirname($p)); $out['list'][$k] = $l === false ? null : $l;
  @unlink("$files/link-$k.txt");
  $out['link'][$k] = @symlink($p, "$files/link-$k.txt");
}
echo json_encode($out), "\\n";
`;
}

test("another site's PHP reaches none of this site's files on the volume: not by path, not by listing, not by links published over HTTP", async () => {
  const site = slugOf(SITE);
  const other = slugOf(OTHER);
  const secret = `S-${Date.now()}`;
  const web1 = P.lab.host('web1');
  for (const [path, mode] of [[`${FILES_PATHS.mount}/${site.slug}/private/secret.txt`, '600'], [`${FILES_PATHS.mount}/${site.slug}/public/public.txt`, '644']] as const) {
    await web1.run(['sh', '-c', 'printf %s "$3" > "$1"; chown "$2:$2" "$1"; chmod "$4" "$1"', 'seed', path, site.unixUser, secret, mode]);
  }
  const targets = {
    private: `${FILES_PATHS.mount}/${site.slug}/private/secret.txt`,
    viaHome: `/srv/vard/sites/${site.slug}/private/secret.txt`,
    public: `${FILES_PATHS.mount}/${site.slug}/public/public.txt`,
    settings: `/srv/vard/sites/${site.slug}/web/sites/default/settings.php`,
  };
  for (const w of WEBS) await P.lab.host(w).writeFile(`/srv/vard/sites/${other.slug}/web/probe.php`, probePhp(targets), { mode: 0o644 });
  const leaks: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 20 && seen.size < WEBS.length; i++) {
    const r = await httpGet(P.vip, OTHER, '/probe.php', { headers: DIRECT, timeoutMs: 10_000 });
    assert.equal(r.status, 200, r.body);
    const by = String(r.headers['x-served-by']);
    seen.add(by);
    const p = JSON.parse(r.body) as { read: Record<string, string | null>; list: Record<string, string[] | null> };
    for (const [k, v] of Object.entries(p.read)) if (v !== null) leaks.push(`${by}: PHP read ${k}`);
    for (const [k, v] of Object.entries(p.list)) if (v !== null) leaks.push(`${by}: PHP listed the directory of ${k}: ${v.join(' ')}`);
  }
  for (const k of Object.keys(targets)) {
    for (let i = 0; i < 4; i++) {
      const r = await httpGet(P.vip, OTHER, `/sites/default/files/link-${k}.txt`, { headers: DIRECT });
      if (r.body.includes(secret) || /\$databases|hash_salt/.test(r.body)) leaks.push(`${String(r.headers['x-served-by'])}: link-${k} served over HTTP`);
    }
  }
  assert.deepEqual(leaks, []);
  // The site's own public file is served, as it should be.
  const own = await httpGet(P.vip, SITE, '/sites/default/files/public.txt', { headers: DIRECT });
  assert.equal(own.body, secret);
});

test('the next apply repairs what a crash or an operator left: a stopped volume, a dead mount', async () => {
  const r = await P.lab.host('files2').run(['gluster', '--mode=script', 'volume', 'stop', 'vard-files'], { allowFail: true, timeoutMs: 120_000 });
  assert.equal(r.exitCode, 0, r.stderr);
  // web2's FUSE client dies (a crash, an OOM kill): its mount answers "Transport endpoint is not connected".
  await P.lab.host('web2').run(['sh', '-c', 'kill -9 $(pidof glusterfs)']);
  assert.notEqual((await P.lab.host('web2').run(['stat', '-t', `${FILES_PATHS.mount}/.`], { allowFail: true })).exitCode, 0);
  const t = Date.now();
  const apply = await P.cli(['apply']);
  assert.equal(apply.code, 0, apply.stderr);
  process.stderr.write(`  [tfil] stopped volume and dead mount repaired by one apply in ${Date.now() - t} ms\n`);
  assert.deepEqual((await files()).alerts, []);
  const body = `after the repair ${Date.now()}\n`;
  const seen = new Set<string>();
  for (let i = 0; i < 20 && seen.size < WEBS.length; i++) {
    const up = await post(SITE, `/upload.php?name=repaired-${i}.txt`, body);
    assert.equal(up.status, 200, up.body);
    seen.add(up.by);
  }
  assert.deepEqual([...seen].sort(), WEBS);
});

test('deleting a site removes its directory from the volume', async () => {
  const other = slugOf(OTHER);
  const r = await P.cli(['--json', 'site', 'delete', OTHER]);
  assert.equal(r.code, 0, r.stderr);
  const ls = await P.lab.host('web1').run(['ls', '-A', FILES_PATHS.mount]);
  assert.ok(!ls.stdout.split('\n').includes(other.slug), ls.stdout);
  for (const h of ['files1', 'files2', 'filesq']) assert.equal(await P.lab.host(h).exists(`${FILES_PATHS.brick}/${other.slug}`), false, h);
});
