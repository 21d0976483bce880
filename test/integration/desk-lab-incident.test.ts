// Issue 4, line 5, in a real lab: a site goes down (its PHP-FPM stopped on every web server),
// the incident monitor probing the public address opens an incident with the [S3] deadline and
// notifies on-call by webhook; the site comes back and the incident is resolved with its downtime.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { businessCalendar, systemClock } from '../../src/calendar/index.ts';
import { PHP_FPM_DAEMONS } from '../../src/roles/web/drivers.ts';
import { httpSiteProbe, incidentResponseDeadline, openDesk, staffActor, webhookNotifier } from '../../src/desk/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { openDb, PlatformStore } from '../../src/store/index.ts';
import { startPlatform, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
const SITE = 'shop.acme.example';

before(async () => {
  P = await startPlatform('tinc', PRESETS['test-web']!);
  await P.ctx.service.createSite({ domain: SITE, customer: 'acme' });
});
after(async () => {
  await P?.teardown();
});

test('a site down in the lab opens an incident with its deadline and resolves with the measured downtime', async (t) => {
  const hooks: { kind: string }[] = [];
  const hook = createServer((req: IncomingMessage, res) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c));
    req.on('end', () => {
      hooks.push(JSON.parse(b) as { kind: string });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => hook.close(() => r())));

  const db = openDb(P.g.state);
  t.after(() => db.close());
  const platform = new PlatformStore(db);
  const calendar = businessCalendar();
  const desk = openDesk({ db, clock: systemClock, calendar, sites: () => platform.sites() });
  desk.addCustomer(staffActor('test'), { slug: 'acme', contractStart: '2026-01-01' });
  const monitor = desk.monitor({ threshold: 3, notifiers: [webhookNotifier(`http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`)] });
  // A dynamic page: Varnish never answers it from cache, so a dead PHP shows.
  const probe = httpSiteProbe({ address: P.vip, domain: SITE, path: '/user/login', timeoutMs: 2000 });
  const round = async () => monitor.record(await probe());

  assert.deepEqual(await round(), {});
  const webs = P.lab.hosts().filter((h) => h.name.startsWith('web'));
  const downAt = Date.now();
  // Every PHP-FPM master (one per shard of the pools): PHP is down for every site.
  for (const h of webs) for (const d of Object.values(PHP_FPM_DAEMONS)) await d.stop(h);

  let opened: number | undefined;
  for (let i = 0; i < 30 && !opened; i++) {
    opened = (await round()).opened;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.ok(opened, 'an incident opened');
  const open = desk.incidents.get(staffActor('test'), opened);
  assert.equal(open.site, SITE);
  assert.equal(open.customer, 'acme');
  assert.equal(open.status, 'open');
  const expected = incidentResponseDeadline(new Date(open.openedAt), calendar);
  assert.equal(open.responseRule, expected.rule);
  assert.equal(open.responseDueAt, expected.due.toISOString());
  assert.ok(expected.minutes <= 60);

  await new Promise((r) => setTimeout(r, 1500));
  const restartAt = Date.now();
  await P.ctx.service.reconcile(); // level-based: it starts the stopped PHP-FPMs again
  let recovered: number | undefined;
  for (let i = 0; i < 50 && !recovered; i++) {
    recovered = (await round()).recovered;
    if (!recovered) await new Promise((r) => setTimeout(r, 100));
  }
  const upAt = Date.now();
  assert.equal(recovered, opened);
  await monitor.settle();

  const done = desk.incidents.get(staffActor('test'), opened);
  assert.equal(done.status, 'resolved');
  const measured = (upAt - downAt) / 1000;
  assert.ok(done.downtimeSeconds !== undefined);
  // From the first failed probe to the first good one: inside [FPM down … site answering].
  assert.ok(done.downtimeSeconds <= measured + 1 && done.downtimeSeconds >= (restartAt - downAt) / 1000 - 2, `downtime ${done.downtimeSeconds} s, measured ${measured} s`);
  assert.deepEqual(hooks.map((h) => h.kind), ['incident.opened', 'incident.recovered']);
  process.stderr.write(`  incident ${opened}: rule ${done.responseRule}, due ${done.responseDueAt}, downtime ${done.downtimeSeconds} s (wall ${measured.toFixed(1)} s)\n`);
});
