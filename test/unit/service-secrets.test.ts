import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressTopology, newSite } from '../../src/model/index.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { PlatformService } from '../../src/platform/service.ts';
import { openDb, PlatformStore } from '../../src/store/index.ts';
import { FIXED_NOW } from '../helpers/model.ts';

test('a site recorded before the platform had a database tier gets its database once the tier exists', () => {
  const store = new PlatformStore(openDb(':memory:'));
  const svc = new PlatformService({ store, hostOf: () => assert.fail('no host is needed'), now: () => FIXED_NOW });
  const webOnly = { source: 'test', hosts: PRESETS.reference!.hosts.filter((h) => h.roles.includes('lb') || h.roles.includes('web')) };
  svc.setTopology('t', addressTopology(webOnly, '198.18.9', ROLE_CATALOG));
  store.addSite(newSite({ domain: 'old.example.com' }, [], FIXED_NOW));
  assert.deepEqual(svc.platform().databases ?? {}, {});
  svc.setTopology('t', addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG));
  const db = svc.platform().databases?.['old-example-com'];
  assert.ok(db, 'credentials exist');
  assert.equal(db.name, 'site_old_example_com');
  assert.match(db.password, /^[A-Za-z0-9]{32}$/);
  svc.setTopology('t', addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG));
  assert.equal(svc.platform().databases?.['old-example-com']?.password, db.password, 'the secret is generated once');
});
