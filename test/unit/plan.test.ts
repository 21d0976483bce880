import assert from 'node:assert/strict';
import { test } from 'node:test';
import { versionOf } from '../../src/apply/config-set.ts';
import { planPlatform, type DesiredSet, type HostObservation, type Plan } from '../../src/platform/plan.ts';
import { PLAN_ROLES, renderPlatform, rolesOn } from '../../src/platform/reconcile.ts';
import type { Platform } from '../../src/model/index.ts';
import { FPM_SHARDS, fpmDaemon, fpmShardOf } from '../../src/roles/web/render.ts';
import { samplePlatform } from '../helpers/model.ts';

function desiredOf(p: Platform): Map<string, DesiredSet[]> {
  return new Map([...renderPlatform(p)].map(([h, sets]) => [h, sets.map((rs) => ({ role: rs.role.id, daemon: rs.set.daemon, version: versionOf(rs.set) }))]));
}

function observeAs(p: Platform, running: boolean, current: (host: string, daemon: string, desired: string) => string | undefined, slugs = p.sites.map((s) => s.slug)): HostObservation[] {
  const desired = desiredOf(p);
  return p.topology.hosts.map((h) => ({
    host: h.name,
    roles: rolesOn(h).map((r) => r.id),
    sets: (desired.get(h.name) ?? []).map((s) => ({ daemon: s.daemon, current: current(h.name, s.daemon, s.version), running })),
    residue: h.roles.includes('web') ? [{ role: 'web', slugs }] : [],
  }));
}

function plan(p: Platform, observed: HostObservation[], active: Record<string, string | undefined> = {}): Plan {
  return planPlatform({ roles: PLAN_ROLES, desired: desiredOf(p), desiredSlugs: p.sites.map((s) => s.slug), observed, active });
}

const hostOf = (s: { kind: string }) => ('host' in s ? (s as { host: string }).host : '');

test('first bring-up starts every daemon, web servers before load balancers, no drains', () => {
  const p = samplePlatform(1);
  const r = plan(p, observeAs(p, false, () => undefined));
  const applies = r.steps.filter((s) => s.kind === 'apply');
  // Every host's firewall, web and lb sets, then the cluster's: my.cnf and corosync.conf per db
  // host, corosync.conf on the quorum host (the sample platform has no replication secret, so no CIB).
  // Each web server runs FPM_SHARDS PHP-FPM masters and Apache; each files host glusterd.
  assert.equal(applies.length, 11 + 3 * (FPM_SHARDS + 1) + 2 * 3 + 2 * 2 + 1 + 3);
  assert.ok(applies.every((s) => s.kind === 'apply' && s.action === 'start'));
  assert.ok(!r.steps.some((s) => s.kind === 'drain'));
  const firstLb = r.steps.findIndex((s) => s.kind === 'apply' && s.role === 'lb');
  const lastWeb = r.steps.map((s) => s.kind === 'apply' && s.role === 'web').lastIndexOf(true);
  assert.ok(lastWeb < firstLb);
  // Each host's firewall is up before any daemon on it listens.
  assert.ok(r.steps.findIndex((s) => s.kind === 'apply' && s.role !== 'firewall') > r.steps.map((s) => s.kind === 'apply' && s.role === 'firewall').lastIndexOf(true));
  // Every host is prepared, the db and quorum hosts too, and the database tier converges first.
  assert.deepEqual(r.steps.filter((s) => s.kind === 'prepare').map(hostOf).sort(), p.topology.hosts.map((h) => h.name).sort());
  // The database tier converges after its own sets and before anything that uses it.
  const converge = r.steps.findIndex((s) => s.kind === 'converge');
  assert.ok(converge >= 0 && converge < r.steps.findIndex((s) => s.kind === 'apply' && s.role === 'web'));
  assert.ok(converge > r.steps.findIndex((s) => s.kind === 'apply' && s.role === 'db'));
});

test('a converged platform plans nothing (a second run changes nothing)', () => {
  const p = samplePlatform(2);
  assert.equal(plan(p, observeAs(p, true, (_h, _d, v) => v), { lb: 'lb1' }).noop, true);
});

test('a set whose files were changed by hand is planned again', () => {
  const p = samplePlatform(2);
  const r = plan(p, observeAs(p, true, (h, d, v) => (h === 'web2' && d === 'apache2' ? `${v}+modified` : v)), { lb: 'lb1' });
  assert.equal(r.noop, false);
  assert.deepEqual(r.steps.filter((s) => s.kind !== 'prepare' && s.kind !== 'converge').map((s) => `${hostOf(s)}:${s.kind}`), ['web2:drain', 'web2:apply', 'web2:undrain']);
});

test('a new site rolls through the web servers one at a time, drained, then the passive LB before the active one', () => {
  const before = samplePlatform(1);
  const after = samplePlatform(2);
  const old = desiredOf(before);
  const obs = observeAs(after, true, (h, d) => old.get(h)!.find((s) => s.daemon === d)!.version, [after.sites[0]!.slug]);
  const r = plan(after, obs, { lb: 'lb2' });
  const all = r.steps.filter((s) => s.kind !== 'prepare' && s.kind !== 'converge').map((s) => `${hostOf(s)}:${s.kind}${s.kind === 'apply' ? `:${s.daemon}` : ''}`);
  // The web servers' firewalls open the new site's port to the balancers first, all at once.
  assert.deepEqual(all.slice(0, 3), ['web1:apply:nftables', 'web2:apply:nftables', 'web3:apply:nftables']);
  const seq = all.slice(3);
  // Only the PHP-FPM shard the new site's pool lives in changes.
  const fpm = fpmDaemon(fpmShardOf(after.sites[1]!));
  assert.deepEqual(seq.slice(0, 4), ['web1:drain', `web1:apply:${fpm}`, 'web1:apply:apache2', 'web1:undrain']);
  assert.deepEqual(seq.slice(4, 8), ['web2:drain', `web2:apply:${fpm}`, 'web2:apply:apache2', 'web2:undrain']);
  const lbOrder = seq.filter((s) => s.startsWith('lb')).map((s) => s.split(':')[0]);
  assert.equal(lbOrder[0], 'lb1');
  assert.equal(lbOrder[lbOrder.length - 1], 'lb2');
  assert.ok(!seq.some((s) => s.includes('nftables') || s.includes('keepalived')), 'unchanged sets are left alone');
});

test('removing a site stops the routing first, then the web servers, then its files', () => {
  const before = samplePlatform(2);
  const after = samplePlatform(1);
  const old = desiredOf(before);
  const obs = observeAs(after, true, (h, d) => old.get(h)!.find((s) => s.daemon === d)!.version, before.sites.map((s) => s.slug));
  const r = plan(after, obs, { lb: 'lb1' });
  const kinds = r.steps.filter((s) => s.kind !== 'prepare' && s.kind !== 'converge');
  const firstWeb = kinds.findIndex((s) => hostOf(s).startsWith('web'));
  assert.ok(kinds.slice(0, firstWeb).every((s) => hostOf(s).startsWith('lb')));
  const removes = kinds.filter((s) => s.kind === 'remove-site');
  assert.deepEqual(removes.map(hostOf), ['web1', 'web2', 'web3']);
  assert.equal(kinds[kinds.length - 1]!.kind, 'remove-site');
});
