// Site create and delete hold the convergence lock throughout (issue 9, line 7): another `vard`
// converging never sees a site recorded but not yet applied, nor one half deleted.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { addressTopology, newSite } from '../../src/model/index.ts';
import { PlatformService } from '../../src/platform/service.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { openDb, PlatformStore, withFileLock } from '../../src/store/index.ts';
import { FIXED_NOW } from '../helpers/model.ts';

function setup(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'vard-service-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const store = new PlatformStore(openDb(':memory:'));
  // No host is reachable: converging fails, which a create answers by forgetting the site again.
  const svc = new PlatformService({ store, hostOf: () => { throw new Error('no hosts in this test'); }, now: () => FIXED_NOW, lockPath: join(dir, 'state.db.lock') });
  svc.setTopology('t', addressTopology(PRESETS['test-web']!, '198.18.9', ROLE_CATALOG));
  return { store, svc, lockPath: join(dir, 'state.db.lock') };
}

/** Holds the lock as another `vard` would, until `release()`. */
function holdLock(path: string) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let taken!: () => void;
  const held = new Promise<void>((r) => (taken = r));
  const done = withFileLock(path, async () => {
    taken();
    await gate;
  });
  return { held, release: async () => (release(), await done) };
}

test('site create records nothing while another vard holds the convergence lock', async (t) => {
  const { store, svc, lockPath } = setup(t);
  const other = holdLock(lockPath);
  await other.held;
  const create = svc.createSite({ domain: 'new.example.com' }).then(
    () => 'created',
    (e: Error) => e.message,
  );
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(store.sites().map((s) => s.domain), [], 'not recorded before the lock is taken');
  await other.release();
  assert.match(await create, /no hosts in this test/);
  assert.deepEqual(store.sites(), [], 'the failed create was undone');
});

test('site delete forgets nothing while another vard holds the convergence lock', async (t) => {
  const { store, svc, lockPath } = setup(t);
  store.addSite(newSite({ domain: 'old.example.com' }, [], FIXED_NOW));
  const other = holdLock(lockPath);
  await other.held;
  const del = svc.deleteSite('old.example.com').then(
    () => 'deleted',
    (e: Error) => e.message,
  );
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(store.sites().map((s) => s.domain), ['old.example.com'], 'still recorded while the lock is held elsewhere');
  await other.release();
  assert.match(await del, /no hosts in this test/);
  assert.deepEqual(store.sites(), [], 'forgotten once it had the lock');
});
