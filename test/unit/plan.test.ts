import assert from 'node:assert/strict';
import { test } from 'node:test';
import { versionOf, type SetStatus } from '../../src/apply/config-set.ts';
import { planPlatform, type HostObservation } from '../../src/platform/plan.ts';
import { renderPlatform } from '../../src/platform/reconcile.ts';
import { samplePlatform } from '../helpers/model.ts';

function observeAs(p: ReturnType<typeof samplePlatform>, running: boolean, current: (host: string, daemon: string, desired: string) => string | undefined): HostObservation[] {
  const desired = renderPlatform(p);
  return p.topology.hosts.map((h) => ({
    host: h.name,
    roles: h.roles,
    sets: (desired.get(h.name) ?? []).map((s): SetStatus => {
      const d = versionOf(s);
      return { daemon: s.daemon, desired: d, current: current(h.name, s.daemon, d), running };
    }),
    siteDirs: h.roles.includes('web') ? p.sites.map((s) => s.slug) : [],
  }));
}

test('first bring-up starts every daemon, web servers before load balancers, no drains', () => {
  const p = samplePlatform(1);
  const plan = planPlatform(renderPlatform(p), p.sites.map((s) => s.slug), observeAs(p, false, () => undefined), undefined);
  const applies = plan.steps.filter((s) => s.kind === 'apply');
  assert.equal(applies.length, 3 * 2 + 2 * 4);
  assert.ok(applies.every((s) => s.kind === 'apply' && s.action === 'start'));
  assert.ok(!plan.steps.some((s) => s.kind === 'drain'));
  const firstLb = plan.steps.findIndex((s) => s.host.startsWith('lb') && s.kind === 'apply');
  const lastWeb = plan.steps.map((s) => s.host.startsWith('web') && s.kind === 'apply').lastIndexOf(true);
  assert.ok(lastWeb < firstLb);
});

test('a converged platform plans nothing (a second run changes nothing)', () => {
  const p = samplePlatform(2);
  const plan = planPlatform(renderPlatform(p), p.sites.map((s) => s.slug), observeAs(p, true, (_h, _d, v) => v), 'lb1');
  assert.equal(plan.noop, true);
});

test('a new site rolls through the web servers one at a time, drained, then the passive LB before the active one', () => {
  const before = samplePlatform(1);
  const after = samplePlatform(2);
  const old = renderPlatform(before);
  const obs = observeAs(after, true, (h, d) => versionOf(old.get(h)!.find((s) => s.daemon === d)!));
  const plan = planPlatform(renderPlatform(after), after.sites.map((s) => s.slug), obs.map((o) => ({ ...o, siteDirs: [after.sites[0]!.slug] })), 'lb2');
  const seq = plan.steps.filter((s) => s.kind !== 'prepare').map((s) => `${s.host}:${s.kind}${s.kind === 'apply' ? `:${s.daemon}` : ''}`);
  assert.deepEqual(seq.slice(0, 4), ['web1:drain', 'web1:apply:php-fpm', 'web1:apply:apache2', 'web1:undrain']);
  assert.deepEqual(seq.slice(4, 8), ['web2:drain', 'web2:apply:php-fpm', 'web2:apply:apache2', 'web2:undrain']);
  const lbOrder = seq.filter((s) => s.startsWith('lb')).map((s) => s.split(':')[0]);
  assert.equal(lbOrder[0], 'lb1');
  assert.equal(lbOrder[lbOrder.length - 1], 'lb2');
  assert.ok(!seq.some((s) => s.includes('nftables') || s.includes('keepalived')), 'unchanged sets are left alone');
});

test('removing a site stops the routing first, then the web servers, then its files', () => {
  const before = samplePlatform(2);
  const after = samplePlatform(1);
  const old = renderPlatform(before);
  const obs = observeAs(before, true, (h, d) => versionOf(old.get(h)!.find((s) => s.daemon === d)!));
  const plan = planPlatform(renderPlatform(after), after.sites.map((s) => s.slug), obs, 'lb1');
  const kinds = plan.steps.filter((s) => s.kind !== 'prepare');
  const firstWeb = kinds.findIndex((s) => s.host.startsWith('web'));
  assert.ok(kinds.slice(0, firstWeb).every((s) => s.host.startsWith('lb')));
  const removes = kinds.filter((s) => s.kind === 'remove-site');
  assert.deepEqual(removes.map((s) => s.host), ['web1', 'web2', 'web3']);
  assert.equal(kinds[kinds.length - 1]!.kind, 'remove-site');
});
