import { vardError } from '../errors/index.ts';
import { parseMail, type Envelope, type ParsedMail } from '../mail/index.ts';
import { requireStaff, staffActor, type Actor } from './actor.ts';
import type { DeskContext } from './context.ts';
import type { People } from './people.ts';
import { ticketRef, ticketTagIn, type Tickets } from './tickets.ts';

export type InboundStatus = 'received' | 'attached' | 'unmatched' | 'duplicate';

export interface InboundResult {
  readonly inboundId: number;
  readonly status: InboundStatus;
  /** The ticket the message went to, when attached. */
  readonly ticket: string | undefined;
  /** True when the message opened a new ticket (including a follow-up of a closed one). */
  readonly opened: boolean;
  readonly reason: string | undefined;
}

export interface InboundMessage {
  readonly id: number;
  readonly receivedAt: string;
  readonly envelopeFrom: string;
  readonly envelopeTo: readonly string[];
  readonly size: number;
  readonly status: InboundStatus;
  readonly reason: string | undefined;
  readonly ticket: string | undefined;
  readonly sender: string | undefined;
  readonly subject: string | undefined;
}

interface InboundRow {
  id: number;
  received_at: string;
  envelope_from: string;
  envelope_to: string;
  size: number;
  status: InboundStatus;
  reason: string | null;
  ticket_id: number | null;
  sender: string | null;
  subject: string | null;
}

const toInbound = (r: InboundRow): InboundMessage => ({
  id: r.id,
  receivedAt: r.received_at,
  envelopeFrom: r.envelope_from,
  envelopeTo: JSON.parse(r.envelope_to) as string[],
  size: r.size,
  status: r.status,
  reason: r.reason ?? undefined,
  ticket: r.ticket_id === null ? undefined : ticketRef(r.ticket_id),
  sender: r.sender ?? undefined,
  subject: r.subject ?? undefined,
});

const MAIL_ACTOR = staffActor('mail');

/**
 * Inbound support mail. Every message is stored raw first; then it is parsed and attached:
 * 1. a known Message-ID in In-Reply-To/References → that ticket;
 * 2. else a `[#T-n]` tag in the subject, when the sender belongs to that ticket's customer;
 * 3. else a new ticket for the sender's customer (a customer user, or a customer mail domain).
 * A message for a closed ticket opens a follow-up ticket. Anything else — unknown sender, no
 * usable From, unparseable — stays in the inbox as 'unmatched' for staff to assign.
 */
export class Inbox {
  private readonly ctx: DeskContext;
  private readonly people: People;
  private readonly tickets: Tickets;
  constructor(ctx: DeskContext, people: People, tickets: Tickets) {
    this.ctx = ctx;
    this.people = people;
    this.tickets = tickets;
  }

  /** Stores, parses and files one message. Resolves once the raw message is durable. */
  async receive(raw: Buffer, envelope: Envelope): Promise<InboundResult> {
    const r = this.ctx.db
      .prepare("INSERT INTO desk_inbound (received_at, envelope_from, envelope_to, size, raw, status) VALUES (?, ?, ?, ?, ?, 'received')")
      .run(this.ctx.nowIso(), envelope.from, JSON.stringify(envelope.to), raw.length, raw);
    return this.process(Number(r.lastInsertRowid));
  }

  /** Files the messages left 'received' (e.g. by a crash between storing and parsing). */
  async processPending(): Promise<InboundResult[]> {
    const ids = this.ctx.db.prepare("SELECT id FROM desk_inbound WHERE status = 'received' ORDER BY id").all() as { id: number }[];
    const out: InboundResult[] = [];
    for (const { id } of ids) out.push(await this.process(id));
    return out;
  }

  private async process(id: number): Promise<InboundResult> {
    const raw = (this.ctx.db.prepare('SELECT raw FROM desk_inbound WHERE id = ?').get(id) as { raw: Buffer }).raw;
    let mail: ParsedMail;
    try {
      mail = await parseMail(raw);
    } catch (e) {
      return this.mark(id, 'unmatched', `unparseable: ${(e as Error).message}`);
    }
    this.ctx.db.prepare('UPDATE desk_inbound SET message_id = ?, subject = ?, sender = ? WHERE id = ?').run(mail.messageId ?? null, mail.subject.slice(0, 500), mail.from ?? null, id);
    if (!mail.from) return this.mark(id, 'unmatched', 'no valid From address');
    return this.ctx.db.transaction((): InboundResult => {
      if (mail.messageId) {
        const dup = this.ctx.db.prepare('SELECT ticket_id FROM desk_messages WHERE message_id = ?').get(mail.messageId) as { ticket_id: number } | undefined;
        if (dup) return this.mark(id, 'duplicate', 'Message-ID already filed', dup.ticket_id);
      }
      const senderCustomer = this.people.customerForSender(mail.from!);
      const target = this.threadTarget(mail, senderCustomer);
      const body = mail.text || '(empty message)';
      const at = this.ctx.nowIso();
      if (target && target.status === 'open') {
        this.tickets.addMessage(target.id, { direction: 'in', channel: 'email', author: mail.from!, at, body, messageId: mail.messageId, inboundId: id });
        this.ctx.audit(MAIL_ACTOR, 'ticket.message', `ticket:${ticketRef(target.id)}`, { from: mail.from, inbound: id });
        return this.mark(id, 'attached', undefined, target.id);
      }
      const customer = target?.customer ?? senderCustomer;
      if (!customer) return this.mark(id, 'unmatched', `sender ${mail.from} belongs to no customer`);
      const ticketId = this.tickets.insert(MAIL_ACTOR, {
        customer,
        subject: (mail.subject || '(no subject)').slice(0, 500),
        channel: 'email',
        requester: mail.from!,
        body,
        at,
        messageId: mail.messageId,
        inboundId: id,
        followUpOf: target?.id,
      });
      return { ...this.mark(id, 'attached', target ? `follow-up of closed ${ticketRef(target.id)}` : undefined, ticketId), opened: true };
    })();
  }

  private threadTarget(mail: ParsedMail, senderCustomer: string | undefined): { id: number; status: string; customer: string } | undefined {
    const refs = [mail.inReplyTo, ...[...mail.references].reverse()].filter((x): x is string => x !== undefined);
    for (const ref of refs) {
      const m = this.ctx.db
        .prepare('SELECT t.id, t.status, t.customer FROM desk_messages m JOIN desk_tickets t ON t.id = m.ticket_id WHERE m.message_id = ?')
        .get(ref) as { id: number; status: string; customer: string } | undefined;
      if (m) return m;
    }
    const tag = ticketTagIn(mail.subject);
    if (tag !== undefined) {
      const t = this.ctx.db.prepare('SELECT id, status, customer, requester FROM desk_tickets WHERE id = ?').get(tag) as
        | { id: number; status: string; customer: string; requester: string }
        | undefined;
      // A tag alone is easy to forge, so it counts only for the ticket's own customer or requester.
      if (t && (t.customer === senderCustomer || t.requester.toLowerCase() === mail.from)) return t;
    }
    return undefined;
  }

  private mark(id: number, status: InboundStatus, reason: string | undefined, ticketId?: number): InboundResult {
    this.ctx.db.prepare('UPDATE desk_inbound SET status = ?, reason = ?, ticket_id = ? WHERE id = ?').run(status, reason ?? null, ticketId ?? null, id);
    if (status === 'unmatched') this.ctx.audit(MAIL_ACTOR, 'inbox.unmatched', `inbound:${id}`, { reason });
    return { inboundId: id, status, ticket: ticketId === undefined ? undefined : ticketRef(ticketId), opened: false, reason };
  }

  list(actor: Actor, status?: InboundStatus): InboundMessage[] {
    requireStaff(actor, 'read the inbox');
    const rows = (status
      ? this.ctx.db.prepare('SELECT * FROM desk_inbound WHERE status = ? ORDER BY id').all(status)
      : this.ctx.db.prepare('SELECT * FROM desk_inbound ORDER BY id').all()) as InboundRow[];
    return rows.map(toInbound);
  }

  /** The stored message, raw bytes included. */
  get(actor: Actor, id: number): InboundMessage & { raw: Buffer } {
    requireStaff(actor, 'read the inbox');
    const r = this.ctx.db.prepare('SELECT * FROM desk_inbound WHERE id = ?').get(id) as (InboundRow & { raw: Buffer }) | undefined;
    if (!r) throw vardError('VARD_ERR_DESK_INBOX_NOT_FOUND', [String(id)]);
    return { ...toInbound(r), raw: r.raw };
  }

  /** Staff file an unmatched message as a new ticket of a customer. */
  async assign(actor: Actor, id: number, customer: string): Promise<InboundResult> {
    requireStaff(actor, 'assign inbound mail');
    const m = this.get(actor, id);
    if (m.status !== 'unmatched') throw vardError('VARD_ERR_DESK_TICKET_INVALID', [`  [inbound] message ${id} is ${m.status}, not unmatched`]);
    this.people.requireCustomer(actor, customer);
    let mail: ParsedMail | undefined;
    try {
      mail = await parseMail(m.raw);
    } catch {
      mail = undefined;
    }
    return this.ctx.db.transaction(() => {
      const ticketId = this.tickets.insert(actor, {
        customer,
        subject: (mail?.subject || m.subject || '(no subject)').slice(0, 500),
        channel: 'email',
        requester: mail?.from ?? (m.envelopeFrom || 'unknown sender'),
        body: mail?.text || m.raw.toString('utf8').slice(0, 200_000),
        at: m.receivedAt,
        messageId: mail?.messageId,
        inboundId: id,
      });
      this.ctx.audit(actor, 'inbox.assign', `inbound:${id}`, { customer, ticket: ticketRef(ticketId) });
      return { ...this.mark(id, 'attached', `assigned by ${actor.name}`, ticketId), opened: true };
    })();
  }
}
