// The load-balancer pair [S9]: active/passive with keepalived (VRRP), takeover, no split brain.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { labCut, labKill, labRevive } from '../../src/lab/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { onHostRevived } from '../../src/platform/hooks.ts';
import { httpGet, prober, startPlatform, until, watchAddress, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
const SITE = 'front.example.com';

before(async () => {
  P = await startPlatform('tlbf', PRESETS['test-lb']!);
  const r = await P.cli(['site', 'create', SITE]);
  assert.equal(r.code, 0, r.stderr);
});
after(async () => {
  await P?.teardown();
});

async function activeLb(): Promise<string | undefined> {
  const r = await P.cli(['--json', 'status']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { activeLb?: string }).activeLb;
}

function watch() {
  return watchAddress({ lb1: P.lab.nsName('lb1'), lb2: P.lab.nsName('lb2') }, P.vip);
}

test('vard status names the active load balancer', async () => {
  assert.equal(await activeLb(), 'lb1');
});

test('lb1 killed: lb2 takes the public address and serves; the outage is measured', async () => {
  const w = watch();
  const probe = prober(P.vip, SITE);
  await new Promise((r) => setTimeout(r, 500));
  const killedAt = probe.elapsedMs();
  await labKill(P.lab, 'lb1');
  await until('lb2 to hold the VIP', async () => w.holders().includes('lb2'), 15_000);
  await until('requests to succeed through lb2', async () => (await httpGet(P.vip, SITE, '/')).headers['x-lb-node'] === 'lb2', 15_000);
  await new Promise((r) => setTimeout(r, 1000));
  const rep = await probe.stop();
  w.stop();
  const outage = rep.outages.reduce((a, o) => a + (o.toMs - o.fromMs), 0);
  process.stderr.write(`  lb1 killed at +${killedAt} ms; outage ${outage} ms over ${rep.outages.length} run(s); ${rep.requests} probes, ${rep.failures} failed; ${w.events.join('; ')}\n`);
  assert.equal(await activeLb(), 'lb2');
  assert.ok(rep.lastOk, 'requests succeed after the takeover');
  assert.ok(outage < 10_000, `outage ${outage} ms`);
});

test('lb1 revived: it rejoins as backup; the address is never held twice', async () => {
  const w = watch();
  await labRevive(P.lab, 'lb1');
  await onHostRevived(P.g, P.lab, 'lb1', () => undefined);
  await new Promise((r) => setTimeout(r, 5000));
  w.stop();
  assert.deepEqual(w.overlaps, [], w.events.join('; '));
  assert.deepEqual(w.holders(), ['lb2']);
  assert.equal(await activeLb(), 'lb2');
});

test('the active load balancer is cut off and comes back: never two holders once the link is back', async () => {
  const w = watch();
  const probe = prober(P.vip, SITE);
  await labCut(P.lab, 'lb2');
  await until('lb1 to take over', async () => w.holders().includes('lb1'), 15_000);
  // A node that lost its public link goes to FAULT and gives the address up.
  await until('lb2 to drop the VIP while cut off', async () => !w.holders().includes('lb2'), 10_000);
  const revivedAt = w.elapsedMs();
  await labRevive(P.lab, 'lb2');
  await new Promise((r) => setTimeout(r, 6000));
  const rep = await probe.stop();
  w.stop();
  const afterRevive = w.overlaps.filter((o) => o.atMs >= revivedAt);
  assert.deepEqual(afterRevive, [], w.events.join('; '));
  assert.deepEqual(w.holders(), ['lb1']);
  const outage = rep.outages.reduce((a, o) => a + (o.toMs - o.fromMs), 0);
  process.stderr.write(`  lb2 cut: outage ${outage} ms; ${rep.requests} probes; ${w.events.join('; ')}\n`);
  assert.equal((await P.cli(['--json', 'status'])).code, 0);
  assert.equal(await activeLb(), 'lb1');
});
