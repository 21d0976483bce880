// The web tier in a real lab: HAProxy + keepalived + nftables + Varnish on two load balancers,
// Apache + PHP-FPM on three web servers. Issue 2, acceptance lines 3, 4, 6, 7, 8, 10.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { applyConfigSet } from '../../src/apply/config-set.ts';
import { isVardError } from '../../src/errors/index.ts';
import { execArgv } from '../../src/host/exec.ts';
import { probeHostKey } from '../../src/host/index.ts';
import { labKill, labRevive } from '../../src/lab/index.ts';
import { hostDir } from '../../src/lab/names.ts';
import { bastionAddress, fingerprintOfPublicKey, proxyArgv } from '../../src/lab/ssh.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { onHostRevived } from '../../src/platform/hooks.ts';
import { LB_DAEMONS } from '../../src/roles/lb/drivers.ts';
import { haproxyCommand } from '../../src/roles/lb/runtime.ts';
import { hammer, httpGet, startPlatform, until, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
/** The web servers of the topology under test, by name. */
const WEBS = () => P.lab.topology.hosts.filter((h) => h.roles.includes('web')).map((h) => h.name).sort();

before(async () => {
  // SSH mode (issue 10): Vard reaches every host only over SSH with pinned host keys.
  P = await startPlatform('tweb1', PRESETS['test-web']!, { transport: 'ssh' });
});
after(async () => {
  await P?.teardown();
});

/** What a host holds that a site could have touched: Vard's file trees, the running config versions, site users. */
async function snapshot(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const h of P.lab.hosts()) {
    const files = await h.run(['find', '/srv/vard', '/etc/vard', '-printf', '%p %l\\n'], { allowFail: true });
    const users = await h.run(['getent', 'passwd']);
    // Version directories other than `current` are kept as rollback targets; what runs is `current`.
    const live = files.stdout.split('\n').filter((l) => !/^\/etc\/vard\/[^/]+\/v-/.test(l));
    out[h.name] = [live.sort().join('\n'), users.stdout.split('\n').filter((l) => l.includes('vard site')).sort().join('\n')].join('\n--\n');
  }
  return out;
}

async function createSite(domain: string, extra: string[] = []) {
  const r = await P.cli(['--json', 'site', 'create', domain, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { domain: string; port: number; unixUser: string; created: boolean };
}

test('a created site is served through the public address by PHP on its own port on every web server, as its own user [S11]', async () => {
  const s = await createSite('alpha.example.com', ['--customer', 'acme']);
  assert.equal(s.created, true);
  const served = new Set<string>();
  for (let i = 0; i < 12; i++) {
    const r = await httpGet(P.vip, 'alpha.example.com', '/', { headers: { Cookie: 'SESSx=1' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-vard-php-user'], s.unixUser);
    assert.match(r.body, /alpha\.example\.com/);
    served.add(String(r.headers['x-served-by']));
  }
  assert.deepEqual([...served].sort(), WEBS());
  // Its own port on every web server, reached from a load balancer's private side.
  const lb1 = P.lab.host('lb1');
  for (const w of P.lab.topology.hosts.filter((h) => h.roles.includes('web'))) {
    const r = await lb1.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: alpha.example.com', `http://${w.privateAddress}:${s.port}/`]);
    assert.equal(r.stdout, '200', `${w.name}:${s.port}`);
    const ps = await P.lab.host(w.name).run(['ps', '-eo', 'user:32,args']);
    assert.match(ps.stdout, new RegExp(`${s.unixUser}\\s+php-fpm: pool alpha-example-com`));
  }
  const list = await P.cli(['--json', 'site', 'list']);
  assert.deepEqual((JSON.parse(list.stdout) as { domain: string }[]).map((x) => x.domain), ['alpha.example.com']);
});

test('creating the same site twice duplicates nothing', async () => {
  const before = await snapshot();
  const again = await createSite('alpha.example.com', ['--customer', 'acme']);
  assert.equal(again.created, false);
  assert.deepEqual(await snapshot(), before);
  const list = JSON.parse((await P.cli(['--json', 'site', 'list'])).stdout) as unknown[];
  assert.equal(list.length, 1);
});

test('anonymous GETs are cached by Varnish; sessions, POST, /user and /admin go straight to the web servers [S8]', async () => {
  await httpGet(P.vip, 'alpha.example.com', '/cached-page');
  const hit = await httpGet(P.vip, 'alpha.example.com', '/cached-page');
  assert.equal(hit.headers['x-cache'], 'HIT');
  assert.ok(Number(hit.headers['x-cache-hits']) >= 1);
  for (const [path, o] of [
    ['/cached-page', { headers: { Cookie: 'SESSabcdef=123' } }],
    ['/cached-page', { method: 'POST' }],
    ['/user/login', {}],
    ['/admin/config', {}],
  ] as const) {
    const r1 = await httpGet(P.vip, 'alpha.example.com', path, o);
    const r2 = await httpGet(P.vip, 'alpha.example.com', path, o);
    for (const r of [r1, r2]) {
      assert.equal(r.status, 200, `${path} ${JSON.stringify(o)}`);
      assert.equal(r.headers['x-cache'], undefined, `${path} ${JSON.stringify(o)} must bypass Varnish`);
      assert.equal(r.headers['cache-control'], 'private, no-cache');
    }
  }
  // HAProxy checks every web server; Varnish reaches them through it (its one backend).
  const stat = await haproxyCommand(P.lab.host('lb1'), ['show stat']);
  for (const w of WEBS()) assert.match(stat, new RegExp(`^be_web_alpha_example_com,${w},.*,UP,`, 'm'));
  const backends = await P.lab.host('lb1').run(['varnishadm', '-n', '/run/varnish', 'backend.list']);
  assert.match(backends.stdout, /\.haproxy\s.*healthy/i, backends.stdout);
});

test('only the public service ports of the load balancers are reachable from the Internet [S10]', async () => {
  assert.equal((await httpGet(P.vip, 'alpha.example.com', '/')).status, 200);
  const lb1 = P.lab.topology.hosts.find((h) => h.name === 'lb1')!;
  const closed: [string, number][] = [
    [P.vip, 6081], // Varnish
    [P.vip, 8404], // HAProxy health
    [lb1.publicAddress!, 80], // the node's own address, not the service address
    [lb1.publicAddress!, 6081],
    ['198.18.0.141'.replace('198.18.0', P.lab.base), 8081], // a web server
  ];
  for (const [addr, port] of closed) {
    const r = await httpGet(addr, 'alpha.example.com', '/', { port, timeoutMs: 800 });
    assert.equal(r.status, 0, `${addr}:${port} must not answer from outside`);
  }
});

test('bad input is refused with a clear error and the running configuration is unchanged', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vard-topology-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const badTopology = join(dir, 'bad.yaml');
  writeFileSync(badTopology, 'hosts:\n  - { name: web1, roles: [web] }\n  - { name: web1, roles: [lb] }\n  - { name: x1, roles: [mainframe] }\n');
  const before = await snapshot();
  const cases: [string[], RegExp, number][] = [
    [['site', 'create', 'not a domain'], /\[domain\]/, 2],
    [['site', 'create', 'UPPER.example.com'], /lower case/, 2],
    [['site', 'create', 'localhost'], /no dot/, 2],
    [['site', 'create', 'alpha.example.com', '--customer', 'other'], /already exists/, 4],
    [['site', 'create', 'beta.example.com', '--drupal', '9'], /\[drupal\]/, 2],
    [['site', 'delete', 'missing.example.com'], /not found/, 3],
    [['lab', 'kill', 'web9'], /web9 is not part of the topology/, 3],
    [['lab', 'exec', 'db7', '--', 'true'], /db7 is not part of the topology/, 3],
    [['lab', 'up', '--topology', badTopology], /^(?=[\s\S]*\[hosts\.1\.name\] duplicate host name "web1")(?=[\s\S]*\[hosts\.2\.roles\.0\])/, 2],
  ];
  for (const [args, re, code] of cases) {
    const r = await P.cli(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, 'no stack trace');
  }
  assert.deepEqual(await snapshot(), before);
});

test('a configuration its daemon rejects never replaces the running one', async () => {
  const lb = P.lab.host('lb1');
  const cur = await lb.readlink('/etc/vard/haproxy/current');
  const bad = { daemon: 'haproxy' as const, files: [{ path: 'haproxy.cfg', content: 'global\nfrontend x\n  bind :80\n  use_backend nowhere\n' }] };
  await assert.rejects(applyConfigSet(lb, bad, LB_DAEMONS.haproxy!), (e) => isVardError(e, 'VARD_ERR_CONFIG_REJECTED') && /haproxy on lb1/.test(e.message));
  assert.equal(await lb.readlink('/etc/vard/haproxy/current'), cur);
  assert.equal(await LB_DAEMONS.haproxy!.running(lb), true);
  assert.deepEqual((await lb.list('/etc/vard/haproxy')).filter((n) => n.endsWith('.staging')), []);
});

test('creating a second site while a client hammers the first fails no request', async () => {
  const load = hammer(P.vip, 'alpha.example.com', { path: '/', headers: { Cookie: 'SESSload=1' }, concurrency: 4 });
  await new Promise((r) => setTimeout(r, 500));
  const s = await createSite('beta.example.com', ['--drupal', '7']);
  await new Promise((r) => setTimeout(r, 500));
  const rep = await load.stop();
  assert.ok(rep.ok > 50, `only ${rep.ok} requests completed`);
  assert.equal(rep.failed, 0, rep.failures.join('; '));
  assert.equal((await httpGet(P.vip, 'beta.example.com', '/')).status, 200);
  assert.equal(s.port, 8082);
});

test('deleting a site removes exactly what it had', async () => {
  const before = await snapshot();
  await createSite('gamma.example.com');
  assert.equal((await httpGet(P.vip, 'gamma.example.com', '/')).status, 200);
  const r = await P.cli(['site', 'delete', 'gamma.example.com']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await httpGet(P.vip, 'gamma.example.com', '/')).status, 404);
  assert.deepEqual(await snapshot(), before);
  assert.equal((await httpGet(P.vip, 'alpha.example.com', '/')).status, 200);
});

test('a web server dies under a steady stream of requests: none fails; revived, it serves again', async () => {
  const load = hammer(P.vip, 'alpha.example.com', { path: '/', headers: { Cookie: 'SESSload=1' }, concurrency: 4 });
  await new Promise((r) => setTimeout(r, 1000));
  await labKill(P.lab, 'web2');
  await new Promise((r) => setTimeout(r, 4000));
  const during = { ...load.report, servedBy: { ...load.report.servedBy } };
  await labRevive(P.lab, 'web2');
  await onHostRevived(P.g, P.lab, 'web2', () => undefined);
  const back = await until('web2 serving again', async () => (await httpGet(P.vip, 'alpha.example.com', '/', { headers: { Cookie: 'SESSx=1' } })).headers['x-served-by'] === 'web2');
  const rep = await load.stop();
  assert.equal(rep.failed, 0, rep.failures.join('; '));
  assert.ok(rep.ok > 100);
  assert.ok((rep.servedBy.web2 ?? 0) > (during.servedBy.web2 ?? 0), 'web2 served after revive');
  process.stderr.write(`  web2 back in rotation ${back} ms after its daemons were up; ${rep.ok} requests, 0 failed\n`);
});

test('two operators creating sites at the same moment: one converges after the other, both sites serve', async () => {
  const [a, b] = await Promise.all([P.cli(['--json', 'site', 'create', 'one.example.com']), P.cli(['--json', 'site', 'create', 'two.example.com'])]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  assert.match(a.stderr + b.stderr, /waiting for another vard \(pid \d+\) to finish converging/);
  for (const d of ['one.example.com', 'two.example.com']) assert.equal((await httpGet(P.vip, d, '/', { headers: { Cookie: 'SESSx=1' } })).status, 200, d);
  const plan = JSON.parse((await P.cli(['--json', 'apply', '--dry-run'])).stdout) as { steps: string[] };
  assert.deepEqual(plan.steps, [], 'converged: nothing left to apply');
});

test('SSH only (issue 10): Vard logged in to every host with its key from the bastion; a changed host key is refused, nothing is run on that host, and pinning it back makes the next apply repair it', async () => {
  assert.equal(P.lab.transport, 'ssh');
  const bastion = bastionAddress(P.lab.base);
  for (const h of P.lab.topology.hosts) {
    const log = readFileSync(join(hostDir(P.lab.name, h.name), 'log', 'sshd.log'), 'utf8');
    assert.match(log, new RegExp(`Accepted publickey for root from ${bastion.replaceAll('.', '\\.')} `), `${h.name}'s sshd saw Vard log in`);
  }
  // A hand edit on web2 that the next apply would correct.
  const web2 = P.lab.console('web2');
  const conf = '/etc/vard/php-fpm/current/php-fpm.conf';
  const original = (await web2.readFile(conf))!.toString('utf8');
  await web2.writeFile(conf, `${original}; edited by hand\n`);
  // web2 is "reinstalled": a new host key, which its sshd re-reads on SIGHUP.
  const spec = P.lab.topology.hosts.find((h) => h.name === 'web2')!;
  const key = join(hostDir(P.lab.name, 'web2'), 'ssh', 'ssh_host_ed25519_key');
  for (const ext of ['', '.pub']) renameSync(`${key}${ext}`, `${key}${ext}.orig`);
  const restore = async (): Promise<void> => {
    for (const ext of ['', '.pub']) renameSync(`${key}${ext}.orig`, `${key}${ext}`);
    await web2.run(['sh', '-c', 'kill -HUP "$(cat /run/sshd.pid)"']);
  };
  try {
    await execArgv('root', ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const fresh = fingerprintOfPublicKey(readFileSync(`${key}.pub`, 'utf8'));
    await web2.run(['sh', '-c', 'kill -HUP "$(cat /run/sshd.pid)"']);
    const offered = async () => (await probeHostKey({ name: 'web2', host: spec.privateAddress, port: 22, proxyArgv: proxyArgv(P.lab.name, spec.privateAddress) }).catch(() => undefined))?.sha256;
    await until('web2 offers its new key', async () => (await offered()) === fresh);
    const accepted = () => readFileSync(join(hostDir(P.lab.name, 'web2'), 'log', 'sshd.log'), 'utf8').split('Accepted publickey').length;
    const before = accepted();
    const r = await P.cli(['apply']);
    assert.notEqual(r.code, 0, 'apply must fail');
    assert.match(r.stderr, /Host key of web2 does not match its pinned fingerprint .* got SHA256:.*nothing was run on it.*\[VARD_ERR_SSH_HOSTKEY_MISMATCH\]/s);
    assert.ok(r.stderr.includes(fresh), 'the error names the key offered');
    assert.equal(accepted(), before, 'no login on web2');
    assert.equal((await web2.readFile(conf))!.toString('utf8'), `${original}; edited by hand\n`, 'nothing done on web2');
  } finally {
    await restore();
  }
  await until('web2 offers its pinned key again', async () => (await offered2()) !== undefined);
  const r = await P.cli(['apply']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal((await web2.readFile(conf))!.toString('utf8'), original, 'the hand edit is repaired');

  async function offered2(): Promise<string | undefined> {
    const k = await probeHostKey({ name: 'web2', host: spec.privateAddress, port: 22, proxyArgv: proxyArgv(P.lab.name, spec.privateAddress) }).catch(() => undefined);
    return k && k.sha256 === fingerprintOfPublicKey(readFileSync(`${key}.pub`, 'utf8')) ? k.sha256 : undefined;
  }
});
