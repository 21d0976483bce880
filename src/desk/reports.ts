import { parseMonth } from '../calendar/index.ts';
import { vardError } from '../errors/index.ts';
import { canSee, type Actor } from './actor.ts';
import type { DeskContext } from './context.ts';
import type { Incidents } from './incidents.ts';
import type { Tickets } from './tickets.ts';

export interface SiteAvailability {
  readonly site: string;
  /** Percentage of the monitored part of the month the site was up; null when never observed. */
  readonly availabilityPercent: number | null;
  readonly monitoredMinutes: number;
  readonly downtimeMinutes: number;
  readonly probes: { readonly total: number; readonly failed: number };
}

export interface IncidentLine {
  readonly ref: string;
  readonly site: string;
  readonly openedAt: string;
  readonly responseRule: string;
  readonly promisedMinutes: number;
  readonly responseMinutes: number | null;
  readonly responseMet: boolean | null;
  readonly resolutionMinutes: number | null;
  readonly downtimeMinutes: number | null;
}

export interface TicketLine {
  readonly ref: string;
  readonly subject: string;
  readonly channel: string;
  readonly status: string;
  readonly firstResponse: { readonly elapsedMinutes: number; readonly targetMinutes: number; readonly state: string };
  readonly resolution: { readonly elapsedMinutes: number; readonly targetMinutes: number; readonly state: string };
}

export interface MonthlyReport {
  readonly customer: string;
  readonly month: string;
  readonly from: string;
  readonly to: string;
  readonly sites: readonly SiteAvailability[];
  readonly incidents: readonly IncidentLine[];
  readonly tickets: readonly TicketLine[];
  readonly summary: {
    readonly incidents: number;
    readonly incidentResponsesMet: number;
    readonly tickets: number;
    readonly firstResponsesMet: number;
    readonly resolutionsMet: number;
  };
}

const minutes = (ms: number): number => Math.round(ms / 600) / 100;

/** Monthly report per customer: availability per site, incidents and tickets against their promises. */
export class Reports {
  private readonly ctx: DeskContext;
  private readonly incidents: Incidents;
  private readonly tickets: Tickets;
  constructor(ctx: DeskContext, incidents: Incidents, tickets: Tickets) {
    this.ctx = ctx;
    this.incidents = incidents;
    this.tickets = tickets;
  }

  /** @throws VARD_ERR_DESK_MONTH_INVALID, VARD_ERR_DESK_CUSTOMER_NOT_FOUND */
  monthly(actor: Actor, customer: string, month: string): MonthlyReport {
    const range = parseMonth(month, this.ctx.calendar.zone);
    if (!canSee(actor, customer) || !this.ctx.db.prepare('SELECT 1 FROM desk_customers WHERE slug = ?').get(customer)) {
      throw vardError('VARD_ERR_DESK_CUSTOMER_NOT_FOUND', [customer]);
    }
    const now = this.ctx.clock.now().getTime();
    const start = range.start.getTime();
    const end = Math.min(range.end.getTime(), now);
    const incidents = this.incidents.list(actor, { customer }).filter((i) => new Date(i.downSince).getTime() < range.end.getTime());

    const sites = this.ctx
      .sites()
      .filter((s) => s.customer === customer)
      .map((s): SiteAvailability => {
        const first = this.ctx.db.prepare('SELECT MIN(at) AS at FROM desk_probes WHERE site = ?').get(s.domain) as { at: string | null };
        const counts = this.ctx.db
          .prepare('SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN ok = 0 THEN 1 ELSE 0 END), 0) AS failed FROM desk_probes WHERE site = ? AND at >= ? AND at < ?')
          .get(s.domain, range.start.toISOString(), range.end.toISOString()) as { total: number; failed: number };
        const from = first.at ? Math.max(start, new Date(first.at).getTime()) : end;
        const window = Math.max(0, end - from);
        let down = 0;
        for (const i of incidents.filter((x) => x.site === s.domain)) {
          const a = Math.max(from, new Date(i.downSince).getTime());
          const b = Math.min(end, i.upAt ? new Date(i.upAt).getTime() : now);
          if (b > a) down += b - a;
        }
        return {
          site: s.domain,
          availabilityPercent: window > 0 ? Math.round((1 - down / window) * 100_000) / 1000 : null,
          monitoredMinutes: minutes(window),
          downtimeMinutes: minutes(down),
          probes: { total: counts.total, failed: counts.failed },
        };
      });

    const incidentLines = incidents
      .filter((i) => new Date(i.openedAt).getTime() >= start)
      .map((i): IncidentLine => ({
        ref: i.ref,
        site: i.site,
        openedAt: i.openedAt,
        responseRule: i.responseRule,
        promisedMinutes: i.responseMinutes,
        responseMinutes: i.ackedAt ? minutes(new Date(i.ackedAt).getTime() - new Date(i.openedAt).getTime()) : null,
        responseMet: i.responseMet ?? null,
        resolutionMinutes: i.resolvedAt ? minutes(new Date(i.resolvedAt).getTime() - new Date(i.openedAt).getTime()) : null,
        downtimeMinutes: i.downtimeSeconds === undefined ? null : Math.round((i.downtimeSeconds / 60) * 100) / 100,
      }));

    const ticketLines = this.tickets.list(actor, { customer, from: range.start, to: range.end }).map((t): TicketLine => ({
      ref: t.ref,
      subject: t.subject,
      channel: t.channel,
      status: t.status,
      firstResponse: { elapsedMinutes: t.clocks.firstResponse.elapsedMinutes, targetMinutes: t.clocks.firstResponse.targetMinutes, state: t.clocks.firstResponse.state },
      resolution: { elapsedMinutes: t.clocks.resolution.elapsedMinutes, targetMinutes: t.clocks.resolution.targetMinutes, state: t.clocks.resolution.state },
    }));

    return {
      customer,
      month: range.month,
      from: range.start.toISOString(),
      to: range.end.toISOString(),
      sites,
      incidents: incidentLines,
      tickets: ticketLines,
      summary: {
        incidents: incidentLines.length,
        incidentResponsesMet: incidentLines.filter((i) => i.responseMet === true).length,
        tickets: ticketLines.length,
        firstResponsesMet: ticketLines.filter((t) => t.firstResponse.state === 'met').length,
        resolutionsMet: ticketLines.filter((t) => t.resolution.state === 'met').length,
      },
    };
  }
}
