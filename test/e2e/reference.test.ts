// The end-to-end suite: the whole reference platform of the source document (two load balancers,
// three web servers, the database pair and its quorum host), driven through the real CLI. The only
// test that boots every role at once; each role's own integration test boots its smallest topology.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/api/index.ts';
import { openDesk, staffActor } from '../../src/desk/index.ts';
import { PRESETS, ROLES } from '../../src/roles/registry.ts';
import { openDb } from '../../src/store/index.ts';
import { httpGet, startPlatform, type TestPlatform } from '../integration/helpers/platform.ts';

let P: TestPlatform;
const D10 = 'www.e2e.example.com';
const D7 = 'legacy.e2e.example.org';

before(async () => {
  P = await startPlatform('te2e', PRESETS.reference!);
});
after(async () => {
  await P?.teardown();
});

interface StatusJson {
  hosts: { name: string; roles: string[]; up: boolean; daemons: { daemon: string; role: string; running: boolean; inSync: boolean }[] }[];
  roles: Record<string, { healthy: boolean; summary: string; alerts: string[] }>;
  activeLb?: string;
  healthy: boolean;
}

async function cliJson<T>(args: string[]): Promise<T> {
  const r = await P.cli(['--json', ...args]);
  assert.equal(r.code, 0, `vard ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

test('every host of every role is converged: all daemons run in sync, each role healthy, and a dry run plans nothing', async () => {
  const s = await cliJson<StatusJson>(['status']);
  assert.deepEqual(s.hosts.map((h) => h.name).sort(), PRESETS.reference!.hosts.map((h) => h.name).sort());
  for (const h of s.hosts) {
    assert.ok(h.up, `${h.name} up`);
    for (const d of h.daemons) assert.ok(d.running && d.inSync, `${h.name} ${d.daemon}: ${JSON.stringify(d)}`);
  }
  // Every role the reference platform uses renders something for its hosts or reports its health.
  for (const r of ROLES) {
    // A role every host carries (the firewall) is in no topology: each host runs its daemons.
    const hosts = r.everyHost ? s.hosts : s.hosts.filter((h) => h.roles.includes(r.id));
    assert.ok(hosts.length > 0, `the reference platform has a host with role ${r.id}`);
    if (r.everyHost) for (const h of hosts) assert.ok(h.daemons.some((d) => d.role === r.id), `${h.name} runs ${r.id}`);
  }
  for (const [id, r] of Object.entries(s.roles)) assert.ok(r.healthy, `${id}: ${r.summary} ${r.alerts.join('; ')}`);
  assert.ok(s.activeLb);
  const plan = await cliJson<{ steps: string[] }>(['apply', '--dry-run']);
  assert.deepEqual(plan.steps, []);
});

test('a Drupal 10 and a Drupal 7 site are served through the public address by every web server and write to the database', async () => {
  await cliJson(['site', 'create', D10, '--customer', 'acme']);
  await cliJson(['site', 'create', D7, '--customer', 'acme', '--drupal', '7']);
  for (const domain of [D10, D7]) {
    const served = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const r = await httpGet(P.vip, domain, '/', { headers: { Cookie: 'SESSe2e=1' } });
      assert.equal(r.status, 200, `${domain}: ${r.status}`);
      served.add(String(r.headers['x-served-by']));
    }
    assert.deepEqual([...served].sort(), ['web1', 'web2', 'web3']);
    // The database check answers a balancer, never the public.
    const db = await P.lab.host('lb1').run(['curl', '-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Host: ${domain}`, `http://${P.vip}/db-check.php`], { allowFail: true });
    assert.equal(db.stdout, '200', db.stderr);
    assert.equal((await httpGet(P.vip, domain, '/db-check.php')).status, 403);
  }
  const plan = await cliJson<{ steps: string[] }>(['apply', '--dry-run']);
  assert.deepEqual(plan.steps, [], 'converged after the creates');
});

test('deleting a site keeps its final dump and leaves the platform converged and healthy', async () => {
  const r = await cliJson<{ kept: { kind: string; path: string; bytes: number }[] }>(['site', 'delete', D7]);
  assert.equal(r.kept.length, 1);
  assert.ok(r.kept[0]!.bytes > 0);
  assert.equal((await httpGet(P.vip, D7, '/')).status, 404);
  assert.equal((await httpGet(P.vip, D10, '/')).status, 200);
  const s = await cliJson<StatusJson>(['status']);
  assert.ok(s.healthy, JSON.stringify(s.roles));
  assert.deepEqual((await cliJson<{ steps: string[] }>(['apply', '--dry-run'])).steps, []);
});

test('the API shows the platform: core status and the database role’s own route, for operator staff', async (t) => {
  const desk = openDesk({ db: openDb(':memory:'), sites: () => P.ctx.service.sites(), scrypt: { logN: 10, r: 8, p: 1 } });
  const root = staffActor('cli:root');
  await desk.people.addUser(root, { email: 'ops@operator.example', role: 'staff' });
  const token = desk.people.createToken(root, 'ops@operator.example').token;
  const app = await buildApp({ desk, platform: () => ({ platform: P.ctx.service.platform(), hostOf: (n) => P.lab.host(n), say: () => undefined }) });
  t.after(() => app.close());
  const get = (url: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
  const status = await get('/v1/status');
  assert.equal(status.statusCode, 200, status.body);
  assert.equal(status.json().healthy, true, status.body);
  const db = await get('/v1/db/status');
  assert.equal(db.statusCode, 200, db.body);
  assert.ok(['db1', 'db2'].includes(db.json().primary), db.body);
  assert.equal(db.json().healthy, true, db.body);
});

test('no secret shows in a process argument, a log or --json output: only `site credentials` prints one', async () => {
  const p = P.ctx.service.platform();
  const secrets = [...Object.values(p.databases ?? {}).map((d) => d.password), p.dbSecrets?.replicationPassword].filter((x): x is string => Boolean(x));
  assert.ok(secrets.length >= 2, 'the platform has database secrets to look for');
  const leaks: string[] = [];
  for (const h of P.lab.hosts()) {
    // Every running process's argv, and every log the host keeps (Vard's, the daemons', Pacemaker's).
    const argv = await h.run(['sh', '-c', 'for f in /proc/[0-9]*/cmdline; do tr "\\0" " " < "$f" 2>/dev/null; echo; done'], { allowFail: true });
    const logs = await h.run(['sh', '-c', 'find /var/log /run/vard -type f -print0 | xargs -0 -r cat 2>/dev/null'], { allowFail: true, timeoutMs: 60_000 });
    for (const s of secrets) {
      if (argv.stdout.includes(s)) leaks.push(`${h.name}: a process argument`);
      if (logs.stdout.includes(s)) leaks.push(`${h.name}: a log file`);
    }
  }
  for (const args of [['status'], ['site', 'list'], ['site', 'show', D10], ['db', 'status'], ['apply', '--dry-run']]) {
    const r = await P.cli(['--json', ...args]);
    for (const s of secrets) if (r.stdout.includes(s) || r.stderr.includes(s)) leaks.push(`vard ${args.join(' ')}`);
  }
  assert.deepEqual([...new Set(leaks)], []);
  const creds = await cliJson<{ password: string }>(['site', 'credentials', D10]);
  assert.ok(secrets.includes(creds.password), 'site credentials is the one place a password is printed');
});
