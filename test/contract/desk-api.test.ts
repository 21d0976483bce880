import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildApp, OPENAPI_PATH } from '../../src/api/index.ts';
import { businessCalendar, fixedClock } from '../../src/calendar/index.ts';
import { openDesk, staffActor } from '../../src/desk/index.ts';
import { memoryMailer } from '../../src/mail/index.ts';
import { newSite } from '../../src/model/site.ts';
import { openDb, PlatformStore } from '../../src/store/index.ts';

const root = staffActor('cli:root');

async function setup(t: { after: (f: () => Promise<unknown>) => void }) {
  const db = openDb(':memory:');
  const platform = new PlatformStore(db);
  const clock = fixedClock('2026-11-10T10:00:00+01:00');
  for (const [domain, customer] of [['www.acme.example', 'acme'], ['shop.beta.example', 'beta']] as const) {
    platform.addSite(newSite({ domain, customer }, platform.sites(), clock.now()));
  }
  const mailer = memoryMailer();
  const desk = openDesk({ db, clock, calendar: businessCalendar(), sites: () => platform.sites(), mailer, supportAddress: 'support@operator.example', scrypt: { logN: 10, r: 8, p: 1 } });
  desk.addCustomer(root, { slug: 'acme', contractStart: '2025-01-01' });
  desk.addCustomer(root, { slug: 'beta', contractStart: '2025-01-01' });
  await desk.people.addUser(root, { email: 'eva@acme.example', role: 'customer', customer: 'acme', password: 'eva has a long password' });
  await desk.people.addUser(root, { email: 'bo@beta.example', role: 'customer', customer: 'beta' });
  await desk.people.addUser(root, { email: 'anna@operator.example', role: 'staff' });
  const tokens = {
    eva: desk.people.createToken(root, 'eva@acme.example').token,
    bo: desk.people.createToken(root, 'bo@beta.example').token,
    anna: desk.people.createToken(root, 'anna@operator.example').token,
  };
  const app = await buildApp({ desk });
  t.after(() => app.close());
  const call = (who: keyof typeof tokens | undefined, method: 'GET' | 'POST', url: string, payload?: unknown) =>
    app.inject({ method, url, payload: payload as object, headers: who ? { authorization: `Bearer ${tokens[who]}` } : {} });
  return { app, desk, clock, mailer, call };
}

test('the OpenAPI document is published at a fixed path and describes the routes', async (t) => {
  const { app } = await setup(t);
  const res = await app.inject({ method: 'GET', url: OPENAPI_PATH });
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.openapi, '3.0.3');
  for (const p of ['/v1/login', '/v1/tickets', '/v1/tickets/{ref}', '/v1/incidents/{ref}/ack', '/v1/contracts/{customer}/notice', '/v1/reports/monthly/{customer}']) {
    assert.ok(doc.paths[p], `missing ${p}`);
  }
  assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
  assert.ok(doc.paths['/v1/tickets'].post.requestBody.content['application/json'].schema.properties.subject);
});

test('requests without or with a bad token are refused with coded 401s', async (t) => {
  const { app } = await setup(t);
  const none = await app.inject({ method: 'GET', url: '/v1/tickets' });
  assert.equal(none.statusCode, 401);
  assert.equal(none.json().code, 'VARD_ERR_AUTH_REQUIRED');
  const bad = await app.inject({ method: 'GET', url: '/v1/tickets', headers: { authorization: 'Bearer vard_forged' } });
  assert.equal(bad.statusCode, 401);
  assert.equal(bad.json().code, 'VARD_ERR_AUTH_INVALID');
  const missing = await app.inject({ method: 'GET', url: '/v1/nothing-here' });
  assert.equal(missing.json().code, 'VARD_ERR_API_NOT_FOUND');
});

test('password login returns a session token that works on the API', async (t) => {
  const { app } = await setup(t);
  const wrong = await app.inject({ method: 'POST', url: '/v1/login', payload: { email: 'eva@acme.example', password: 'nope nope nope' } });
  assert.equal(wrong.statusCode, 401);
  const ok = await app.inject({ method: 'POST', url: '/v1/login', payload: { email: 'eva@acme.example', password: 'eva has a long password' } });
  assert.equal(ok.statusCode, 200);
  const me = await app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${ok.json().token}` } });
  assert.deepEqual({ name: me.json().name, customer: me.json().customer }, { name: 'eva@acme.example', customer: 'acme' });
});

test("a customer user cannot read another customer's ticket by id", async (t) => {
  const { call } = await setup(t);
  const created = await call('bo', 'POST', '/v1/tickets', { subject: 'Beta question', body: 'private to beta' });
  assert.equal(created.statusCode, 201);
  const ref = created.json().ref as string;
  // it exists: its owner and staff read it
  assert.equal((await call('bo', 'GET', `/v1/tickets/${ref}`)).statusCode, 200);
  assert.equal((await call('anna', 'GET', `/v1/tickets/${ref}`)).statusCode, 200);
  // acme's user is refused, exactly as for a ticket that does not exist
  const refused = await call('eva', 'GET', `/v1/tickets/${ref}`);
  assert.equal(refused.statusCode, 404);
  assert.equal(refused.json().code, 'VARD_ERR_DESK_TICKET_NOT_FOUND');
  assert.doesNotMatch(refused.body, /private to beta/);
  const bareId = ref.replace('T-', '');
  assert.equal((await call('eva', 'GET', `/v1/tickets/${bareId}`)).statusCode, 404);
  assert.equal((await call('eva', 'POST', `/v1/tickets/${ref}/replies`, { body: 'sneaky' })).statusCode, 404);
  assert.equal((await call('eva', 'POST', `/v1/tickets/${ref}/close`)).statusCode, 404);
  // lists are filtered too
  assert.deepEqual((await call('eva', 'GET', '/v1/tickets')).json(), []);
  assert.deepEqual((await call('eva', 'GET', '/v1/sites')).json(), [{ domain: 'www.acme.example', customer: 'acme' }]);
  assert.deepEqual((await call('eva', 'GET', '/v1/customers')).json().map((c: { slug: string }) => c.slug), ['acme']);
  assert.equal((await call('eva', 'GET', '/v1/reports/monthly/beta?month=2026-11')).statusCode, 404);
  assert.equal((await call('eva', 'GET', '/v1/contracts/beta')).statusCode, 404);
});

test('incidents: customers see their own, only staff act on them', async (t) => {
  const { desk, call, clock } = await setup(t);
  const i = desk.incidents.open(root, { site: 'shop.beta.example', detail: 'HTTP 503' });
  assert.equal((await call('eva', 'GET', `/v1/incidents/${i.ref}`)).statusCode, 404);
  assert.equal((await call('bo', 'GET', `/v1/incidents/${i.ref}`)).json().site, 'shop.beta.example');
  const forbidden = await call('bo', 'POST', `/v1/incidents/${i.ref}/ack`);
  assert.equal(forbidden.statusCode, 403);
  assert.equal(forbidden.json().code, 'VARD_ERR_AUTH_FORBIDDEN');
  clock.advance(10 * 60_000);
  const acked = await call('anna', 'POST', `/v1/incidents/${i.ref}/ack`, { text: 'on it' });
  assert.equal(acked.json().responseMet, true);
  await call('anna', 'POST', `/v1/incidents/${i.ref}/notes`, { text: 'PHP-FPM restarted' });
  const resolved = await call('anna', 'POST', `/v1/incidents/${i.ref}/resolve`);
  assert.deepEqual(resolved.json().timeline.map((e: { kind: string }) => e.kind), ['down', 'opened', 'acknowledged', 'note', 'resolved']);
  assert.equal((await call('anna', 'POST', `/v1/incidents/${i.ref}/resolve`)).json().code, 'VARD_ERR_DESK_INCIDENT_RESOLVED');
});

test('bad input gets coded 400s; every change lands in the audit log with who and when', async (t) => {
  const { call, mailer } = await setup(t);
  const invalid = await call('anna', 'POST', '/v1/tickets', { subject: 42 });
  assert.equal(invalid.statusCode, 400);
  assert.equal(invalid.json().code, 'VARD_ERR_API_INVALID');
  const unknown = await call('anna', 'POST', '/v1/tickets', { customer: 'nobody', subject: 's', body: 'b' });
  assert.equal(unknown.json().code, 'VARD_ERR_DESK_CUSTOMER_NOT_FOUND');
  const badDate = await call('eva', 'POST', '/v1/contracts/acme/notice', { on: '2026-02-30' });
  assert.equal(badDate.statusCode, 400);
  assert.equal(badDate.json().code, 'VARD_ERR_DESK_DATE_INVALID');
  const badMonth = await call('eva', 'GET', '/v1/reports/monthly/acme?month=2026-13');
  assert.equal(badMonth.json().code, 'VARD_ERR_DESK_MONTH_INVALID');
  const malformed = await call('anna', 'POST', '/v1/users', { email: 'not an email', role: 'staff' });
  assert.equal(malformed.json().code, 'VARD_ERR_DESK_EMAIL_INVALID');
  const forbidden = await call('eva', 'POST', '/v1/customers', { slug: 'evil' });
  assert.equal(forbidden.statusCode, 403);

  const notice = await call('eva', 'POST', '/v1/contracts/acme/notice', {});
  assert.equal(notice.json().notice.endDate, '2027-02-10');
  const tk = await call('eva', 'POST', '/v1/tickets', { subject: 'Help', body: 'please' });
  const reply = await call('anna', 'POST', `/v1/tickets/${tk.json().ref}/replies`, { body: 'Sure' });
  assert.equal(reply.statusCode, 200);
  assert.equal(mailer.sent.at(-1)?.to[0], 'eva@acme.example');
  const closed = await call('anna', 'POST', `/v1/tickets/${tk.json().ref}/close`);
  assert.equal(closed.json().status, 'closed');
  const late = await call('anna', 'POST', `/v1/tickets/${tk.json().ref}/replies`, { body: 'again' });
  assert.equal(late.statusCode, 409);
  assert.equal(late.json().code, 'VARD_ERR_DESK_TICKET_CLOSED');

  const audit = (await call('anna', 'GET', '/v1/audit')).json() as { at: string; actor: string; action: string }[];
  const tail = audit.slice(-4).map((a) => [a.actor, a.action]);
  assert.deepEqual(tail, [
    ['eva@acme.example', 'contract.notice'],
    ['eva@acme.example', 'ticket.open'],
    ['anna@operator.example', 'ticket.reply'],
    ['anna@operator.example', 'ticket.close'],
  ]);
  assert.equal(audit.at(-1)?.at, '2026-11-10T09:00:00.000Z');
  assert.equal((await call('eva', 'GET', '/v1/audit')).statusCode, 403);
});

test('the platform routes (core status and each role’s own) are published, staff only, and say when no platform is attached', async (t) => {
  const { app, call } = await setup(t);
  const doc = (await app.inject({ method: 'GET', url: OPENAPI_PATH })).json();
  for (const p of ['/v1/status', '/v1/db/status']) assert.ok(doc.paths[p], `missing ${p}`);
  for (const url of ['/v1/status', '/v1/db/status']) {
    const customer = await call('eva', 'GET', url);
    assert.equal(customer.statusCode, 403, url);
    assert.equal(customer.json().code, 'VARD_ERR_AUTH_FORBIDDEN');
    const staff = await call('anna', 'GET', url);
    assert.equal(staff.statusCode, 404, url);
    assert.match(staff.json().code, /VARD_ERR_(PLATFORM_MISSING|DB_NO_TIER)/);
  }
});
