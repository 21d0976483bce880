import { z } from 'zod';
import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { isEmailAddress } from '../mail/index.ts';
import { isStaff, requireStaff, type Actor } from './actor.ts';
import type { DeskContext } from './context.ts';
import { hashPassword, hashToken, newToken, verifyPassword, SCRYPT_DEFAULT } from './secrets.ts';

export interface Customer {
  readonly slug: string;
  readonly name: string;
  /** Mail domains whose senders open tickets for this customer even without a user account. */
  readonly mailDomains: readonly string[];
  readonly createdAt: string;
}

export interface User {
  readonly id: number;
  readonly email: string;
  readonly name: string;
  readonly role: 'staff' | 'customer';
  readonly customer: string | undefined;
  readonly oncall: boolean;
  readonly hasPassword: boolean;
  readonly createdAt: string;
}

interface UserRow {
  id: number;
  email: string;
  name: string;
  role: 'staff' | 'customer';
  customer: string | null;
  password_hash: string | null;
  oncall: number;
  created_at: string;
}

const toUser = (r: UserRow): User => ({
  id: r.id,
  email: r.email,
  name: r.name,
  role: r.role,
  customer: r.customer ?? undefined,
  oncall: r.oncall === 1,
  hasPassword: r.password_hash !== null,
  createdAt: r.created_at,
});

const SLUG = /^[a-z][a-z0-9-]{0,39}$/;
const DOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$/;

const customerInput = z.object({
  slug: z.string(),
  name: z.string().optional(),
  mailDomains: z.array(z.string()).optional(),
  /** Contract start, YYYY-MM-DD; defaults to today. */
  contractStart: z.string().optional(),
});
export type CustomerInput = z.infer<typeof customerInput>;

const userInput = z.object({
  email: z.string(),
  name: z.string().optional(),
  role: z.enum(['staff', 'customer']),
  customer: z.string().optional(),
  password: z.string().optional(),
  oncall: z.boolean().optional(),
});
export type UserInput = z.infer<typeof userInput>;

/** Session tokens from password login live this long. */
const SESSION_HOURS = 12;

/** Customers, users, API tokens and login. */
export class People {
  private readonly ctx: DeskContext;
  private readonly scrypt: { logN: number; r: number; p: number };
  constructor(ctx: DeskContext, scrypt: { logN: number; r: number; p: number } = SCRYPT_DEFAULT) {
    this.ctx = ctx;
    this.scrypt = scrypt;
  }

  /** Creates a customer (staff only). The contract row is created by Contracts#create in the same call path. */
  addCustomer(actor: Actor, input: CustomerInput): Customer {
    requireStaff(actor, 'add customers');
    const problems: Problem[] = [];
    if (!SLUG.test(input.slug)) problems.push({ path: 'slug', message: `"${input.slug}" must be 1-40 lowercase letters, digits or hyphens, starting with a letter (the same slug as the sites' customer)` });
    const domains = (input.mailDomains ?? []).map((d) => d.toLowerCase());
    domains.forEach((d, i) => {
      if (!DOMAIN.test(d)) problems.push({ path: `mailDomains[${i}]`, message: `"${d}" is not a domain name` });
    });
    if (problems.length) throw vardError('VARD_ERR_DESK_CUSTOMER_INVALID', [formatProblems(problems)], { details: { problems } });
    if (this.customer(input.slug)) throw vardError('VARD_ERR_DESK_CUSTOMER_EXISTS', [input.slug]);
    const c: Customer = { slug: input.slug, name: input.name?.trim() || input.slug, mailDomains: domains, createdAt: this.ctx.nowIso() };
    this.ctx.db.prepare('INSERT INTO desk_customers (slug, name, mail_domains, created_at) VALUES (?, ?, ?, ?)').run(c.slug, c.name, JSON.stringify(c.mailDomains), c.createdAt);
    this.ctx.audit(actor, 'customer.add', `customer:${c.slug}`, { name: c.name, mailDomains: c.mailDomains });
    return c;
  }

  customer(slug: string): Customer | undefined {
    const r = this.ctx.db.prepare('SELECT * FROM desk_customers WHERE slug = ?').get(slug) as { slug: string; name: string; mail_domains: string; created_at: string } | undefined;
    return r ? { slug: r.slug, name: r.name, mailDomains: JSON.parse(r.mail_domains) as string[], createdAt: r.created_at } : undefined;
  }

  /** @throws VARD_ERR_DESK_CUSTOMER_NOT_FOUND (also when the actor may not see it) */
  requireCustomer(actor: Actor, slug: string): Customer {
    const c = this.customer(slug);
    if (!c || (actor.role !== 'staff' && actor.customer !== slug)) throw vardError('VARD_ERR_DESK_CUSTOMER_NOT_FOUND', [slug]);
    return c;
  }

  customers(actor: Actor): Customer[] {
    const rows = this.ctx.db.prepare('SELECT slug FROM desk_customers ORDER BY slug').all() as { slug: string }[];
    return rows.filter((r) => isStaff(actor) || actor.customer === r.slug).map((r) => this.customer(r.slug)!);
  }

  /** The customer a sender address belongs to: a customer user first, then a customer mail domain. */
  customerForSender(email: string): string | undefined {
    const u = this.ctx.db.prepare("SELECT customer FROM desk_users WHERE email = ? AND role = 'customer'").get(email) as { customer: string } | undefined;
    if (u) return u.customer;
    const domain = email.split('@')[1]?.toLowerCase();
    if (!domain) return undefined;
    const rows = this.ctx.db.prepare('SELECT slug, mail_domains FROM desk_customers ORDER BY slug').all() as { slug: string; mail_domains: string }[];
    return rows.find((r) => (JSON.parse(r.mail_domains) as string[]).includes(domain))?.slug;
  }

  async addUser(actor: Actor, input: UserInput): Promise<User> {
    requireStaff(actor, 'add users');
    const email = input.email.trim().toLowerCase();
    if (!isEmailAddress(email)) throw vardError('VARD_ERR_DESK_EMAIL_INVALID', [input.email]);
    const problems: Problem[] = [];
    if (!isStaff(input) && !input.customer) problems.push({ path: 'customer', message: 'a customer user needs --customer' });
    if (isStaff(input) && input.customer) problems.push({ path: 'customer', message: 'staff users belong to no customer' });
    if (input.password !== undefined && input.password.length < 12) problems.push({ path: 'password', message: 'passwords need at least 12 characters' });
    if (problems.length) throw vardError('VARD_ERR_DESK_USER_INVALID', [formatProblems(problems)], { details: { problems } });
    if (input.customer && !this.customer(input.customer)) throw vardError('VARD_ERR_DESK_CUSTOMER_NOT_FOUND', [input.customer]);
    if (this.userByEmail(email)) throw vardError('VARD_ERR_DESK_USER_EXISTS', [email]);
    const hash = input.password === undefined ? null : await hashPassword(input.password, this.scrypt);
    const now = this.ctx.nowIso();
    const r = this.ctx.db
      .prepare('INSERT INTO desk_users (email, name, role, customer, password_hash, oncall, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(email, input.name?.trim() || email, input.role, input.customer ?? null, hash, input.oncall ? 1 : 0, now);
    this.ctx.audit(actor, 'user.add', `user:${email}`, { role: input.role, customer: input.customer ?? null, oncall: input.oncall ?? false, password: hash !== null });
    return this.user(Number(r.lastInsertRowid))!;
  }

  user(id: number): User | undefined {
    const r = this.ctx.db.prepare('SELECT * FROM desk_users WHERE id = ?').get(id) as UserRow | undefined;
    return r ? toUser(r) : undefined;
  }

  userByEmail(email: string): User | undefined {
    const r = this.ctx.db.prepare('SELECT * FROM desk_users WHERE email = ?').get(email.trim().toLowerCase()) as UserRow | undefined;
    return r ? toUser(r) : undefined;
  }

  oncallEmails(): string[] {
    return (this.ctx.db.prepare("SELECT email FROM desk_users WHERE role = 'staff' AND oncall = 1 ORDER BY email").all() as { email: string }[]).map((r) => r.email);
  }

  /** Creates an API token for a user; the plain token is returned once and never stored. */
  createToken(actor: Actor, email: string, name = 'api', expiresAt?: Date): { token: string; user: User; expiresAt: string | undefined } {
    const user = this.userByEmail(email);
    // staff create tokens for anyone; a user may create its own
    if (actor.role !== 'staff' && actor.userId !== user?.id) throw vardError('VARD_ERR_AUTH_FORBIDDEN', [actor.name, `create tokens for ${email}`]);
    if (!user) throw vardError('VARD_ERR_DESK_USER_NOT_FOUND', [email]);
    const token = newToken();
    this.ctx.db
      .prepare('INSERT INTO desk_tokens (user_id, name, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)')
      .run(user.id, name, hashToken(token), this.ctx.nowIso(), expiresAt?.toISOString() ?? null);
    this.ctx.audit(actor, 'token.create', `user:${user.email}`, { name, expiresAt: expiresAt?.toISOString() ?? null });
    return { token, user, expiresAt: expiresAt?.toISOString() };
  }

  /** Password login: returns a session token valid for 12 hours. @throws VARD_ERR_AUTH_INVALID */
  async login(email: string, password: string): Promise<{ token: string; expiresAt: string; user: User }> {
    const r = this.ctx.db.prepare('SELECT * FROM desk_users WHERE email = ?').get(email.trim().toLowerCase()) as UserRow | undefined;
    // Hash even for unknown users so the response time does not reveal which e-mails exist.
    const ok = r?.password_hash ? await verifyPassword(password, r.password_hash) : (await hashPassword(password, this.scrypt), false);
    if (!r || !ok) throw vardError('VARD_ERR_AUTH_INVALID');
    const user = toUser(r);
    const actor: Actor = actorFor(user);
    const expires = new Date(this.ctx.clock.now().getTime() + SESSION_HOURS * 3_600_000);
    const t = this.createToken(actor, user.email, 'session', expires);
    return { token: t.token, expiresAt: expires.toISOString(), user };
  }

  /** The actor behind a bearer token, or undefined when the token is unknown, revoked or expired. */
  authenticate(token: string): Actor | undefined {
    const r = this.ctx.db
      .prepare('SELECT u.*, t.expires_at AS t_expires, t.revoked_at AS t_revoked FROM desk_tokens t JOIN desk_users u ON u.id = t.user_id WHERE t.hash = ?')
      .get(hashToken(token)) as (UserRow & { t_expires: string | null; t_revoked: string | null }) | undefined;
    if (!r || r.t_revoked) return undefined;
    if (r.t_expires && new Date(r.t_expires).getTime() <= this.ctx.clock.now().getTime()) return undefined;
    return actorFor(toUser(r));
  }
}

export function actorFor(u: User): Actor {
  return isStaff(u) ? { name: u.email, role: 'staff', userId: u.id } : { name: u.email, role: 'customer', customer: u.customer!, userId: u.id };
}
