// Database tier, pure parts: identifiers, escaping, rendered configs (golden), crm_mon parsing, alerts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativePasswordHash, SITE_DB_MAX_CONNECTIONS, siteDatabaseChanges } from '../../src/roles/db/sites.ts';
import { cibConfigurationDiffers, dbAlerts, mergeCibConfiguration, parseCrmMon, parseXml, scrubCib, serializeXml, siteDatabaseSql, sqlId, sqlString, type DbStatus } from '../../src/roles/db/index.ts';
import { isVardError } from '../../src/errors/index.ts';
import { addressTopology, dbIdentifierProblems, dbNameForSlug, dbUserForSlug, newSite, parseTopologyShape, slugForDomain, type Platform } from '../../src/model/index.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { DB_PATHS, dbVip, privateNetMask, renderCibConfiguration, renderCorosyncConf, renderMyCnf, vardAgentScript } from '../../src/roles/db/render.ts';
import { renderHost } from '../../src/platform/reconcile.ts';
import { samplePlatform } from '../helpers/model.ts';
import { renderSiteSkeleton } from '../../src/roles/web/site.ts';
import { assertGolden } from '../helpers/golden.ts';

const topology = addressTopology(PRESETS.reference!, '198.18.0', ROLE_CATALOG);
const site = newSite({ domain: 'shop.example.com', customer: 'acme' }, [], new Date('2025-01-02T03:04:05Z'));
const db = { name: dbNameForSlug(site.slug), user: dbUserForSlug(site.slug), password: 'Pw0rdPw0rdPw0rdPw0rdPw0rdPw0rd12', host: dbVip(topology)!, port: 3306 };
const P: Platform = { name: 'lab', topology, sites: [site], databases: { [site.slug]: db }, dbSecrets: { replicationPassword: 'ReplReplReplReplReplReplReplRepl' } };

test('the reference topology has the db pair, the quorum host and the database VIP of the field notes', () => {
  const by = Object.fromEntries(topology.hosts.map((h) => [h.name, h]));
  assert.equal(by.db1?.privateAddress, '198.18.0.171');
  assert.equal(by.db2?.privateAddress, '198.18.0.172');
  assert.equal(by.dbq?.privateAddress, '198.18.0.173');
  assert.equal(dbVip(topology), '198.18.0.170');
  assert.equal(dbVip(addressTopology(PRESETS.single!, '198.18.0', ROLE_CATALOG)), undefined);
  assert.equal(privateNetMask(topology), '198.18.0.128/255.255.255.128');
});

test('a db tier needs exactly two db hosts and one quorum host', () => {
  const base = 'hosts:\n  - name: lb1\n    roles: [lb, web]\n';
  assert.throws(() => parseTopologyShape(`${base}  - name: db1\n    roles: [db]\n`, 'x', ROLE_CATALOG), (e) => isVardError(e) && /exactly two/.test(e.message));
  assert.throws(() => parseTopologyShape(`${base}  - name: db1\n    roles: [db]\n  - name: db2\n    roles: [db]\n`, 'x', ROLE_CATALOG), (e) => isVardError(e) && /exactly one host with the role "quorum"/.test(e.message));
  assert.throws(() => parseTopologyShape(`${base}  - name: q\n    roles: [quorum]\n`, 'x', ROLE_CATALOG), (e) => isVardError(e) && /only makes sense/.test(e.message));
  assert.doesNotThrow(() => parseTopologyShape(`${base}  - name: db1\n    roles: [db]\n  - name: db2\n    roles: [db]\n  - name: q\n    roles: [quorum]\n`, 'x', ROLE_CATALOG));
});

test('site names map to safe database identifiers; long ones stay distinct and bounded; unsafe ones are refused', () => {
  assert.equal(dbNameForSlug('www-example-com'), 'site_www_example_com');
  assert.equal(dbUserForSlug('www-example-com'), 's_www_example_com');
  assert.equal(dbNameForSlug('1st-example-com'), 'site_1st_example_com');
  const a = slugForDomain(`${'a'.repeat(30)}.${'b'.repeat(30)}.example.com`);
  const b = slugForDomain(`${'a'.repeat(30)}.${'b'.repeat(31)}.example.com`);
  for (const s of [a, b]) {
    assert.ok(dbNameForSlug(s).length <= 64 && dbIdentifierProblems(dbNameForSlug(s)).length === 0, dbNameForSlug(s));
    assert.ok(dbUserForSlug(s).length <= 32 && dbIdentifierProblems(dbUserForSlug(s), 32).length === 0, dbUserForSlug(s));
  }
  assert.notEqual(dbUserForSlug(a), dbUserForSlug(b));
  for (const bad of ['mysql`; DROP', 'Upper', '', 'x'.repeat(65), "a'b"]) {
    assert.throws(() => sqlId(bad), (e) => isVardError(e, 'VARD_ERR_DB_IDENTIFIER'), bad);
  }
  assert.equal(sqlString("it's a \\ test\n"), "'it\\'s a \\\\ test\\n'");
});

test('the site database statements: own database, own user from the private segment only, privileges on its database only', () => {
  const sql = siteDatabaseSql(P, db);
  assert.match(sql, /CREATE DATABASE IF NOT EXISTS `site_shop_example_com`/);
  assert.match(sql, /CREATE USER IF NOT EXISTS 's_shop_example_com'@'198\.18\.0\.128\/255\.255\.255\.128'/);
  assert.match(sql, /GRANT ALL PRIVILEGES ON `site_shop_example_com`\.\* TO 's_shop_example_com'@/);
  assert.doesNotMatch(sql, /ON \*\.\*/);
});

test('a converge sends only the statements a site needs: none when everything is in place, one site\'s when its password changed', () => {
  // MariaDB's own PASSWORD('password'), the well-known vector.
  assert.equal(nativePasswordHash('password'), '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
  const whole = {
    databases: new Set([db.name]),
    users: new Map([[db.user, { hash: nativePasswordHash(db.password), maxConnections: SITE_DB_MAX_CONNECTIONS }]]),
    grants: new Set([`${db.name}.${db.user}`]),
    checkKeyed: new Set([db.name]),
  };
  assert.equal(siteDatabaseChanges(P, whole), '');
  const empty = { databases: new Set<string>(), users: new Map(), grants: new Set<string>(), checkKeyed: new Set<string>() };
  assert.equal(siteDatabaseChanges(P, empty), siteDatabaseSql(P, db));
  assert.equal(siteDatabaseChanges(P, { ...whole, users: new Map([[db.user, { hash: nativePasswordHash('changed by hand'), maxConnections: SITE_DB_MAX_CONNECTIONS }]]) }), siteDatabaseSql(P, db));
  assert.equal(siteDatabaseChanges(P, { ...whole, users: new Map([[db.user, { hash: nativePasswordHash(db.password), maxConnections: 0 }]]) }), siteDatabaseSql(P, db));
  assert.equal(siteDatabaseChanges(P, { ...whole, checkKeyed: new Set<string>() }), siteDatabaseSql(P, db));
});

test('db configs render as config sets to their golden files: my.cnf, corosync.conf, the CIB (0600) per cluster host; the agent wrapper', () => {
  // The same platform render.test.ts renders (so both write the same bytes), with the cluster secret.
  const sample = { ...samplePlatform(), dbSecrets: { replicationPassword: 'REPLICATION-PASSWORD' } };
  const cluster = sample.topology.hosts.filter((h) => h.roles.includes('db') || h.roles.includes('quorum'));
  for (const h of cluster) {
    const sets = renderHost(sample, h);
    assert.deepEqual(sets.map((rs) => rs.set.daemon), h.roles.includes('db') ? ['nftables', 'mariadb', 'corosync', 'pacemaker'] : ['nftables', 'corosync', 'pacemaker']);
    for (const { set } of sets) for (const f of set.files) assertGolden(`reference/${h.name}/${set.daemon}/${f.path}`, f.content);
    assert.equal(sets.find((rs) => rs.set.daemon === 'pacemaker')?.set.files[0]?.mode, 0o600, 'the CIB carries the replication password');
  }
  assertGolden('reference/db-cluster/ocf-vard-mariadb', vardAgentScript());
  const cib = renderCibConfiguration(P, 'x');
  assert.match(cib, /name="no-quorum-policy" value="stop"/);
  assert.match(cib, /rsc_colocation [^>]*with-rsc-role="Promoted" score="INFINITY"/);
  assert.match(cib, /rsc_location id="db-clone-not-on-dbq" [^>]*score="-INFINITY"/);
  // The daemons read their configuration through `current`, so a swap plus a reload switches them.
  assert.match(cib, /name="config" value="\/etc\/vard\/mariadb\/current\/my\.cnf"/);
  assert.equal(DB_PATHS.corosyncConf, '/etc/vard/corosync/current/corosync.conf');
  // Without the cluster secret (a bare model) there is no CIB to render, and no cluster set needs one but Pacemaker's.
  const bare = samplePlatform();
  assert.deepEqual(renderHost(bare, bare.topology.hosts.find((h) => h.name === 'dbq')!).map((rs) => rs.set.daemon), ['nftables', 'corosync']);
  // The cluster traffic is encrypted with the platform's key, which sits beside corosync.conf, root's only.
  assert.match(renderCorosyncConf(P), /crypto_cipher: aes256\n {2}crypto_hash: sha256\n {2}keyfile: \/etc\/vard\/corosync\/current\/authkey\n/);
  const keyed = { ...sample, dbSecrets: { ...sample.dbSecrets, totemKey: 'k'.repeat(344) } };
  const corosync = renderHost(keyed, keyed.topology.hosts.find((h) => h.name === 'dbq')!).find((rs) => rs.set.daemon === 'corosync')!.set;
  assert.deepEqual(corosync.files.map((f) => [f.path, f.mode]), [['corosync.conf', 0o644], ['authkey', 0o400]]);
  assert.equal(renderMyCnf(P, topology.hosts.find((h) => h.name === 'db1')!), renderMyCnf(P, topology.hosts.find((h) => h.name === 'db1')!));
  assert.ok(renderCorosyncConf(P).includes('ring0_addr: 198.18.0.173'));
});

test('settings.php carries $databases in the format of the Drupal major; no credentials, empty array', () => {
  const d10 = renderSiteSkeleton(site, db).find((f) => f.path.endsWith('settings.php'))?.content ?? '';
  assert.match(d10, /\$databases\['default'\]\['default'\] = \[\n {2}'database' => 'site_shop_example_com',/);
  const d7site = { ...site, drupal: 7 as const };
  const d7 = renderSiteSkeleton(d7site, db).find((f) => f.path.endsWith('settings.php'))?.content ?? '';
  assert.match(d7, /\$databases = array\(\n {2}'default' => array\(\n {4}'default' => array\(/);
  const none = renderSiteSkeleton(site).find((f) => f.path.endsWith('settings.php'))?.content ?? '';
  assert.match(none, /\$databases = \[\];/);
  const quoted = renderSiteSkeleton(site, { ...db, password: "a'b\\c" }).find((f) => f.path.endsWith('settings.php'))?.content ?? '';
  assert.ok(quoted.includes("'password' => 'a\\'b\\\\c',"));
});

test('crm_mon XML: quorum, DC, online nodes, promoted instance, VIP holder', () => {
  const xml = `<pacemaker-result api-version="2.22"><summary><current_dc present="true" version="2.1.5" name="dbq" id="3" with_quorum="true" mixed_version="false"/></summary>
<nodes><node name="db1" id="1" online="true" standby="false"/><node name="db2" id="2" online="false" standby="false"/><node name="dbq" id="3" online="true"/></nodes>
<resources><clone id="db-clone" multi_state="true"><resource id="db" resource_agent="ocf:vard:mariadb" role="Promoted" active="true" nodes_running_on="1"><node name="db1" id="1" cached="true"/></resource>
<resource id="db" resource_agent="ocf:vard:mariadb" role="Stopped" active="false" nodes_running_on="0"/></clone>
<resource id="db-vip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" active="true" nodes_running_on="1"><node name="db1" id="1" cached="true"/></resource></resources>
<failures><failure op_key="db_monitor_1000" node="db2" exitstatus="error" exitreason="MariaDB slave io has failed (1236)" status="complete"/></failures>
<bans><ban id="cli-ban-db-clone-on-db2" resource="db-clone" node="db2" weight="-1000000" promoted-only="false" master_only="false"/><ban id="cli-ban-other-on-db1" resource="other" node="db1" weight="-1000000"/><ban id="db-clone-not-on-dbq" resource="db-clone" node="dbq" weight="-INFINITY"/></bans></pacemaker-result>`;
  const v = parseCrmMon(xml, 'db1');
  assert.equal(v.quorate, true);
  assert.equal(v.dc, 'dbq');
  assert.deepEqual(v.online, ['db1', 'dbq']);
  assert.deepEqual(v.promoted, ['db1']);
  assert.deepEqual(v.vipOn, ['db1']);
  assert.match(v.failures[0] ?? '', /1236/);
  // Only bans of the database clone count; a half-done rejoin leaves one, and it must be seen.
  assert.deepEqual(v.bans, [{ node: 'db2', id: 'cli-ban-db-clone-on-db2' }]);
});

test('alerts: healthy is empty; a stopped or lagging replica, semi-sync off, two writable servers each raise one', () => {
  const host = (name: string, o: Partial<DbStatus['hosts'][number]>) => ({
    name, address: name === 'db1' ? '198.18.0.171' : '198.18.0.172', up: true, running: true, role: 'replica' as const, readOnly: true,
    gtidBinlogPos: '0-1-10', gtidCurrentPos: '0-1-10', gtidSlavePos: '0-1-10', semiSyncMaster: { enabled: true, status: true, clients: 1 }, ...o,
  });
  const repl = { source: 'db1', ioRunning: 'Yes', sqlRunning: 'Yes', secondsBehind: 0, gtidIoPos: '0-1-10', lastError: '', semiSyncSlave: true };
  const healthy: DbStatus = {
    vip: '198.18.0.170', primary: 'db1', vipHolders: ['db1'], writable: ['db1'], cluster: undefined, lagTransactions: { db2: 0 },
    hosts: [host('db1', { role: 'primary', readOnly: false }), host('db2', { replication: repl })],
  };
  assert.deepEqual(dbAlerts(healthy), []);
  const banned = { ...healthy, cluster: { via: 'db1', quorate: true, dc: 'dbq', online: ['db1', 'db2', 'dbq'], promoted: ['db1'], unpromoted: [], vipOn: ['db1'], failures: [], bans: [{ node: 'db2', id: 'cli-ban-db-clone-on-db2' }] } };
  assert.deepEqual(dbAlerts(banned).map((a) => a.key), ['db:db2:banned']);
  assert.match(dbAlerts(banned)[0]!.summary, /vard db rejoin db2/);
  const stopped = { ...healthy, hosts: [healthy.hosts[0]!, host('db2', { replication: { ...repl, sqlRunning: 'No', lastError: 'Duplicate entry' } })] };
  assert.deepEqual(dbAlerts(stopped).map((a) => a.key), ['db:db2:replication-stopped']);
  const lagging = { ...healthy, lagTransactions: { db2: 5000 } };
  assert.deepEqual(dbAlerts(lagging).map((a) => a.key), ['db:db2:lag']);
  assert.deepEqual(dbAlerts({ ...healthy, hosts: [host('db2', { replication: { ...repl, secondsBehind: 45 } }), healthy.hosts[0]!] }, { maxLagSeconds: 30 }).map((a) => a.key), ['db:db2:lag']);
  const async = { ...healthy, hosts: [host('db1', { role: 'primary', readOnly: false, semiSyncMaster: { enabled: true, status: false, clients: 0 } }), healthy.hosts[1]!] };
  assert.deepEqual(dbAlerts(async).map((a) => a.key), ['db:db1:semi-sync-off']);
  const split = { ...healthy, primary: undefined, writable: ['db1', 'db2'] };
  assert.ok(dbAlerts(split).some((a) => a.key === 'db:split-brain' && a.severity === 'critical'));
});

// What `cibadmin --query --scope configuration` printed on a lab node after a `crm_resource --ban`
// (trimmed): Pacemaker's nodes and properties, the agent's replication property, the ban.
function liveCib(desired: string): string {
  return desired
    .replace('</cluster_property_set>', '</cluster_property_set>\n    <cluster_property_set id="cib-bootstrap-options">\n      <nvpair id="cib-bootstrap-options-dc-version" name="dc-version" value="2.1.5-a3f44794f94"/>\n    </cluster_property_set>\n    <cluster_property_set id="mysql_replication">\n      <nvpair id="mysql_replication-db_REPL_INFO" name="db_REPL_INFO" value="db1"/>\n    </cluster_property_set>')
    .replace('<nodes/>', '<nodes>\n    <node id="1" uname="db1"/>\n    <node id="2" uname="db2"/>\n    <node id="3" uname="dbq"/>\n  </nodes>')
    .replace('</constraints>', '  <rsc_location id="cli-ban-db-clone-on-db2" rsc="db-clone" role="Started" node="db2" score="-INFINITY"/>\n</constraints>')
    .replace(/ value="\/usr\/sbin\/mariadbd"/, '  value="/usr/sbin/mariadbd" ');
}

test('CIB reload: an equal live configuration (plus nodes, Pacemaker and agent properties, cli- bans) needs no write', () => {
  const desired = renderCibConfiguration(P, 'pw"<&>');
  const live = liveCib(desired);
  assert.equal(cibConfigurationDiffers(desired, live), false);
  // What a reload writes keeps everything Vard does not own, in place.
  const merged = serializeXml(mergeCibConfiguration(desired, live));
  assert.match(merged, /<node id="2" uname="db2"\/>/);
  assert.match(merged, /id="cib-bootstrap-options"/);
  assert.match(merged, /id="mysql_replication"/);
  assert.match(merged, /<rsc_location id="cli-ban-db-clone-on-db2"/);
  assert.match(merged, /value="pw&quot;&lt;&amp;&gt;"/);
  assert.equal(cibConfigurationDiffers(desired, serializeXml(parseXml(live))), false, 'attribute order and layout do not matter');
});

test('CIB reload: a changed or hand-edited resource, property or constraint of Vard is replaced; an extra one of Vard is removed', () => {
  const desired = renderCibConfiguration(P, 'pw');
  const live = liveCib(desired);
  for (const edited of [
    live.replace('name="resource-stickiness" value="100"', 'name="resource-stickiness" value="0"'),
    live.replace('name="no-quorum-policy" value="stop"', 'name="no-quorum-policy" value="ignore"'),
    live.replace('<rsc_location id="cli-ban', '<rsc_location id="by-hand" rsc="db-vip" node="db2" score="100"/><rsc_location id="cli-ban'),
    live.replace('</crm_config>', '<cluster_property_set id="vard-old"><nvpair id="vard-old-x" name="x" value="y"/></cluster_property_set></crm_config>'),
    live.replace('</configuration>', '<op_defaults><meta_attributes id="od"><nvpair id="od-t" name="timeout" value="1s"/></meta_attributes></op_defaults></configuration>'),
  ]) {
    assert.equal(cibConfigurationDiffers(desired, edited), true, edited);
    const merged = serializeXml(mergeCibConfiguration(desired, edited));
    assert.equal(cibConfigurationDiffers(desired, merged), false, 'after the write, nothing differs');
    assert.doesNotMatch(merged, /by-hand|vard-old|op_defaults|value="ignore"/);
    assert.match(merged, /cli-ban-db-clone-on-db2/);
  }
});

test('CIB XML: comments and declarations are skipped; text, mismatched and stray markup are refused', () => {
  assert.equal(serializeXml(parseXml('<?xml version="1.0"?>\n<!-- c -->\n<a x=\'1\' y="&#65;&#x42;"><b/></a>')), '<a x="1" y="AB"><b/></a>');
  for (const bad of ['<a>text</a>', '<a><b></a>', '<a/><b/>', '<a', '<a x="1" <b/>', '']) assert.throws(() => parseXml(bad), bad);
});

test('Pacemaker tool output is scrubbed of the replication password before it reaches an error', () => {
  const out = scrubCib('  36 <nvpair id="db-params-replication_passwd" name="replication_passwd" value="S3cret"/>\nreplication_passwd=S3cret');
  assert.doesNotMatch(out, /S3cret/);
});
