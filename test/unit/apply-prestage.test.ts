/**
 * Pre-staging (prestageConfigSet): a rolling change stages and checks every host's new version
 * before the first host leaves rotation. What is under test is Vard's own file handling, so the
 * "daemon" records what it was told, on this machine, under a config root of its own that the
 * test removes; the web tier's integration tests run the same code against Apache and PHP-FPM.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { applyConfigSet, prestageConfigSet, versionOf } from '../../src/apply/config-set.ts';
import type { DaemonDriver } from '../../src/daemon/index.ts';
import { vardError } from '../../src/errors/index.ts';
import { localHost } from '../../src/host/index.ts';
import { configRoot, type ConfigSet } from '../../src/render/index.ts';

const host = localHost('unit');
const DAEMON = `vard-unit-prestage-${process.pid}`;
const root = configRoot(DAEMON);
let loaded: string | undefined;
const checks: string[] = [];
let reject = false;

const driver: DaemonDriver = {
  name: DAEMON,
  prepare: async () => undefined,
  async check(_h, dir) {
    checks.push(dir);
    if (reject) throw vardError('VARD_ERR_CONFIG_REJECTED', [DAEMON, 'unit', 'rejected on purpose']);
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

function setOf(text: string): ConfigSet {
  return { daemon: DAEMON, files: [{ path: 'main.conf', content: `${text}\n` }] };
}

test('prestage stages and checks without touching what runs; the apply then swaps without checking again', async () => {
  const v1 = setOf('one');
  assert.equal(await applyConfigSet(host, v1, driver), 'started');
  const before = { current: await host.readlink(`${root}/current`), loaded };
  const v2 = setOf('two');
  checks.length = 0;
  assert.equal(await prestageConfigSet(host, v2, driver), true);
  assert.deepEqual(checks, [`${root}/${versionOf(v2)}`], 'checked once, on the staged version');
  assert.equal((await host.readFile(`${root}/${versionOf(v2)}/main.conf`))?.toString('utf8'), 'two\n');
  assert.deepEqual({ current: await host.readlink(`${root}/current`), loaded }, before, 'nothing that runs changed');
  assert.equal(await applyConfigSet(host, v2, driver, { prechecked: true }), 'reloaded');
  assert.equal(checks.length, 1, 'the apply trusted the check of the same bytes');
  assert.equal(await host.readlink(`${root}/current`), versionOf(v2));
  // Already current: nothing to stage.
  assert.equal(await prestageConfigSet(host, v2, driver), false);
});

test('a version edited by hand after its pre-check is staged afresh and checked again', async () => {
  const v3 = setOf('three');
  assert.equal(await prestageConfigSet(host, v3, driver), true);
  await host.writeFile(`${root}/${versionOf(v3)}/main.conf`, 'tampered\n');
  checks.length = 0;
  assert.equal(await applyConfigSet(host, v3, driver, { prechecked: true }), 'reloaded');
  assert.equal(checks.length, 1, 'not intact any more: checked again');
  assert.equal((await host.readFile(`${root}/current/main.conf`))?.toString('utf8'), 'three\n');
});

test('a version its daemon rejects fails the pre-stage, is removed, and nothing that runs changed', async () => {
  const before = { current: await host.readlink(`${root}/current`), loaded };
  const bad = setOf('bad');
  reject = true;
  try {
    await assert.rejects(prestageConfigSet(host, bad, driver), /rejected on purpose/);
  } finally {
    reject = false;
  }
  assert.equal(await host.exists(`${root}/${versionOf(bad)}`), false);
  assert.deepEqual({ current: await host.readlink(`${root}/current`), loaded }, before);
});
