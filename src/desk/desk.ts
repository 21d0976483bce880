import { businessCalendar, systemClock, type BusinessCalendar, type Clock } from '../calendar/index.ts';
import type { Mailer } from '../mail/index.ts';
import { migrate, type Db } from '../store/index.ts';
import { requireStaff, type Actor } from './actor.ts';
import type { ServiceTargets } from './clocks.ts';
import { makeContext, type DeskContext, type SiteRef } from './context.ts';
import { Contracts } from './contracts.ts';
import { Inbox } from './inbox.ts';
import { Incidents } from './incidents.ts';
import { IncidentMonitor, type MonitorOptions } from './monitor.ts';
import { People, type Customer, type CustomerInput } from './people.ts';
import { Reports } from './reports.ts';
import { DESK_MIGRATIONS } from './schema.ts';
import { SCRYPT_DEFAULT } from './secrets.ts';
import { Tickets } from './tickets.ts';

export interface DeskDeps {
  readonly db: Db;
  /** @default systemClock */
  readonly clock?: Clock;
  /** @default businessCalendar() — Europe/Stockholm, 09:00–16:00, Swedish closed days */
  readonly calendar?: BusinessCalendar;
  /** The platform's sites; pass `() => new PlatformStore(db).sites()`. @default no sites */
  readonly sites?: () => readonly SiteRef[];
  readonly mailer?: Mailer;
  /** @default 'support@vard.invalid' */
  readonly supportAddress?: string;
  /** scrypt cost; only tests lower it. @default SCRYPT_DEFAULT */
  readonly scrypt?: { logN: number; r: number; p: number };
}

/** The service desk: one object per state store, with its parts. */
export interface Desk {
  readonly ctx: DeskContext;
  readonly people: People;
  readonly contracts: Contracts;
  readonly tickets: Tickets;
  readonly inbox: Inbox;
  readonly incidents: Incidents;
  readonly reports: Reports;
  /** Adds a customer and its contract in one transaction. */
  addCustomer(actor: Actor, input: CustomerInput & { targets?: Partial<ServiceTargets>; retentionDays?: number }): Customer;
  /** An incident monitor bound to this desk. */
  monitor(o?: MonitorOptions): IncidentMonitor;
  /** The audit log, newest last. Staff only. */
  auditLog(actor: Actor, limit?: number): { at: string; actor: string; action: string; target: string; details: Record<string, unknown> }[];
}

/** Opens the desk on a state store, migrating the desk's tables. */
export function openDesk(deps: DeskDeps): Desk {
  migrate(deps.db, 'desk', DESK_MIGRATIONS);
  const ctx = makeContext({
    db: deps.db,
    clock: deps.clock ?? systemClock,
    calendar: deps.calendar ?? businessCalendar(),
    sites: deps.sites ?? (() => []),
    mailer: deps.mailer,
    supportAddress: deps.supportAddress ?? 'support@vard.invalid',
  });
  const people = new People(ctx, deps.scrypt ?? SCRYPT_DEFAULT);
  const contracts = new Contracts(ctx);
  const tickets = new Tickets(ctx, contracts);
  const inbox = new Inbox(ctx, people, tickets);
  const incidents = new Incidents(ctx, contracts);
  const reports = new Reports(ctx, incidents, tickets);
  return {
    ctx,
    people,
    contracts,
    tickets,
    inbox,
    incidents,
    reports,
    addCustomer(actor, input) {
      return deps.db.transaction(() => {
        const c = people.addCustomer(actor, input);
        contracts.create(actor, c.slug, input.contractStart ?? ctx.calendar.localDate(ctx.clock.now()), input.targets ?? {}, input.retentionDays ?? 30);
        return c;
      })();
    },
    monitor: (o) => new IncidentMonitor(ctx, incidents, o),
    auditLog(actor, limit = 100) {
      requireStaff(actor, 'read the audit log');
      const rows = deps.db.prepare('SELECT at, actor, action, target, details FROM desk_audit ORDER BY id DESC LIMIT ?').all(limit) as {
        at: string;
        actor: string;
        action: string;
        target: string;
        details: string;
      }[];
      return rows.reverse().map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
    },
  };
}
