import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { businessCalendar, fixedClock } from '../../src/calendar/index.ts';
import { emailNotifier, httpSiteProbe, openDesk, staffActor, webhookNotifier } from '../../src/desk/index.ts';
import { smtpMailer } from '../../src/mail/index.ts';
import { newSite } from '../../src/model/site.ts';
import { openDb, PlatformStore } from '../../src/store/index.ts';

const listen = (s: Server): Promise<number> => new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as AddressInfo).port)));
const close = (s: Server): Promise<void> => new Promise((r) => s.close(() => r()));
const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((r) => {
    let b = '';
    req.on('data', (c: Buffer) => (b += c.toString()));
    req.on('end', () => r(b));
  });

/** A stand-in for a site behind the public address: answers per Host header while `up`. */
function fakeSite(state: { up: boolean; hosts: string[] }): Server {
  return createServer((req, res) => {
    state.hosts.push(req.headers.host ?? '');
    if (state.up) res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Drupal</h1>');
    else res.writeHead(503).end('No server is available to handle this request.');
  });
}

test('a site that goes down opens an incident with its deadline, notifies on-call, and resolves with the downtime', async (t) => {
  // GIVEN a site, a real HTTP server playing its public address, a webhook receiver and an SMTP sink
  const site = { up: true, hosts: [] as string[] };
  const web = fakeSite(site);
  const webPort = await listen(web);
  t.after(() => close(web));

  const hooks: { kind: string; incident: { ref: string; responseDueAt: string } }[] = [];
  const hook = createServer(async (req, res) => {
    hooks.push(JSON.parse(await readBody(req)));
    res.writeHead(204).end();
  });
  const hookPort = await listen(hook);
  t.after(() => close(hook));

  const inbox: { to: string; subject: string }[] = [];
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, session, cb) {
      simpleParser(stream).then((m) => {
        inbox.push({ to: session.envelope.rcptTo.map((r) => r.address).join(','), subject: m.subject ?? '' });
        cb();
      }, cb);
    },
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => sink.close(() => r())));
  const sinkPort = (sink.server.address() as AddressInfo).port;

  const db = openDb(':memory:');
  const platform = new PlatformStore(db);
  // Saturday 14 November 2026, 11:00 Stockholm: a closed day, so the 60-minute rule applies
  const clock = fixedClock('2026-11-14T11:00:00+01:00');
  platform.addSite(newSite({ domain: 'www.acme.example', customer: 'acme' }, [], clock.now()));
  const mailer = smtpMailer({ host: '127.0.0.1', port: sinkPort });
  t.after(() => mailer.close());
  const desk = openDesk({ db, clock, calendar: businessCalendar(), sites: () => platform.sites(), mailer, supportAddress: 'support@operator.example' });
  desk.addCustomer(staffActor('cli:test'), { slug: 'acme', contractStart: '2025-01-01' });
  const monitor = desk.monitor({
    threshold: 3,
    notifiers: [emailNotifier(mailer, 'support@operator.example', () => ['oncall@operator.example']), webhookNotifier(`http://127.0.0.1:${hookPort}/hook`)],
  });
  const probe = httpSiteProbe({ address: '127.0.0.1', port: webPort, domain: 'www.acme.example', clock, timeoutMs: 2000 });
  const round = async () => {
    const r = await probe();
    clock.advance(30_000);
    return { r, out: await monitor.record(r) };
  };

  // WHEN the site is up, then goes down for five probes, then comes back
  assert.equal((await round()).r.ok, true);
  site.up = false;
  const f1 = await round();
  assert.equal(f1.r.ok, false);
  assert.match(f1.r.detail, /HTTP 503/);
  assert.deepEqual(f1.out, {});
  assert.deepEqual((await round()).out, {});
  const third = await round();
  assert.ok(third.out.opened, 'the third failure in a row opens an incident');
  assert.deepEqual((await round()).out, {}, 'no second incident while down');
  site.up = true;
  const back = await round();
  assert.equal(back.out.recovered, third.out.opened);
  await monitor.settle();

  // THEN the incident carries the deadline fixed at open time and the measured downtime
  const i = desk.incidents.get(staffActor('cli:test'), third.out.opened!);
  assert.equal(i.customer, 'acme');
  assert.equal(i.downSince, '2026-11-14T10:00:30.000Z'); // first failure
  assert.equal(i.openedAt, '2026-11-14T10:01:30.000Z'); // third failure
  assert.equal(i.responseRule, 'closed-day');
  assert.equal(i.responseDueAt, '2026-11-14T11:01:30.000Z'); // 60 minutes on a weekend
  assert.equal(i.status, 'resolved');
  assert.equal(i.upAt, '2026-11-14T10:02:30.000Z');
  assert.equal(i.downtimeSeconds, 120);
  const kinds = i.timeline.map((e) => e.kind);
  for (const k of ['down', 'opened', 'up', 'resolved']) assert.ok(kinds.includes(k), `timeline has ${k}: ${kinds.join(',')}`);
  assert.equal(kinds.filter((k) => k === 'notified').length, 4, kinds.join(','));
  assert.ok(site.hosts.every((h) => h === 'www.acme.example'), 'the probe sends the Host header');

  // and on-call was reached by e-mail and by webhook
  assert.deepEqual(hooks.map((h) => h.kind), ['incident.opened', 'incident.recovered']);
  assert.equal(hooks[0]?.incident.responseDueAt, '2026-11-14T11:01:30.000Z');
  assert.equal(inbox.length, 2);
  assert.equal(inbox[0]?.to, 'oncall@operator.example');
  assert.match(inbox[0]!.subject, new RegExp(`^\\[${i.ref}\\] DOWN www\\.acme\\.example`));

  // and the month's report counts the two minutes of downtime
  clock.set('2026-12-01T00:00:00+01:00');
  const rep = desk.reports.monthly(staffActor('cli:test'), 'acme', '2026-11');
  const s = rep.sites[0]!;
  assert.equal(s.downtimeMinutes, 2);
  assert.equal(s.probes.total, 6);
  assert.equal(s.probes.failed, 4);
  // monitored from the first probe (14 Nov 10:00Z) to the month's end (30 Nov 23:00Z)
  const monitored = (Date.parse('2026-11-30T23:00:00Z') - Date.parse('2026-11-14T10:00:00Z')) / 60_000;
  assert.equal(s.monitoredMinutes, monitored);
  assert.equal(s.availabilityPercent, Math.round((1 - 2 / monitored) * 100_000) / 1000);
  assert.equal(rep.incidents[0]?.responseMet, false); // nobody acknowledged it
});

test('a refused connection and a timeout count as down; a failing webhook is recorded, not fatal', async (t) => {
  const dead = createServer();
  const port = await listen(dead);
  await close(dead); // nothing listens on this port now
  const refused = await httpSiteProbe({ address: '127.0.0.1', port, domain: 'x.example' })();
  assert.equal(refused.ok, false);
  assert.match(refused.detail, /ECONNREFUSED/);

  const slow = createServer(() => {}); // never answers
  const slowPort = await listen(slow);
  t.after(() => {
    slow.closeAllConnections();
    return close(slow);
  });
  const timedOut = await httpSiteProbe({ address: '127.0.0.1', port: slowPort, domain: 'x.example', timeoutMs: 200 })();
  assert.equal(timedOut.ok, false);
  assert.match(timedOut.detail, /no answer within 200 ms/);

  const clock = fixedClock('2026-11-10T10:00:00+01:00');
  const desk = openDesk({ db: openDb(':memory:'), clock });
  const monitor = desk.monitor({ threshold: 1, notifiers: [webhookNotifier(`http://127.0.0.1:${port}/`)] });
  const out = await monitor.record({ site: 'x.example', ok: false, at: clock.now(), detail: 'down' });
  await monitor.settle();
  const i = desk.incidents.get(staffActor('t'), out.opened!);
  assert.equal(i.responseRule, 'business-hours');
  assert.equal(i.responseDueAt, '2026-11-10T09:15:00.000Z');
  assert.match(i.timeline.find((e) => e.kind === 'notify-failed')?.text ?? '', /^webhook: .*ECONNREFUSED/);

  // a new monitor on the same store (a restart) remembers the open incident
  const again = desk.monitor({ threshold: 1 });
  assert.deepEqual(await again.record({ site: 'x.example', ok: false, at: clock.now(), detail: 'still down' }), {});
  assert.deepEqual(await again.record({ site: 'x.example', ok: true, at: new Date(clock.now().getTime() + 60_000), detail: 'up' }), { recovered: out.opened });
});
