import assert from 'node:assert/strict';
import { test } from 'node:test';
import { businessCalendar, fixedClock } from '../../src/calendar/index.ts';
import { openDesk, staffActor, type Actor } from '../../src/desk/index.ts';
import { isVardError } from '../../src/errors/index.ts';
import { memoryMailer } from '../../src/mail/index.ts';
import { openDb } from '../../src/store/index.ts';

const staff = staffActor('anna@operator.example');
const env = { from: 'x@y.example', to: ['support@operator.example'], remoteAddress: '127.0.0.1' };

function mail(h: Record<string, string>, body: string): Buffer {
  const head = Object.entries(h).map(([k, v]) => `${k}: ${v}`);
  return Buffer.from([...head, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', '', body, ''].join('\r\n'));
}

async function setup() {
  const clock = fixedClock('2026-11-10T09:30:00+01:00');
  const mailer = memoryMailer();
  const desk = openDesk({ db: openDb(':memory:'), clock, calendar: businessCalendar(), mailer, supportAddress: 'support@operator.example', scrypt: { logN: 10, r: 8, p: 1 } });
  desk.addCustomer(staff, { slug: 'acme', name: 'Acme AB', mailDomains: ['acme.example'], contractStart: '2025-01-01' });
  desk.addCustomer(staff, { slug: 'beta', contractStart: '2025-01-01' });
  await desk.people.addUser(staff, { email: 'Eva@Acme.example', role: 'customer', customer: 'acme' });
  return { clock, mailer, desk };
}

test('an e-mail opens a ticket; the staff reply threads; the customer answer lands on the same ticket', async () => {
  const { clock, mailer, desk } = await setup();
  const r1 = await desk.inbox.receive(mail({ From: 'Eva <eva@acme.example>', To: 'support@operator.example', Subject: 'Login broken', 'Message-ID': '<m1@acme.example>' }, 'I cannot log in.'), env);
  assert.equal(r1.status, 'attached');
  assert.equal(r1.opened, true);
  const ref = r1.ticket!;
  let t = desk.tickets.show(staff, ref);
  assert.equal(t.customer, 'acme');
  assert.equal(t.channel, 'email');
  assert.equal(t.requester, 'eva@acme.example');
  assert.equal(t.messages[0]?.body, 'I cannot log in.');

  clock.advance(45 * 60_000);
  t = await desk.tickets.reply(staff, ref, 'Try resetting your password.');
  const sent = mailer.sent[0]!;
  assert.deepEqual(sent.to, ['eva@acme.example']);
  assert.equal(sent.subject, `Re: [#${ref}] Login broken`);
  assert.equal(sent.inReplyTo, '<m1@acme.example>');
  assert.deepEqual(sent.references, ['<m1@acme.example>']);
  assert.equal(t.messages[1]?.delivery, 'sent');
  assert.equal(t.clocks.firstResponse.state, 'met');
  assert.equal(t.clocks.firstResponse.elapsedMinutes, 45);

  // the customer's mail client answers with In-Reply-To our reply's Message-ID, subject changed
  const r2 = await desk.inbox.receive(mail({ From: 'eva@acme.example', Subject: 'still broken', 'Message-ID': '<m2@acme.example>', 'In-Reply-To': sent.messageId! }, 'Still broken.'), env);
  assert.equal(r2.ticket, ref);
  assert.equal(r2.opened, false);
  // a reply that only keeps the subject tag also threads
  const r3 = await desk.inbox.receive(mail({ From: 'boss@acme.example', Subject: `Re: [#${ref}] Login broken`, 'Message-ID': '<m3@acme.example>' }, 'Any news?'), env);
  assert.equal(r3.ticket, ref);
  // the same message delivered twice is filed once
  const dup = await desk.inbox.receive(mail({ From: 'boss@acme.example', Subject: `Re: [#${ref}] Login broken`, 'Message-ID': '<m3@acme.example>' }, 'Any news?'), env);
  assert.equal(dup.status, 'duplicate');
  assert.equal(desk.tickets.show(staff, ref).messages.length, 4);
});

test('unknown senders, forged tags and unparseable mail stay in the unmatched inbox, raw', async () => {
  const { desk } = await setup();
  const raw = mail({ From: 'stranger@elsewhere.example', Subject: 'Hello', 'Message-ID': '<s1@elsewhere.example>' }, 'Who are you?');
  const r = await desk.inbox.receive(raw, env);
  assert.equal(r.status, 'unmatched');
  assert.match(r.reason!, /belongs to no customer/);
  const kept = desk.inbox.get(staff, r.inboundId);
  assert.deepEqual(kept.raw, raw);

  // a tag of acme's ticket from a beta-less stranger does not attach to it
  const t = await desk.inbox.receive(mail({ From: 'eva@acme.example', Subject: 'Q', 'Message-ID': '<q@acme.example>' }, 'q'), env);
  const forged = await desk.inbox.receive(mail({ From: 'evil@elsewhere.example', Subject: `[#${t.ticket}] hi`, 'Message-ID': '<f@elsewhere.example>' }, 'x'), env);
  assert.equal(forged.status, 'unmatched');

  const garbage = await desk.inbox.receive(Buffer.from('this is not a mail message at all\x00\x01'), env);
  assert.equal(garbage.status, 'unmatched');
  assert.equal(garbage.reason, 'no valid From address');
  const badFrom = await desk.inbox.receive(mail({ From: 'not an address', Subject: 'x' }, 'x'), env);
  assert.equal(badFrom.status, 'unmatched');

  assert.deepEqual(desk.inbox.list(staff, 'unmatched').map((m) => m.id), [r.inboundId, forged.inboundId, garbage.inboundId, badFrom.inboundId]);
  // staff file it under a customer
  const assigned = await desk.inbox.assign(staff, r.inboundId, 'beta');
  assert.equal(desk.tickets.get(staff, assigned.ticket!).customer, 'beta');
  assert.equal(desk.inbox.get(staff, r.inboundId).status, 'attached');
});

test('mail to a closed ticket opens a follow-up; staff cannot reply to a closed ticket', async () => {
  const { desk } = await setup();
  const r = await desk.inbox.receive(mail({ From: 'eva@acme.example', Subject: 'Q', 'Message-ID': '<a@acme.example>' }, 'q'), env);
  desk.tickets.close(staff, r.ticket!);
  await assert.rejects(desk.tickets.reply(staff, r.ticket!, 'late'), (e) => isVardError(e, 'VARD_ERR_DESK_TICKET_CLOSED'));
  assert.throws(() => desk.tickets.close(staff, r.ticket!), (e) => isVardError(e, 'VARD_ERR_DESK_TICKET_CLOSED'));
  const again = await desk.inbox.receive(mail({ From: 'eva@acme.example', Subject: 'Re: Q', 'Message-ID': '<b@acme.example>', 'In-Reply-To': '<a@acme.example>' }, 'one more thing'), env);
  assert.equal(again.opened, true);
  assert.notEqual(again.ticket, r.ticket);
  assert.equal(desk.tickets.get(staff, again.ticket!).followUpOf, r.ticket);
});

test('phone calls: logged by staff, the call is the first response', async () => {
  const { clock, desk } = await setup();
  const t = desk.tickets.logCall(staff, { customer: 'acme', caller: 'Eva, 070-123', subject: 'How do I add a page?', notes: 'Explained; sending a link.' });
  assert.equal(t.channel, 'phone');
  assert.equal(t.clocks.firstResponse.state, 'met');
  assert.equal(t.clocks.resolution.state, 'running');
  // no e-mail address: the reply is stored with delivery 'no-address', not lost
  clock.advance(60_000);
  const r = await desk.tickets.reply(staff, t.ref, 'Here is the link');
  assert.equal(r.messages.at(-1)?.delivery, 'no-address');
  const closed = desk.tickets.logCall(staff, { customer: 'acme', caller: 'Eva', subject: 'Quick one', notes: 'Answered', resolved: true });
  assert.equal(closed.status, 'closed');
  assert.throws(() => desk.tickets.logCall(staff, { customer: 'nobody', caller: 'x', subject: 's', notes: 'n' }), (e) => isVardError(e, 'VARD_ERR_DESK_CUSTOMER_NOT_FOUND'));
  assert.throws(() => desk.tickets.logCall(staff, { customer: 'acme', caller: 'x', subject: '', notes: '' }), (e) => isVardError(e, 'VARD_ERR_DESK_TICKET_INVALID'));
});

test('a customer user sees only its own tickets; at-risk tickets are flagged before the breach', async () => {
  const { clock, desk } = await setup();
  const eva: Actor = { name: 'eva@acme.example', role: 'customer', customer: 'acme' };
  const mine = desk.tickets.open(eva, { subject: 'Mine', body: 'b' });
  assert.equal(mine.customer, 'acme');
  const theirs = desk.tickets.open(staff, { customer: 'beta', subject: 'Theirs', body: 'b' });
  assert.throws(() => desk.tickets.get(eva, theirs.ref), (e) => isVardError(e, 'VARD_ERR_DESK_TICKET_NOT_FOUND'));
  assert.throws(() => desk.tickets.open(eva, { customer: 'beta', subject: 's', body: 'b' }), (e) => isVardError(e, 'VARD_ERR_DESK_CUSTOMER_NOT_FOUND'));
  assert.deepEqual(desk.tickets.list(eva).map((t) => t.ref), [mine.ref]);
  // 09:30 + 192 business minutes (80 % of 240) = 12:42
  clock.set('2026-11-10T12:41:00+01:00');
  assert.deepEqual(desk.tickets.list(staff, { atRisk: true }), []);
  clock.set('2026-11-10T12:42:00+01:00');
  assert.deepEqual(desk.tickets.list(staff, { atRisk: true }).map((t) => t.clocks.firstResponse.state), ['at-risk', 'at-risk']);
  clock.set('2026-11-10T13:31:00+01:00');
  assert.deepEqual(desk.tickets.list(staff, { atRisk: true }).map((t) => t.clocks.firstResponse.state), ['breached', 'breached']);
});
