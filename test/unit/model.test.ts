import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVardError } from '../../src/errors/index.ts';
import { addressTopology, newSite, parseTopologyShape, slugForDomain, unixUserForSlug } from '../../src/model/index.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { FIXED_NOW } from '../helpers/model.ts';

test('a malformed domain is refused with every problem named', () => {
  for (const bad of ['', 'localhost', 'Example.com', 'exa mple.com', '-a.com', 'a..com', 'a.123', `${'a'.repeat(64)}.com`]) {
    assert.throws(() => newSite({ domain: bad }, [], FIXED_NOW), (e) => isVardError(e, 'VARD_ERR_SITE_INVALID') && /\[domain\]/.test(e.message), bad);
  }
  assert.throws(
    () => newSite({ domain: 'bad domain', customer: 'Not Valid', drupal: 9 }, [], FIXED_NOW),
    (e) => isVardError(e, 'VARD_ERR_SITE_INVALID') && /\[domain\]/.test(e.message) && /\[customer\]/.test(e.message) && /\[drupal\]/.test(e.message),
  );
});

test('a duplicate domain is refused; ports are unique and reused only after deletion', () => {
  const a = newSite({ domain: 'a.example.com' }, [], FIXED_NOW);
  const b = newSite({ domain: 'b.example.com' }, [a], FIXED_NOW);
  assert.equal(a.port, 8081);
  assert.equal(b.port, 8082);
  assert.throws(() => newSite({ domain: 'a.example.com' }, [a, b], FIXED_NOW), (e) => isVardError(e, 'VARD_ERR_SITE_EXISTS'));
  assert.equal(newSite({ domain: 'c.example.com' }, [b], FIXED_NOW).port, 8081);
});

test('slugs and Unix users stay within their limits and distinct', () => {
  const long1 = `${'x'.repeat(60)}.example.com`;
  const long2 = `${'x'.repeat(60)}.example.org`;
  assert.ok(slugForDomain(long1).length <= 40);
  assert.notEqual(slugForDomain(long1), slugForDomain(long2));
  assert.ok(unixUserForSlug(slugForDomain(long1)).length <= 32);
  assert.equal(slugForDomain('www.example.com'), 'www-example-com');
});

test('an invalid topology file is refused with every problem and its path', () => {
  const text = 'hosts:\n  - name: lb1\n    roles: [lb]\n  - name: lb1\n    roles: [web, web]\n  - name: Web_2\n    roles: [dns]\n';
  assert.throws(
    () => parseTopologyShape(text, 'bad.yaml', ROLE_CATALOG),
    (e) => isVardError(e, 'VARD_ERR_TOPOLOGY_INVALID') && /hosts\.2\.name/.test(e.message) && /hosts\.2\.roles/.test(e.message) && /duplicate host name "lb1"/.test(e.message),
  );
  const dup = 'hosts:\n  - name: lb1\n    roles: [lb]\n  - name: lb1\n    roles: [web, web]\n';
  assert.throws(() => parseTopologyShape(dup, 'dup.yaml', ROLE_CATALOG), (e) => isVardError(e) && /duplicate host name "lb1"/.test(e.message) && /role "web" listed twice/.test(e.message));
  assert.throws(() => parseTopologyShape('hosts: [', 'x', ROLE_CATALOG), (e) => isVardError(e, 'VARD_ERR_TOPOLOGY_INVALID') && /not valid YAML/.test(e.message));
  assert.throws(() => parseTopologyShape('hosts:\n  - name: web1\n    roles: [web]\n', 'x', ROLE_CATALOG), (e) => isVardError(e) && /needs a load balancer/.test(e.message));
});

test('the reference topology is addressed as in the field notes', () => {
  const t = addressTopology(PRESETS.reference!, '198.18.0', ROLE_CATALOG);
  const by = Object.fromEntries(t.hosts.map((h) => [h.name, h]));
  assert.equal(by.lb1?.publicAddress, '198.18.0.2');
  assert.equal(by.lb2?.privateAddress, '198.18.0.131');
  assert.equal(by.web3?.privateAddress, '198.18.0.143');
  assert.equal(by.web1?.publicAddress, undefined);
  assert.equal(t.publicVip, '198.18.0.100');
});
