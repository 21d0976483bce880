import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fixedClock } from '../../src/calendar/index.ts';
import { hashPassword, openDesk, staffActor, verifyPassword } from '../../src/desk/index.ts';
import { isVardError } from '../../src/errors/index.ts';
import { openDb } from '../../src/store/index.ts';

const staff = staffActor('cli:root');

test('passwords are scrypt with strong default parameters, salted, verified in constant time', async () => {
  const h = await hashPassword('correct horse battery');
  assert.match(h, /^scrypt\$17\$8\$1\$/);
  assert.notEqual(h, await hashPassword('correct horse battery'));
  assert.equal(await verifyPassword('correct horse battery', h), true);
  assert.equal(await verifyPassword('correct horse batterz', h), false);
  assert.equal(await verifyPassword('x', 'garbage'), false);
});

test('login gives an expiring session token; API tokens are stored hashed', async () => {
  const clock = fixedClock('2026-11-10T10:00:00Z');
  const db = openDb(':memory:');
  const desk = openDesk({ db, clock, scrypt: { logN: 10, r: 8, p: 1 } });
  desk.addCustomer(staff, { slug: 'acme' });
  await desk.people.addUser(staff, { email: 'eva@acme.example', role: 'customer', customer: 'acme', password: 'a long enough password' });
  await assert.rejects(desk.people.login('eva@acme.example', 'wrong password!!'), (e) => isVardError(e, 'VARD_ERR_AUTH_INVALID'));
  await assert.rejects(desk.people.login('nobody@acme.example', 'whatever'), (e) => isVardError(e, 'VARD_ERR_AUTH_INVALID'));
  const s = await desk.people.login('EVA@acme.example', 'a long enough password');
  assert.deepEqual(desk.people.authenticate(s.token), { name: 'eva@acme.example', role: 'customer', customer: 'acme', userId: s.user.id });
  clock.advance(12 * 3_600_000);
  assert.equal(desk.people.authenticate(s.token), undefined);

  const { token } = desk.people.createToken(staff, 'eva@acme.example', 'ci');
  assert.equal(desk.people.authenticate(token)?.customer, 'acme');
  const stored = (db.prepare('SELECT hash FROM desk_tokens').all() as { hash: string }[]).map((r) => r.hash);
  assert.ok(!stored.includes(token));
  assert.equal(desk.people.authenticate('vard_nope'), undefined);
});

test('user validation and who may do what', async () => {
  const desk = openDesk({ db: openDb(':memory:'), clock: fixedClock('2026-11-10T10:00:00Z'), scrypt: { logN: 10, r: 8, p: 1 } });
  desk.addCustomer(staff, { slug: 'acme' });
  await assert.rejects(desk.people.addUser(staff, { email: 'not-an-email', role: 'staff' }), (e) => isVardError(e, 'VARD_ERR_DESK_EMAIL_INVALID'));
  await assert.rejects(desk.people.addUser(staff, { email: 'a@b.example', role: 'customer' }), (e) => isVardError(e, 'VARD_ERR_DESK_USER_INVALID'));
  await assert.rejects(desk.people.addUser(staff, { email: 'a@b.example', role: 'customer', customer: 'nope' }), (e) => isVardError(e, 'VARD_ERR_DESK_CUSTOMER_NOT_FOUND'));
  await assert.rejects(desk.people.addUser(staff, { email: 'a@b.example', role: 'staff', password: 'short' }), (e) => isVardError(e, 'VARD_ERR_DESK_USER_INVALID'));
  const eva = await desk.people.addUser(staff, { email: 'eva@acme.example', role: 'customer', customer: 'acme' });
  await assert.rejects(desk.people.addUser(staff, { email: 'EVA@acme.example', role: 'staff' }), (e) => isVardError(e, 'VARD_ERR_DESK_USER_EXISTS'));
  const evaActor = { name: eva.email, role: 'customer' as const, customer: 'acme', userId: eva.id };
  assert.throws(() => desk.addCustomer(evaActor, { slug: 'mine' }), (e) => isVardError(e, 'VARD_ERR_AUTH_FORBIDDEN'));
  assert.throws(() => desk.auditLog(evaActor), (e) => isVardError(e, 'VARD_ERR_AUTH_FORBIDDEN'));
  assert.deepEqual(desk.auditLog(staff).map((a) => [a.actor, a.action, a.target]), [
    ['cli:root', 'customer.add', 'customer:acme'],
    ['cli:root', 'contract.create', 'customer:acme'],
    ['cli:root', 'user.add', 'user:eva@acme.example'],
  ]);
});
