// The role contract as the registry holds it: every role is a folder with its own packages, its
// smallest test topology is valid, unknown roles are refused with their path, old state loads.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { isVardError } from '../../src/errors/index.ts';
import { addressTopology, parseTopologyShape, shapeProblems } from '../../src/model/index.ts';
import { PlatformService } from '../../src/platform/service.ts';
import { PRESETS, ROLE_CATALOG, ROLES } from '../../src/roles/registry.ts';
import { openDb, PlatformStore } from '../../src/store/index.ts';
import { FIXED_NOW } from '../helpers/model.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

test('each role is one folder whose packages.json is the list the module declares', () => {
  assert.equal(new Set(ROLES.map((r) => r.id)).size, ROLES.length, 'role ids are unique');
  for (const r of ROLES) {
    const dir = `${ROOT}src/roles/${r.id}`;
    assert.ok(existsSync(`${dir}/index.ts`), `${dir}/index.ts`);
    assert.deepEqual(JSON.parse(readFileSync(`${dir}/packages.json`, 'utf8')), [...r.packages]);
  }
});

test("each role's smallest test topology and the presets are valid topologies that use the role", () => {
  for (const r of ROLES) {
    assert.deepEqual(shapeProblems(r.testTopology, ROLE_CATALOG), [], r.id);
    assert.ok(r.everyHost || r.testTopology.hosts.some((h) => h.roles.includes(r.id)), `${r.id}'s test topology has a host with the role`);
    // Smaller than the reference platform: only the end-to-end suite boots all of it.
    assert.ok(r.testTopology.hosts.length < PRESETS.reference!.hosts.length, r.id);
  }
  for (const [name, shape] of Object.entries(PRESETS)) assert.deepEqual(shapeProblems(shape, ROLE_CATALOG), [], name);
});

test('a host with a role no module provides is a validation error naming the entry', () => {
  const text = 'hosts:\n  - name: lb1\n    roles: [lb, web]\n  - name: mx1\n    roles: [mail]\n';
  assert.throws(
    () => parseTopologyShape(text, 'x.yaml', ROLE_CATALOG),
    (e) => isVardError(e, 'VARD_ERR_TOPOLOGY_INVALID') && /\[hosts\.1\.roles\.0\] no role module provides "mail"; known roles: /.test(e.message),
  );
});

test('a role every host carries is refused when a topology lists it', () => {
  const text = 'hosts:\n  - name: lb1\n    roles: [lb, web, firewall]\n';
  assert.throws(
    () => parseTopologyShape(text, 'x.yaml', ROLE_CATALOG),
    (e) => isVardError(e, 'VARD_ERR_TOPOLOGY_INVALID') && /\[hosts\.0\.roles\.2\] every host has the role "firewall" already/.test(e.message),
  );
});

test('a stored topology with a role no module provides is refused when the platform is read, never skipped', () => {
  const store = new PlatformStore(openDb(':memory:'));
  const t = addressTopology(PRESETS.single!, '198.18.9', ROLE_CATALOG);
  store.setTopology('t', { ...t, hosts: [...t.hosts, { name: 'mx1', roles: ['mail'], privateAddress: '198.18.9.200' }] }, FIXED_NOW);
  const svc = new PlatformService({ store, hostOf: () => assert.fail('no host is needed'), now: () => FIXED_NOW });
  assert.throws(() => svc.platform(), (e) => isVardError(e, 'VARD_ERR_TOPOLOGY_INVALID') && /\[topology\.hosts\.1\.roles\.0\] no role module provides "mail"/.test(e.message));
});

test('a state file written before role modules (topology.dbVip) keeps working', () => {
  const file = `/tmp/vard-old-state-${process.pid}.db`;
  const t = addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG);
  const { vips, ...rest } = t;
  // The state as the previous release left it: migrations 1 and 2 only, the address under `dbVip`.
  const store0 = new PlatformStore(openDb(file));
  store0.setTopology('old', t, FIXED_NOW);
  const raw = new Database(file);
  raw.prepare("DELETE FROM schema_migrations WHERE domain = 'platform' AND id = 3").run();
  raw.prepare('UPDATE platform SET topology = ?').run(JSON.stringify({ ...rest, dbVip: vips!.db }));
  raw.close();
  const store = new PlatformStore(openDb(file));
  assert.deepEqual(store.platform()?.topology.vips, { db: '198.18.9.170' });
  assert.equal((store.platform()?.topology as unknown as { dbVip?: string }).dbVip, undefined);
  rmSync(file, { force: true });
});
