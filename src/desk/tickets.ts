import { randomBytes } from 'node:crypto';
import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { isEmailAddress } from '../mail/index.ts';
import { canSee, isStaff, requireStaff, type Actor } from './actor.ts';
import { businessClock, type BusinessClock } from './clocks.ts';
import type { DeskContext } from './context.ts';
import type { Contracts } from './contracts.ts';

export type TicketChannel = 'email' | 'phone' | 'api';

export interface TicketMessage {
  readonly id: number;
  readonly direction: 'in' | 'out';
  readonly channel: string;
  readonly author: string;
  readonly at: string;
  readonly body: string;
  readonly messageId: string | undefined;
  /** Outbound only: 'sent', 'failed', 'no-address' (no e-mail known) or 'not-configured' (no mailer). */
  readonly delivery: string | undefined;
  readonly deliveryError: string | undefined;
}

export interface Ticket {
  readonly id: number;
  /** `T-<id>`, the tag customers see in subjects as `[#T-<id>]`. */
  readonly ref: string;
  readonly customer: string;
  readonly subject: string;
  readonly channel: TicketChannel;
  readonly requester: string;
  readonly status: 'open' | 'closed';
  readonly createdAt: string;
  readonly firstResponseAt: string | undefined;
  readonly closedAt: string | undefined;
  readonly closedBy: string | undefined;
  readonly followUpOf: string | undefined;
  /** Business-time clocks against the contract's targets [S4]. */
  readonly clocks: { readonly firstResponse: BusinessClock; readonly resolution: BusinessClock };
}

export interface TicketDetail extends Ticket {
  readonly messages: readonly TicketMessage[];
}

interface TicketRow {
  id: number;
  customer: string;
  subject: string;
  channel: TicketChannel;
  requester: string;
  status: 'open' | 'closed';
  created_at: string;
  first_response_at: string | null;
  closed_at: string | null;
  closed_by: string | null;
  follow_up_of: number | null;
}

interface MessageRow {
  id: number;
  direction: 'in' | 'out';
  channel: string;
  author: string;
  at: string;
  body: string;
  message_id: string | null;
  delivery: string | null;
  delivery_error: string | null;
}

export const ticketRef = (id: number): string => `T-${id}`;

/** Accepts `T-12`, `#T-12`, `t-12` or `12`. */
export function parseTicketRef(s: string): number | undefined {
  const m = /^#?(?:T-)?(\d{1,9})$/i.exec(s.trim());
  return m ? Number(m[1]) : undefined;
}

/** The `[#T-12]` tag in a subject line, if any. */
export function ticketTagIn(subject: string): number | undefined {
  const m = /\[#T-(\d{1,9})\]/i.exec(subject);
  return m ? Number(m[1]) : undefined;
}

/** Largest body accepted through the API and the CLI; e-mail bodies are bounded by the listener. */
const MAX_BODY = 200_000;

export interface OpenTicketInput {
  readonly customer?: string;
  readonly subject: string;
  readonly body: string;
  /** Who asked: an e-mail address when known (replies go there), otherwise a name. */
  readonly requester?: string;
}

export interface LogCallInput {
  readonly customer: string;
  readonly caller: string;
  readonly subject: string;
  readonly notes: string;
  /** When the call took place; defaults to now. */
  readonly at?: Date;
  /** The call settled the question: close the ticket at once. */
  readonly resolved?: boolean;
}

/** Support tickets [S4]: by e-mail (see Inbox), phone and API, with business-time clocks. */
export class Tickets {
  private readonly ctx: DeskContext;
  private readonly contracts: Contracts;
  constructor(ctx: DeskContext, contracts: Contracts) {
    this.ctx = ctx;
    this.contracts = contracts;
  }

  private toTicket(r: TicketRow): Ticket {
    const t = this.contracts.targets(r.customer);
    const now = this.ctx.clock.now();
    const created = new Date(r.created_at);
    const firstStop = r.first_response_at ? new Date(r.first_response_at) : r.closed_at ? new Date(r.closed_at) : undefined;
    return {
      id: r.id,
      ref: ticketRef(r.id),
      customer: r.customer,
      subject: r.subject,
      channel: r.channel,
      requester: r.requester,
      status: r.status,
      createdAt: r.created_at,
      firstResponseAt: r.first_response_at ?? undefined,
      closedAt: r.closed_at ?? undefined,
      closedBy: r.closed_by ?? undefined,
      followUpOf: r.follow_up_of === null ? undefined : ticketRef(r.follow_up_of),
      clocks: {
        firstResponse: businessClock(created, firstStop, t.ticketFirstResponseMinutes, now, this.ctx.calendar, t.atRiskRatio),
        resolution: businessClock(created, r.closed_at ? new Date(r.closed_at) : undefined, t.ticketResolutionMinutes, now, this.ctx.calendar, t.atRiskRatio),
      },
    };
  }

  private row(id: number): TicketRow | undefined {
    return this.ctx.db.prepare('SELECT * FROM desk_tickets WHERE id = ?').get(id) as TicketRow | undefined;
  }

  /**
   * A ticket the actor may see. Another customer's ticket answers exactly like a missing one, so
   * ids cannot be probed for existence.
   * @throws VARD_ERR_DESK_TICKET_NOT_FOUND
   */
  get(actor: Actor, ref: string | number): Ticket {
    const id = typeof ref === 'number' ? ref : parseTicketRef(ref);
    const r = id === undefined ? undefined : this.row(id);
    if (!r || !canSee(actor, r.customer)) throw vardError('VARD_ERR_DESK_TICKET_NOT_FOUND', [String(ref)]);
    return this.toTicket(r);
  }

  show(actor: Actor, ref: string | number): TicketDetail {
    const t = this.get(actor, ref);
    const messages = (this.ctx.db.prepare('SELECT * FROM desk_messages WHERE ticket_id = ? ORDER BY at, id').all(t.id) as MessageRow[]).map((m) => ({
      id: m.id,
      direction: m.direction,
      channel: m.channel,
      author: m.author,
      at: m.at,
      body: m.body,
      messageId: m.message_id ?? undefined,
      delivery: m.delivery ?? undefined,
      deliveryError: m.delivery_error ?? undefined,
    }));
    return { ...t, messages };
  }

  list(actor: Actor, filter: { customer?: string; status?: 'open' | 'closed'; atRisk?: boolean; from?: Date; to?: Date } = {}): Ticket[] {
    const rows = this.ctx.db.prepare('SELECT * FROM desk_tickets ORDER BY id').all() as TicketRow[];
    return rows
      .filter((r) => canSee(actor, r.customer))
      .filter((r) => !filter.customer || r.customer === filter.customer)
      .filter((r) => !filter.status || r.status === filter.status)
      .filter((r) => !filter.from || r.created_at >= filter.from.toISOString())
      .filter((r) => !filter.to || r.created_at < filter.to.toISOString())
      .map((r) => this.toTicket(r))
      .filter((t) => !filter.atRisk || [t.clocks.firstResponse.state, t.clocks.resolution.state].some((s) => s === 'at-risk' || s === 'breached'));
  }

  private validate(subject: string, body: string): void {
    const problems: Problem[] = [];
    if (!subject.trim()) problems.push({ path: 'subject', message: 'is empty' });
    if (subject.length > 500) problems.push({ path: 'subject', message: 'is longer than 500 characters' });
    if (!body.trim()) problems.push({ path: 'body', message: 'is empty' });
    if (body.length > MAX_BODY) problems.push({ path: 'body', message: `is longer than ${MAX_BODY} characters` });
    if (problems.length) throw vardError('VARD_ERR_DESK_TICKET_INVALID', [formatProblems(problems)], { details: { problems } });
  }

  private requireCustomer(actor: Actor, customer: string): void {
    if (!canSee(actor, customer) || !this.ctx.db.prepare('SELECT 1 FROM desk_customers WHERE slug = ?').get(customer)) {
      throw vardError('VARD_ERR_DESK_CUSTOMER_NOT_FOUND', [customer]);
    }
  }

  /** Inserts a ticket and its first message; used by every channel. Runs inside the caller's transaction. */
  insert(actor: Actor, o: { customer: string; subject: string; channel: TicketChannel; requester: string; body: string; at: string; messageId?: string; inboundId?: number; followUpOf?: number; firstResponseAt?: string }): number {
    const r = this.ctx.db
      .prepare('INSERT INTO desk_tickets (customer, subject, channel, requester, status, created_at, first_response_at, follow_up_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(o.customer, o.subject.trim(), o.channel, o.requester, 'open', o.at, o.firstResponseAt ?? null, o.followUpOf ?? null);
    const id = Number(r.lastInsertRowid);
    this.addMessage(id, { direction: 'in', channel: o.channel, author: o.requester, at: o.at, body: o.body, messageId: o.messageId, inboundId: o.inboundId });
    this.ctx.audit(actor, 'ticket.open', `ticket:${ticketRef(id)}`, { customer: o.customer, channel: o.channel, subject: o.subject, followUpOf: o.followUpOf ?? null });
    return id;
  }

  addMessage(ticketId: number, m: { direction: 'in' | 'out'; channel: string; author: string; at: string; body: string; messageId?: string; inboundId?: number; delivery?: string }): number {
    const r = this.ctx.db
      .prepare('INSERT INTO desk_messages (ticket_id, direction, channel, author, at, body, message_id, inbound_id, delivery) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(ticketId, m.direction, m.channel, m.author, m.at, m.body, m.messageId ?? null, m.inboundId ?? null, m.delivery ?? null);
    return Number(r.lastInsertRowid);
  }

  /** Opens a ticket through the API: a customer user for its own customer, staff for any. */
  open(actor: Actor, input: OpenTicketInput): TicketDetail {
    // a customer user's tickets are its own customer's; naming another one is refused below
    const customer = input.customer ?? (isStaff(actor) ? undefined : actor.customer);
    if (!customer) throw vardError('VARD_ERR_DESK_TICKET_INVALID', [formatProblems([{ path: 'customer', message: 'staff must name the customer' }])]);
    this.requireCustomer(actor, customer);
    this.validate(input.subject, input.body);
    const requester = input.requester?.trim() || actor.name;
    const id = this.ctx.db.transaction(() => this.insert(actor, { customer, subject: input.subject, channel: 'api', requester, body: input.body, at: this.ctx.nowIso() }))();
    return this.show(actor, id);
  }

  /**
   * Staff log a phone call. Answering the call is the first response, so that clock stops at the
   * call; `resolved` closes the ticket when the call settled the matter.
   */
  logCall(actor: Actor, input: LogCallInput): TicketDetail {
    requireStaff(actor, 'log calls');
    this.requireCustomer(actor, input.customer);
    this.validate(input.subject, input.notes);
    if (!input.caller.trim()) throw vardError('VARD_ERR_DESK_TICKET_INVALID', [formatProblems([{ path: 'caller', message: 'is empty' }])]);
    const at = (input.at ?? this.ctx.clock.now()).toISOString();
    const id = this.ctx.db.transaction(() => {
      const id = this.insert(actor, { customer: input.customer, subject: input.subject, channel: 'phone', requester: input.caller.trim(), body: input.notes, at, firstResponseAt: at });
      if (input.resolved) this.closeRow(actor, id, 'resolved on the phone');
      return id;
    })();
    return this.show(actor, id);
  }

  private closeRow(actor: Actor, id: number, note: string | undefined): void {
    this.ctx.db.prepare("UPDATE desk_tickets SET status = 'closed', closed_at = ?, closed_by = ? WHERE id = ?").run(this.ctx.nowIso(), actor.name, id);
    this.ctx.audit(actor, 'ticket.close', `ticket:${ticketRef(id)}`, { note: note ?? null });
  }

  /** Closes a ticket (staff, or the customer's own user). @throws VARD_ERR_DESK_TICKET_CLOSED */
  close(actor: Actor, ref: string | number, note?: string): TicketDetail {
    const t = this.get(actor, ref);
    if (t.status === 'closed') throw vardError('VARD_ERR_DESK_TICKET_CLOSED', [t.ref]);
    this.ctx.db.transaction(() => this.closeRow(actor, t.id, note))();
    return this.show(actor, t.id);
  }

  /** A new Message-ID in the support domain; the ticket ref in it helps humans reading headers. */
  newMessageId(ticketId: number): string {
    const domain = this.ctx.supportAddress.split('@')[1] ?? 'vard.invalid';
    return `<${ticketRef(ticketId).toLowerCase()}.${randomBytes(8).toString('hex')}@${domain}>`;
  }

  /**
   * A reply. Staff replies go out by e-mail to the requester, threaded under the conversation
   * (In-Reply-To the last message, References all of them, subject tagged `[#T-n]`); the first one
   * stops the first-response clock. A customer user's reply through the API is stored as inbound.
   * The reply is stored before it is sent, so a mail failure never loses it: the message records
   * delivery 'failed' and the error is raised after.
   * @throws VARD_ERR_DESK_TICKET_CLOSED, VARD_ERR_MAIL_SEND_FAILED
   */
  async reply(actor: Actor, ref: string | number, body: string): Promise<TicketDetail> {
    const t = this.show(actor, ref);
    if (t.status === 'closed') throw vardError('VARD_ERR_DESK_TICKET_CLOSED', [t.ref]);
    this.validate(t.subject, body);
    const at = this.ctx.nowIso();
    if (!isStaff(actor)) {
      this.ctx.db.transaction(() => {
        this.addMessage(t.id, { direction: 'in', channel: 'api', author: actor.name, at, body });
        this.ctx.audit(actor, 'ticket.message', `ticket:${t.ref}`, { direction: 'in' });
      })();
      return this.show(actor, t.id);
    }
    const to = isEmailAddress(t.requester) ? t.requester : undefined;
    const messageId = this.newMessageId(t.id);
    const delivery = !to ? 'no-address' : this.ctx.mailer ? 'pending' : 'not-configured';
    const msgId = this.ctx.db.transaction(() => {
      const id = this.addMessage(t.id, { direction: 'out', channel: 'email', author: actor.name, at, body, messageId, delivery });
      if (!t.firstResponseAt) this.ctx.db.prepare('UPDATE desk_tickets SET first_response_at = ? WHERE id = ?').run(at, t.id);
      this.ctx.audit(actor, 'ticket.reply', `ticket:${t.ref}`, { to: to ?? null, messageId });
      return id;
    })();
    if (to && this.ctx.mailer) {
      const ids = t.messages.map((m) => m.messageId).filter((x): x is string => x !== undefined);
      const lastIn = [...t.messages].reverse().find((m) => m.messageId)?.messageId;
      const subject = /\[#T-\d+\]/i.test(t.subject) ? `Re: ${t.subject.replace(/^(re:\s*)+/i, '')}` : `Re: [#${t.ref}] ${t.subject.replace(/^(re:\s*)+/i, '')}`;
      try {
        await this.ctx.mailer.send({ from: this.ctx.supportAddress, to: [to], subject, text: body, messageId, inReplyTo: lastIn, references: ids });
        this.ctx.db.prepare("UPDATE desk_messages SET delivery = 'sent' WHERE id = ?").run(msgId);
      } catch (e) {
        this.ctx.db.prepare("UPDATE desk_messages SET delivery = 'failed', delivery_error = ? WHERE id = ?").run((e as Error).message, msgId);
        throw e;
      }
    }
    return this.show(actor, t.id);
  }
}
