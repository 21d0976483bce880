// The database tier in a real lab: MariaDB primary/replica (GTID, semi-sync AFTER_SYNC) on db1 and
// db2, promoted by Pacemaker with dbq as the third quorum vote. Issue 3, acceptance lines 1-7; issue 8,
// line 3: the tier's configuration as config sets (drift seen and corrected, status).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { currentPrimary, dbAlerts, dbStatus, dbVipHolders, query, siteChecksums, waitReplicaHealthy } from '../../src/roles/db/index.ts';
import { labCut, labKill, labRevive } from '../../src/lab/index.ts';
import { type SiteDatabase } from '../../src/model/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { onHostRevived } from '../../src/platform/hooks.ts';
import { startWriter, watchWritable } from './helpers/db.ts';
import { startPlatform, until, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
const SITE = 'shop.example.com';
const D7 = 'legacy.example.org';
const TABLE = 'acked_writes';
let creds: SiteDatabase;
const measured: Record<string, unknown> = {};

/** Vard's own path to a host: over SSH, this lab being in SSH mode. */
const hostOf = (n: string) => P.lab.host(n);
/** The lab's console on a host, for what the test itself observes (it reaches a cut-off host too). */
const witness = (n: string) => P.lab.console(n);
const platform = () => P.ctx.service.platform();
const log = (m: string) => process.env.VARD_TEST_VERBOSE && process.stderr.write(`  [tdb1] ${m}\n`);

before(async () => {
  const t0 = Date.now();
  // SSH mode (issue 10): Vard reaches every host only over SSH with pinned host keys.
  P = await startPlatform('tdb1', PRESETS['test-db']!, { transport: 'ssh' });
  measured.labUpWithDbMs = Date.now() - t0;
  for (const [d, extra] of [[SITE, []], [D7, ['--drupal', '7']]] as const) {
    const r = await P.cli(['--json', 'site', 'create', d, ...extra]);
    assert.equal(r.code, 0, r.stderr);
  }
  creds = P.ctx.service.credentials(SITE);
  await query(hostOf(await currentPrimary(platform(), hostOf)), `CREATE TABLE ${TABLE} (id INT PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB`, { database: creds.name });
});
after(async () => {
  process.stderr.write(`  [tdb1] measured: ${JSON.stringify(measured)}\n`);
  await P?.teardown();
});

/** /db-check.php answers the balancers only (issue 9): asked from lb1, through the public address. */
async function dbCheck(domain: string): Promise<{ status: number; body: string }> {
  const r = await hostOf('lb1').run(['curl', '-sS', '--max-time', '10', '-H', `Host: ${domain}`, '-w', '\n%{http_code}', `http://${P.vip}/db-check.php`], { allowFail: true });
  const i = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(i + 1)) || 0, body: r.stdout.slice(0, i) };
}

/** Every acknowledged id must be a row on `host`; returns the ids missing. */
async function missingOn(host: string, acked: readonly number[]): Promise<number[]> {
  const rows = (await query(hostOf(host), `SELECT id FROM ${TABLE}`, { database: creds.name })) ?? [];
  const have = new Set(rows.map((r) => Number(r[0])));
  return acked.filter((id) => !have.has(id));
}

async function bothChecksumsEqual(): Promise<void> {
  const primary = await currentPrimary(platform(), hostOf);
  const replica = primary === 'db1' ? 'db2' : 'db1';
  await waitReplicaHealthy(platform(), hostOf, replica, 60_000);
  const a = await siteChecksums(hostOf(primary));
  const b = await siteChecksums(hostOf(replica));
  assert.ok(Object.keys(a).length >= 3, JSON.stringify(a));
  assert.deepEqual(b, a, 'table checksums equal on primary and replica');
}

test('the tier: db1 primary, db2 replica over GTID, semi-sync on, the VIP on the primary; db status says so', async () => {
  const s = await dbStatus(platform(), hostOf);
  assert.equal(s.primary, 'db1');
  assert.deepEqual(s.vipHolders, ['db1']);
  const db1 = s.hosts.find((h) => h.name === 'db1');
  const db2 = s.hosts.find((h) => h.name === 'db2');
  assert.equal(db1?.semiSyncMaster?.status, true, 'Rpl_semi_sync_master_status ON');
  assert.equal(db2?.role, 'replica');
  assert.equal(db2?.replication?.ioRunning, 'Yes');
  assert.equal(db2?.replication?.sqlRunning, 'Yes');
  assert.match(db2?.gtidCurrentPos ?? '', /^0-1-\d+$/);
  assert.equal(s.cluster?.quorate, true);
  assert.deepEqual([...(s.cluster?.online ?? [])].sort(), ['db1', 'db2', 'dbq']);
  assert.deepEqual(dbAlerts(s), []);
  const cli = await P.cli(['--json', 'db', 'status']);
  assert.equal(cli.code, 0, cli.stderr);
  const j = JSON.parse(cli.stdout) as { primary: string; healthy: boolean; hosts: { name: string; gtidBinlogPos: string }[] };
  assert.equal(j.primary, 'db1');
  assert.equal(j.healthy, true);
  const text = await P.cli(['db', 'status']);
  assert.match(text.stdout, /primary db1/);
  assert.match(text.stdout, /semi-sync ON/);
});

test('per-site database and user: own privileges only, secret shown only by `site credentials`, $databases per Drupal major, /db-check.php writes and reads', async () => {
  assert.equal(creds.name, 'site_shop_example_com');
  assert.equal(creds.user, 's_shop_example_com');
  assert.match(creds.password, /^[A-Za-z0-9]{32}$/);
  const show = await P.cli(['--json', 'site', 'show', SITE]);
  const list = await P.cli(['--json', 'site', 'list']);
  assert.ok(!show.stdout.includes(creds.password) && !list.stdout.includes(creds.password), 'no password in site show/list');
  const cred = await P.cli(['site', 'credentials', SITE]);
  assert.equal(cred.code, 0);
  assert.ok(cred.stdout.includes(creds.password));
  const primary = hostOf(await currentPrimary(platform(), hostOf));
  const grants = ((await query(primary, `SHOW GRANTS FOR '${creds.user}'@'${P.lab.base}.128/255.255.255.128'`)) ?? []).map((r) => r[0]).join('\n');
  assert.match(grants, /GRANT ALL PRIVILEGES ON `site_shop_example_com`\.\* TO/);
  assert.doesNotMatch(grants, /ON \*\.\*[^\n]*(SELECT|INSERT|ALL)/, 'no global data privileges');
  // The site's user reaches its own database through the VIP from a web server, and no other.
  const other = P.ctx.service.credentials(D7);
  const web = hostOf('web2');
  const own = await web.run(['mariadb', '-h', creds.host, '-u', creds.user, '-N', '-e', 'SELECT DATABASE()', creds.name], { env: { MYSQL_PWD: creds.password }, allowFail: true });
  assert.equal(own.stdout.trim(), creds.name, own.stderr);
  const foreign = await web.run(['mariadb', '-h', creds.host, '-u', creds.user, '-N', '-e', 'SELECT 1', other.name], { env: { MYSQL_PWD: creds.password }, allowFail: true });
  assert.notEqual(foreign.exitCode, 0);
  assert.match(foreign.stderr, /Access denied/);
  // settings.php: Drupal 10 array syntax with the mysql driver namespace; Drupal 7 array().
  const s10 = (await hostOf('web1').readFile('/srv/vard/sites/shop-example-com/web/sites/default/settings.php'))?.toString('utf8') ?? '';
  assert.match(s10, /\$databases\['default'\]\['default'\] = \[/);
  assert.match(s10, /'namespace' => 'Drupal\\mysql\\Driver\\Database\\mysql'/);
  assert.ok(s10.includes(`'host' => '${creds.host}'`));
  const s7 = (await hostOf('web1').readFile('/srv/vard/sites/legacy-example-org/web/sites/default/settings.php'))?.toString('utf8') ?? '';
  assert.match(s7, /\$databases = array\(\n {2}'default' => array\(/);
  assert.doesNotMatch(s7, /namespace/);
  const mode = await hostOf('web1').run(['stat', '-c', '%a %U %G', '/srv/vard/sites/shop-example-com/web/sites/default/settings.php']);
  assert.equal(mode.stdout.trim(), '640 root s-shop-example-com');
  // Asked by a balancer (it answers no one else), every request writes its web server's row on the primary and reads back.
  const webs = P.lab.topology.hosts.filter((h) => h.roles.includes('web')).map((h) => h.name).sort();
  const t0 = (await query(hostOf('db1'), 'SELECT NOW(6)'))![0]![0]!;
  for (let i = 0; i < 6; i++) {
    for (const d of [SITE, D7]) {
      const r = await dbCheck(d);
      assert.equal(r.status, 200, r.body);
      assert.equal((JSON.parse(r.body) as { ok: boolean }).ok, true, r.body);
    }
  }
  for (const db of [creds.name, P.ctx.service.credentials(D7).name]) {
    const rows = (await query(hostOf('db1'), `SELECT web, at >= '${t0}' FROM vard_db_check ORDER BY web`, { database: db })) ?? [];
    assert.deepEqual(rows, webs.map((w) => [w, '1']), `${db}: one fresh row per web server, on db1`);
  }
});

test('bad input: unsafe names are mapped, long ones bounded; db commands refuse wrong hosts with coded errors', async () => {
  const long = `${'a'.repeat(30)}.${'b'.repeat(30)}.example.com`;
  const r = await P.cli(['--json', 'site', 'create', long]);
  assert.equal(r.code, 0, r.stderr);
  const c = P.ctx.service.credentials(long);
  assert.ok(c.name.length <= 64 && /^[a-z][a-z0-9_]*$/.test(c.name), c.name);
  assert.ok(c.user.length <= 32 && /^[a-z][a-z0-9_]*$/.test(c.user), c.user);
  const bad = await P.cli(['site', 'create', "x'; DROP DATABASE mysql; --.example.com"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /VARD_ERR_SITE_INVALID/);
  const rej = await P.cli(['db', 'rejoin', 'db1']);
  assert.notEqual(rej.code, 0);
  assert.match(rej.stderr, /it is the primary \[VARD_ERR_DB_REJOIN\]/);
  const sw = await P.cli(['db', 'switchover', '--to', 'web1']);
  assert.match(sw.stderr, /VARD_ERR_DB_SWITCHOVER/);
  const del = await P.cli(['--json', 'site', 'delete', long]);
  assert.equal(del.code, 0, del.stderr);
});

test('a stopped replica is reported by db status (exit 13) and as an alert the desk can open an incident from', async () => {
  const replica = hostOf('db2');
  await query(replica, 'STOP SLAVE');
  try {
    const r = await P.cli(['--json', 'db', 'status']);
    assert.equal(r.code, 13);
    const j = JSON.parse(r.stdout) as { healthy: boolean; alerts: { key: string; severity: string }[] };
    assert.equal(j.healthy, false);
    assert.ok(j.alerts.some((a) => a.key === 'db:db2:replication-stopped' && a.severity === 'critical'), JSON.stringify(j.alerts));
    // A lag threshold: with replication stopped and writes going on, the replica falls behind.
    for (let i = 0; i < 3; i++) await dbCheck(SITE);
    const s = await dbStatus(platform(), hostOf);
    assert.ok(dbAlerts(s, { maxLagTransactions: 1 }).some((a) => a.key === 'db:db2:lag'));
  } finally {
    await query(replica, 'START SLAVE');
  }
  await waitReplicaHealthy(platform(), hostOf, 'db2', 30_000);
  assert.deepEqual(dbAlerts(await dbStatus(platform(), hostOf)), []);
});

test('unplanned failover: kill db1 under continuous commits; Pacemaker promotes db2, the VIP moves, every acknowledged write is there', async () => {
  const w = startWriter(P.lab, 'web1', creds, TABLE);
  await until('the writer commits', async () => w.ackCount() > 50, 20_000);
  const k = await P.cli(['lab', 'kill', 'db1']);
  assert.equal(k.code, 0, k.stderr);
  const tKilled = Date.now();
  const atKill = w.ackCount();
  await until('writes resume on the new primary', async () => w.ackCount() > atKill + 50 && w.lastAckAt() > tKilled, 90_000).catch(async (e: unknown) => {
    // What Pacemaker and the surviving server say, before the lab is gone.
    const d = await hostOf('db2').run(['sh', '-c', 'crm_mon -1; mariadb -u root -e "SELECT @@read_only; SHOW SLAVE STATUS\\G"; grep -E "Result of|Timed Out|timed out|not running|error" /var/log/pacemaker/pacemaker.log | grep -v "Attempting to set master" | tail -60'], { allowFail: true });
    const full = (await hostOf('db2').readFile('/var/log/pacemaker/pacemaker.log'))?.toString('utf8') ?? '';
    const keep = `/tmp/vard-db-failover-${Date.now()}.log`;
    writeFileSync(keep, full);
    process.stderr.write(`  [tdb1] failover diagnostics (db2's whole pacemaker.log kept at ${keep}):\n${d.stdout}\n${d.stderr}\n`);
    throw e;
  });
  const rep = await w.stop();
  const primary = await currentPrimary(platform(), hostOf);
  assert.equal(primary, 'db2');
  assert.deepEqual(await dbVipHolders(platform(), hostOf), ['db2']);
  const missing = await missingOn('db2', rep.acked);
  measured.failover = { acked: rep.acked.length, lost: missing.length, outageMs: rep.longestGapMs, errors: rep.errors.length };
  log(`failover: ${JSON.stringify(measured.failover)}; first errors ${rep.errors.slice(0, 3).join(' | ')}`);
  assert.deepEqual(missing, [], 'no acknowledged write lost');
  assert.ok(rep.longestGapMs < 60_000, `outage ${rep.longestGapMs} ms`);

  // db1 comes back (a reboot): it rejoins as a replica of db2, rebuilt if it must be.
  const t0 = Date.now();
  const rv = await P.cli(['lab', 'revive', 'db1']);
  assert.equal(rv.code, 0, rv.stderr);
  measured.rejoinAfterKillMs = Date.now() - t0;
  const s = await dbStatus(platform(), hostOf);
  assert.equal(s.primary, 'db2');
  assert.equal(s.hosts.find((h) => h.name === 'db1')?.role, 'replica');
  await bothChecksumsEqual();
  assert.deepEqual(await missingOn('db1', rep.acked), []);
});

test('planned switchover: zero lost writes, outage measured', async () => {
  // A fresh id range: the writer counts from 1 again, so it writes to a second table.
  await query(hostOf(await currentPrimary(platform(), hostOf)), `CREATE TABLE IF NOT EXISTS sw_writes (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)`, { database: creds.name });
  const w2 = startWriter(P.lab, 'web1', creds, 'sw_writes', 10);
  await until('the writer commits', async () => w2.ackCount() > 50, 20_000);
  const r = await P.cli(['--json', 'db', 'switchover']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { from: string; to: string; durationMs: number };
  assert.deepEqual([j.from, j.to], ['db2', 'db1']);
  const n = w2.ackCount();
  await until('writes resume', async () => w2.ackCount() > n + 50, 30_000);
  const rep = await w2.stop();
  const rows = new Set(((await query(hostOf('db1'), 'SELECT id FROM sw_writes', { database: creds.name })) ?? []).map((x) => Number(x[0])));
  const lost = rep.acked.filter((id) => !rows.has(id));
  measured.switchover = { acked: rep.acked.length, lost: lost.length, outageMs: rep.longestGapMs, pacemakerMs: j.durationMs };
  log(`switchover: ${JSON.stringify(measured.switchover)}`);
  assert.deepEqual(lost, []);
  await bothChecksumsEqual();
});

test('no two primaries: cut db1 (the primary), then revive — never two writable servers; db1 returns read-only as a replica; checksums equal', async () => {
  assert.equal(await currentPrimary(platform(), hostOf), 'db1');
  const watch = watchWritable(P.lab, ['db1', 'db2']);
  await until('the watcher samples both', async () => (watch.samples.db1 ?? 0) > 3 && (watch.samples.db2 ?? 0) > 3);
  const tCut = Date.now();
  await labCut(P.lab, 'db1');
  await until('db2 is promoted', async () => watch.writable().join() === 'db2', 90_000);
  measured.cutPromotionMs = Date.now() - tCut;
  // The cut-off db1 lost quorum: Pacemaker there stopped its database.
  await until('db1 stopped its database', async () => (await query(witness('db1'), 'SELECT 1', { allowFail: true })) === undefined, 30_000);
  const tRevive = Date.now();
  await labRevive(P.lab, 'db1');
  await onHostRevived(P.g, P.lab, 'db1', log);
  measured.cutRejoinMs = Date.now() - tRevive;
  await new Promise((r) => setTimeout(r, 1000));
  await watch.stop();
  assert.deepEqual(watch.overlaps, [], 'never two writable primaries');
  assert.ok((watch.samples.db1 ?? 0) > 20 && (watch.samples.db2 ?? 0) > 20, JSON.stringify(watch.samples));
  const s = await dbStatus(platform(), hostOf);
  assert.equal(s.primary, 'db2');
  const db1 = s.hosts.find((h) => h.name === 'db1');
  assert.equal(db1?.readOnly, true);
  assert.equal(db1?.replication?.ioRunning, 'Yes');
  await bothChecksumsEqual();
  // The kill/revive drills also apply to the quorum host: losing it alone changes nothing.
  await labKill(P.lab, 'dbq');
  const r = await dbCheck(SITE);
  assert.equal(r.status, 200, r.body);
  await labRevive(P.lab, 'dbq');
  await onHostRevived(P.g, P.lab, 'dbq', log);
});

test('drift on a db host: hand-edited my.cnf and corosync.conf are seen by a dry run, corrected by apply (the primary handed over first), then nothing is planned; status shows every cluster daemon running and in sync', async () => {
  assert.equal(await currentPrimary(platform(), hostOf), 'db2');
  const db2 = hostOf('db2');
  for (const f of ['/etc/vard/mariadb/current/my.cnf', '/etc/vard/corosync/current/corosync.conf']) {
    const text = (await db2.readFile(f))?.toString('utf8') ?? '';
    await db2.writeFile(f, `${text}# edited by hand\n`);
  }
  const dry = await P.cli(['--json', 'apply', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  const planned = (JSON.parse(dry.stdout) as { steps: string[] }).steps;
  assert.ok(planned.some((s) => /^db2: mariadb reload v-\w+\+modified → v-\w+$/.test(s)), planned.join('\n'));
  assert.ok(planned.some((s) => /^db2: corosync reload v-\w+\+modified → v-\w+$/.test(s)), planned.join('\n'));
  // db2 is the primary: it is handed over before its server restarts with the restored my.cnf.
  assert.ok(planned.indexOf('db2: hand its db service over to another host') < planned.findIndex((s) => s.startsWith('db2: mariadb')), planned.join('\n'));
  await query(hostOf('db2'), 'CREATE TABLE IF NOT EXISTS drift_writes (id INT PRIMARY KEY, at DATETIME(6) NOT NULL)', { database: creds.name });
  const w = startWriter(P.lab, 'web2', creds, 'drift_writes', 10);
  await until('the writer commits', async () => w.ackCount() > 20, 20_000);
  const t0 = Date.now();
  const ap = await P.cli(['--json', 'apply']);
  measured.driftApplyMs = Date.now() - t0;
  assert.equal(ap.code, 0, ap.stderr);
  const n = w.ackCount();
  await until('writes go on', async () => w.ackCount() > n + 20, 30_000);
  const rep = await w.stop();
  for (const f of ['/etc/vard/mariadb/current/my.cnf', '/etc/vard/corosync/current/corosync.conf']) assert.doesNotMatch((await db2.readFile(f))?.toString('utf8') ?? '', /edited by hand/);
  const again = await P.cli(['--json', 'apply', '--dry-run']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual((JSON.parse(again.stdout) as { steps: string[] }).steps, [], 'a second run plans nothing');

  const st = await P.cli(['--json', 'status']);
  const s = JSON.parse(st.stdout) as { hosts: { name: string; up: boolean; daemons: { daemon: string; running: boolean; inSync: boolean }[] }[] };
  for (const [name, daemons] of [['db1', ['nftables', 'mariadb', 'corosync', 'pacemaker']], ['db2', ['nftables', 'mariadb', 'corosync', 'pacemaker']], ['dbq', ['nftables', 'corosync', 'pacemaker']]] as const) {
    const h = s.hosts.find((x) => x.name === name);
    assert.deepEqual(h?.daemons.map((d) => d.daemon), [...daemons], name);
    assert.ok(h?.daemons.every((d) => d.running && d.inSync), `${name}: ${JSON.stringify(h?.daemons)}`);
  }
  // The tier still works: one primary, the other replicating, nothing acknowledged lost.
  const primary = await currentPrimary(platform(), hostOf);
  assert.equal(primary, 'db1');
  const rows = new Set(((await query(hostOf(primary), 'SELECT id FROM drift_writes', { database: creds.name })) ?? []).map((x) => Number(x[0])));
  const lost = rep.acked.filter((id) => !rows.has(id));
  measured.driftHandover = { acked: rep.acked.length, lost: lost.length, outageMs: rep.longestGapMs };
  assert.deepEqual(lost, []);
  await bothChecksumsEqual();
  await until('no alerts', async () => dbAlerts(await dbStatus(platform(), hostOf)).length === 0, 30_000);
  const r = await dbCheck(SITE);
  assert.equal(r.status, 200, r.body);
});

test('site delete takes a final dump before dropping the database and says where it is', async () => {
  const r = await P.cli(['--json', 'site', 'delete', D7]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { kept?: { kind: string; path: string; bytes: number; takenOn: string }[] };
  const dump = j.kept?.find((k) => k.kind === 'database dump');
  assert.ok(dump && dump.path.endsWith('.sql'), r.stdout);
  assert.ok(dump.bytes > 0 && /^db[12]$/.test(dump.takenOn), r.stdout);
  const { readFileSync, statSync } = await import('node:fs');
  const text = readFileSync(dump.path, 'utf8');
  assert.match(text, /CREATE DATABASE .*`site_legacy_example_org`/);
  assert.match(text, /-- Dump completed/);
  assert.equal(statSync(dump.path).mode & 0o777, 0o600);
  const primary = hostOf(await currentPrimary(platform(), hostOf));
  assert.deepEqual(await query(primary, "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'site_legacy_example_org'"), []);
  const text2 = await P.cli(['site', 'delete', SITE]);
  assert.match(text2.stdout, /kept before deleting: database dump at .*shop\.example\.com-.*\.sql/);
});
