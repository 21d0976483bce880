// The files tier's pure parts: the rendered glusterd volfile, the volume's options and firewall
// rules, the mount command, the topology rules, and the parsers of the gluster CLI's real answers
// (captured from GlusterFS 10.3 in a lab, test/fixtures/files).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { addressTopology, shapeProblems, type Platform } from '../../src/model/index.ts';
import { parseHealSummary, parsePoolList, parseVolumeInfo, parseVolumeStatus, poolMember } from '../../src/roles/files/parse.ts';
import { brickSpecs, filesAccepts, FILES_PATHS, mountArgv, renderGlusterd, siteDirsToFix, siteFilesLayout, volumeOptions } from '../../src/roles/files/render.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { renderSiteSkeleton } from '../../src/roles/web/site.ts';
import { assertGolden } from '../helpers/golden.ts';
import { samplePlatform } from '../helpers/model.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/files/${name}`, import.meta.url), 'utf8');

test("glusterd's volfile listens on the host's private address and hands out brick ports the firewall opens", () => {
  const p = samplePlatform();
  const files1 = p.topology.hosts.find((h) => h.name === 'files1')!;
  const set = renderGlusterd(p, files1);
  assertGolden('files/glusterd.vol', set.files[0]!.content);
  assert.match(set.files[0]!.content, new RegExp(`bind-address ${files1.privateAddress.replace(/\./g, '\\.')}\\n`));
  const [glusterd, bricks] = filesAccepts(p);
  assert.deepEqual(glusterd!.ports, [24007, 24008]);
  assert.deepEqual(bricks!.ports, [49152, 49153, 49154, 49155, 49156, 49157, 49158, 49159]);
  for (const r of [glusterd!, bricks!]) assert.deepEqual(r.from, ['web', 'files']);
});

test('the volume: three bricks in replica order (the third the arbiter), clients only from the platform, a 5 s ping timeout', () => {
  const p = samplePlatform();
  assert.deepEqual(brickSpecs(p.topology), ['198.18.9.181', '198.18.9.182', '198.18.9.183'].map((a) => `${a}:${FILES_PATHS.brick}`));
  const opts = new Map(volumeOptions(p));
  assert.equal(opts.get('network.ping-timeout'), '5');
  assert.equal(opts.get('auth.allow'), '198.18.9.141,198.18.9.142,198.18.9.143,198.18.9.181,198.18.9.182,198.18.9.183');
});

test('a mount names a files host that answers first and the others as backups', () => {
  const p = samplePlatform();
  assert.deepEqual(mountArgv(p, ['files2', 'filesq']), [
    'mount', '-t', 'glusterfs', '-o', `backup-volfile-servers=198.18.9.183:198.18.9.181,log-file=${FILES_PATHS.mountLog}`, '198.18.9.182:/vard-files', FILES_PATHS.mount,
  ]);
  assert.equal(mountArgv(p, ['files1', 'files2', 'filesq'])[5], '198.18.9.181:/vard-files');
});

test('the files tier takes exactly three hosts, and web servers to serve', () => {
  const shape = (n: number, web = true) => ({
    source: 't',
    hosts: [{ name: 'lb1', roles: ['lb'] }, ...(web ? [{ name: 'web1', roles: ['web'] }] : []), ...Array.from({ length: n }, (_, i) => ({ name: `f${i}`, roles: ['files'] }))],
  });
  assert.deepEqual(shapeProblems(shape(3), ROLE_CATALOG), []);
  assert.deepEqual(shapeProblems(shape(0), ROLE_CATALOG), []);
  assert.match(shapeProblems(shape(2), ROLE_CATALOG).map((x) => x.message).join('\n'), /takes exactly three \(two data copies, the third the arbiter\)/);
  assert.match(shapeProblems(shape(3, false), ROLE_CATALOG).map((x) => x.message).join('\n'), /serves the "web" hosts; there are none/);
  // The test topology is the volume's three hosts, two web servers and a balancer.
  const t = addressTopology(PRESETS['test-files']!, '198.18.0', ROLE_CATALOG);
  assert.deepEqual(t.hosts.filter((h) => h.roles.includes('files')).map((h) => h.privateAddress), ['198.18.0.181', '198.18.0.182', '198.18.0.183']);
});

test("with a files tier a site's upload directories live on the volume; without one, in its tree as before", () => {
  const p = samplePlatform();
  const site = p.sites[0]!;
  assert.deepEqual(siteFilesLayout(p, site), { dir: `${FILES_PATHS.mount}/${site.slug}`, public: `${FILES_PATHS.mount}/${site.slug}/public`, private: `${FILES_PATHS.mount}/${site.slug}/private` });
  const none: Platform = { ...p, topology: addressTopology(PRESETS['test-web']!, '198.18.9', ROLE_CATALOG) };
  assert.equal(siteFilesLayout(none, site), undefined);
  const paths = (shared: boolean) => renderSiteSkeleton(site, undefined, [], shared).map((f) => f.path);
  assert.ok(paths(false).includes('web/sites/default/files/.keep') && paths(false).includes('private/.keep'));
  assert.ok(!paths(true).some((x) => x.startsWith('web/sites/default/files/') || x.startsWith('private/')));
});

test('site directories already owned right are left alone; the rest are (re)made', () => {
  const p = samplePlatform();
  const [a, b] = p.sites;
  const ids = new Map([[a!.unixUser, { uid: '28081', gid: '28081' }], [b!.unixUser, { uid: '28082', gid: '28082' }]]);
  const dir = (s: typeof a) => `${FILES_PATHS.mount}/${s!.slug}`;
  const seen = new Map([
    [dir(a), '0 28081 750'], [`${dir(a)}/public`, '28081 28081 755'], [`${dir(a)}/private`, '28081 28081 700'],
    [dir(b), '0 28082 755'], [`${dir(b)}/public`, '28082 28082 755'], [`${dir(b)}/private`, '28082 28082 700'],
  ]);
  assert.deepEqual(siteDirsToFix(p.sites, ids, seen).map((s) => s.slug), [b!.slug]);
});

test("the gluster CLI's answers: pool, volume info, volume status, heal summary", () => {
  // files2's view: the host that probed it is known by its name, the others by address.
  assert.deepEqual(parsePoolList(fixture('pool-list.txt')).map((m) => [m.hostname, m.connected]), [['files1', true], ['198.18.0.183', true], ['localhost', true]]);
  assert.equal(poolMember(parsePoolList(fixture('pool-list.txt')), { name: 'files1', privateAddress: '198.18.0.181' })?.connected, true);
  const info = parseVolumeInfo(fixture('volume-info.xml'))!;
  assert.equal(info.name, 'vard-files');
  assert.equal(info.started, true);
  assert.deepEqual(info.bricks.map((b) => b.arbiter), [false, false, true]);
  assert.equal(info.options.get('network.ping-timeout'), '5');
  assert.equal(parseVolumeInfo('<cliOutput><opRet>-1</opRet><opErrstr>Volume vard-files does not exist</opErrstr></cliOutput>'), undefined);
  const st = parseVolumeStatus(fixture('volume-status.xml'));
  assert.deepEqual(st.bricks.map((b) => [b.hostname, b.online, b.port]), [['198.18.0.181', true, 49158], ['198.18.0.182', true, 49154], ['198.18.0.183', true, 49155]]);
  assert.equal(st.healDaemons.length, 3);
  const heal = parseHealSummary(fixture('heal-summary.xml'));
  assert.deepEqual(heal.map((h) => [h.brick.split(':')[0], h.status, h.pending, h.splitBrain]), [['198.18.0.181', 'Connected', 0, 0], ['198.18.0.182', 'Connected', 195, 0], ['198.18.0.183', 'Connected', 180, 0]]);
  assert.deepEqual(parseHealSummary('<brick><name>198.18.0.181:/b</name><status>Transport endpoint is not connected</status><totalNumberOfEntries>-</totalNumberOfEntries></brick>'), [
    { brick: '198.18.0.181:/b', status: 'Transport endpoint is not connected', pending: undefined, splitBrain: undefined },
  ]);
});
