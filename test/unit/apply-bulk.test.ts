/**
 * A large config set (more than 16 files: Apache's vhost per site) is staged from a copy of the
 * version the daemon runs, with only the differing files rewritten and what the set no longer holds
 * removed. What is under test is Vard's own file handling, so the "daemon" here is a record of what
 * it was told to load, on this machine, under a config root of its own that the test removes; the
 * real daemons go through the same code in the integration tests and `npm run bench:sites`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, test } from 'node:test';
import { applyConfigSet, setStatus, versionOf } from '../../src/apply/config-set.ts';
import type { DaemonDriver } from '../../src/daemon/index.ts';
import { localHost, treeEntries } from '../../src/host/index.ts';
import { configRoot, type ConfigSet } from '../../src/render/index.ts';

const host = localHost('unit');
const DAEMON = `vard-unit-bulk-${process.pid}`;
const root = configRoot(DAEMON);
let loaded: string | undefined;
/** What the checker saw in each staged directory: every file's path and digest. */
const checked: Map<string, string>[] = [];

const driver: DaemonDriver = {
  name: DAEMON,
  prepare: async () => undefined,
  async check(h, dir) {
    const r = await h.run(['find', dir, '-type', 'f', '-exec', 'sha256sum', '{}', '+']);
    checked.push(new Map(r.stdout.trim().split('\n').map((l) => [l.slice(66 + dir.length + 1), l.slice(0, 64)])));
  },
  running: async () => loaded !== undefined,
  start: async () => void (loaded = 'started'),
  reload: async (_h, dir) => void (loaded = dir),
  ready: async () => undefined,
  stop: async () => void (loaded = undefined),
};

after(async () => {
  await host.remove(root, { recursive: true });
  await host.remove(`/run/vard/${DAEMON}.loaded`);
});

function setOf(n: number, edit: (files: { path: string; content: string; mode?: number }[]) => void = () => undefined): ConfigSet {
  const files = [{ path: 'main.conf', content: 'main\n' }, ...Array.from({ length: n }, (_, i) => ({ path: `sites/s${i}.conf`, content: `site ${i}\n` }))];
  edit(files);
  return { daemon: DAEMON, files };
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function holdsExactly(dir: string, set: ConfigSet): Promise<void> {
  const got = (await treeEntries(host, dir)).filter((e) => e.kind === 'f').map((e) => `${e.path} ${e.mode.toString(8)}`).sort();
  assert.deepEqual(got, set.files.map((f) => `${f.path} ${(f.mode ?? 0o644).toString(8)}`).sort());
  for (const f of set.files) assert.equal((await host.readFile(`${dir}/${f.path}`))?.toString('utf8'), f.content, f.path);
}

test('a large set is staged from the running version: changed files rewritten, removed ones gone, modes kept exact', async () => {
  const first = setOf(40);
  assert.equal(await applyConfigSet(host, first, driver), 'started');
  await holdsExactly(`${root}/current`, first);

  // One site more, one changed, one gone, one with a new mode: what the checker sees is the new set.
  const second = setOf(41, (fs) => {
    fs[3]!.content = 'site 2, changed\n';
    fs.splice(10, 1);
    fs[5]!.mode = 0o640;
  });
  assert.equal(await applyConfigSet(host, second, driver), 'reloaded');
  await holdsExactly(`${root}/${versionOf(second)}`, second);
  const seen = checked[checked.length - 1]!;
  assert.equal(seen.size, second.files.length, 'the checker saw no file of the old set more');
  for (const f of second.files) assert.equal(seen.get(f.path), sha(f.content), f.path);
  assert.equal((await setStatus(host, second, driver)).current, versionOf(second));
});

test('a large version edited by hand is seen as modified and staged afresh, an extra file too', async () => {
  const set = setOf(30);
  await applyConfigSet(host, set, driver);
  const dir = `${root}/${versionOf(set)}`;
  await host.writeFile(`${dir}/sites/s7.conf`, 'hand edit\n');
  assert.equal((await setStatus(host, set, driver)).current, `${versionOf(set)}+modified`);
  await applyConfigSet(host, set, driver);
  await holdsExactly(dir, set);
  assert.equal((await setStatus(host, set, driver)).current, versionOf(set));

  await host.writeFile(`${dir}/sites/intruder.conf`, 'Listen 1\n');
  assert.equal((await setStatus(host, set, driver)).current, `${versionOf(set)}+modified`, 'a file more is not the rendered set');
  await applyConfigSet(host, set, driver);
  await holdsExactly(dir, set);
});
