import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { simpleParser, type ParsedMail } from 'mailparser';
import nodemailer from 'nodemailer';
import { SMTPServer } from 'smtp-server';
import { startServer } from '../../src/api/index.ts';
import { businessCalendar, fixedClock } from '../../src/calendar/index.ts';
import { openDesk, staffActor } from '../../src/desk/index.ts';
import { smtpMailer } from '../../src/mail/index.ts';
import { openDb } from '../../src/store/index.ts';

const root = staffActor('cli:test');

test('support by e-mail through Vard’s SMTP listener: open, reply by mail, thread, bad mail kept', async (t) => {
  // GIVEN a sink standing in for the customer's mail server, and `vard serve` with its SMTP listener
  const received: ParsedMail[] = [];
  const sink = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    onData(stream, _s, cb) {
      simpleParser(stream).then((m) => {
        received.push(m);
        cb();
      }, cb);
    },
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => sink.close(() => r())));
  const mailer = smtpMailer({ host: '127.0.0.1', port: (sink.server.address() as AddressInfo).port });

  const clock = fixedClock('2026-11-10T10:00:00+01:00');
  const desk = openDesk({ db: openDb(':memory:'), clock, calendar: businessCalendar(), mailer, supportAddress: 'support@operator.example', scrypt: { logN: 10, r: 8, p: 1 } });
  desk.addCustomer(root, { slug: 'acme', mailDomains: ['acme.example'], contractStart: '2025-01-01' });
  await desk.people.addUser(root, { email: 'anna@operator.example', role: 'staff' });
  const token = desk.people.createToken(root, 'anna@operator.example').token;
  const server = await startServer({ desk, listen: '127.0.0.1:0', smtpListen: '127.0.0.1:0', smtpMaxBytes: 64 * 1024, mailer });
  t.after(() => server.close());
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${server.apiAddress}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });

  const customer = nodemailer.createTransport({ host: '127.0.0.1', port: server.smtp!.port, secure: false, ignoreTLS: true });
  t.after(() => customer.close());

  // WHEN a customer writes to support
  const first = await customer.sendMail({ from: 'Eva <eva@acme.example>', to: 'support@operator.example', subject: 'Cannot upload images', text: 'Upload fails with an error.' });
  assert.match(first.response, /^250/);
  const tickets = (await (await api('GET', '/v1/tickets')).json()) as { ref: string; subject: string; customer: string; requester: string }[];
  assert.equal(tickets.length, 1);
  const ref = tickets[0]!.ref;
  assert.deepEqual(pick(tickets[0]!), { subject: 'Cannot upload images', customer: 'acme', requester: 'eva@acme.example' });

  // and staff reply through the API
  clock.advance(20 * 60_000);
  const replied = await api('POST', `/v1/tickets/${ref}/replies`, { body: 'The upload limit was raised; please try again.' });
  assert.equal(replied.status, 200);
  const detail = (await replied.json()) as { clocks: { firstResponse: { state: string; elapsedMinutes: number } }; messages: { delivery?: string }[] };
  assert.equal(detail.clocks.firstResponse.state, 'met');
  assert.equal(detail.clocks.firstResponse.elapsedMinutes, 20);
  assert.equal(detail.messages[1]?.delivery, 'sent');

  // THEN the reply reaches the customer, threaded under her message
  assert.equal(received.length, 1);
  const reply = received[0]!;
  assert.equal(reply.subject, `Re: [#${ref}] Cannot upload images`);
  assert.equal(reply.inReplyTo, first.messageId);
  assert.equal(reply.references, first.messageId);
  assert.equal((reply.to as { value: { address: string }[] }).value[0]?.address, 'eva@acme.example');

  // and her answer to it lands on the same ticket
  await customer.sendMail({ from: 'eva@acme.example', to: 'support@operator.example', subject: `Re: ${reply.subject}`, text: 'Works now, thanks!', inReplyTo: reply.messageId, references: [first.messageId, reply.messageId!] });
  const shown = (await (await api('GET', `/v1/tickets/${ref}`)).json()) as { messages: { direction: string; body: string }[] };
  assert.deepEqual(shown.messages.map((m) => m.direction), ['in', 'out', 'in']);
  assert.equal(shown.messages[2]?.body, 'Works now, thanks!');

  // Bad mail: an oversized message is refused during the SMTP dialogue (552), so the sender is told
  await assert.rejects(
    customer.sendMail({ from: 'eva@acme.example', to: 'support@operator.example', subject: 'huge', text: 'x'.repeat(200 * 1024) }),
    (e: { responseCode?: number }) => e.responseCode === 552,
  );
  // mail for another address is refused at RCPT
  await assert.rejects(customer.sendMail({ from: 'eva@acme.example', to: 'sales@operator.example', subject: 's', text: 't' }), (e: { responseCode?: number }) => e.responseCode === 550);
  // a message without a From header and one from a stranger are accepted and kept, unmatched
  await customer.sendMail({ envelope: { from: 'bounce@elsewhere.example', to: ['support@operator.example'] }, raw: 'Subject: no sender\r\n\r\nbody without headers\r\n' });
  await customer.sendMail({ from: 'who@elsewhere.example', to: 'support@operator.example', subject: 'Hi', text: 'Is this support?' });
  const unmatched = desk.inbox.list(root, 'unmatched');
  assert.deepEqual(unmatched.map((m) => m.reason), ['no valid From address', 'sender who@elsewhere.example belongs to no customer']);
  assert.match(desk.inbox.get(root, unmatched[0]!.id).raw.toString(), /body without headers/);
  assert.equal(desk.inbox.list(root).length, 4, 'two filed, two unmatched, the refused ones never accepted');
});

function pick(t: { subject: string; customer: string; requester: string }) {
  return { subject: t.subject, customer: t.customer, requester: t.requester };
}
