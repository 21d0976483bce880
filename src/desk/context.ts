import type { BusinessCalendar, Clock } from '../calendar/index.ts';
import type { Mailer } from '../mail/index.ts';
import type { Db } from '../store/index.ts';
import type { Actor } from './actor.ts';

/** A site as the desk needs it; PlatformStore#sites() satisfies it. */
export interface SiteRef {
  readonly domain: string;
  readonly customer: string;
}

/** Shared dependencies of the desk's parts. */
export interface DeskContext {
  readonly db: Db;
  readonly clock: Clock;
  readonly calendar: BusinessCalendar;
  /** The platform's sites (read-only for the desk). */
  readonly sites: () => readonly SiteRef[];
  /** Outbound mail for ticket replies; without it replies are stored with delivery 'not-configured'. */
  readonly mailer: Mailer | undefined;
  /** The support address replies come from and customers write to. */
  readonly supportAddress: string;
  audit(actor: Actor, action: string, target: string, details?: Record<string, unknown>): void;
  nowIso(): string;
}

export function makeContext(o: Omit<DeskContext, 'audit' | 'nowIso'>): DeskContext {
  const insert = o.db.prepare('INSERT INTO desk_audit (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)');
  return {
    ...o,
    nowIso: () => o.clock.now().toISOString(),
    audit(actor, action, target, details = {}) {
      insert.run(o.clock.now().toISOString(), actor.name, action, target, JSON.stringify(details));
    },
  };
}
