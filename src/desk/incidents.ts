import { formatProblems, vardError } from '../errors/index.ts';
import { canSee, requireStaff, type Actor } from './actor.ts';
import { incidentResponseDeadline, type ResponseRule } from './clocks.ts';
import type { DeskContext } from './context.ts';
import type { Contracts } from './contracts.ts';

export interface IncidentEvent {
  readonly at: string;
  readonly kind: string;
  readonly actor: string;
  readonly text: string;
}

export interface Incident {
  readonly id: number;
  readonly ref: string;
  readonly site: string;
  readonly customer: string | undefined;
  readonly title: string;
  readonly status: 'open' | 'acknowledged' | 'resolved';
  readonly openedAt: string;
  readonly openedBy: string;
  /** First failed observation: the downtime starts here, before the incident opened. */
  readonly downSince: string;
  readonly responseRule: ResponseRule;
  readonly responseMinutes: number;
  readonly responseDueAt: string;
  readonly ackedAt: string | undefined;
  readonly ackedBy: string | undefined;
  /** Whether the response (ack) came in time; undefined while still waiting and not yet late. */
  readonly responseMet: boolean | undefined;
  readonly upAt: string | undefined;
  readonly downtimeSeconds: number | undefined;
  readonly resolvedAt: string | undefined;
  readonly resolvedBy: string | undefined;
}

export interface IncidentDetail extends Incident {
  readonly timeline: readonly IncidentEvent[];
}

interface IncidentRow {
  id: number;
  site: string;
  customer: string | null;
  title: string;
  status: Incident['status'];
  opened_at: string;
  opened_by: string;
  down_since: string;
  response_rule: ResponseRule;
  response_minutes: number;
  response_due_at: string;
  acked_at: string | null;
  acked_by: string | null;
  up_at: string | null;
  downtime_seconds: number | null;
  resolved_at: string | null;
  resolved_by: string | null;
}

export const incidentRef = (id: number): string => `I-${id}`;

export function parseIncidentRef(s: string | number): number | undefined {
  if (typeof s === 'number') return s;
  const m = /^#?(?:I-)?(\d{1,9})$/i.exec(s.trim());
  return m ? Number(m[1]) : undefined;
}

/** Incidents [S3]: response deadline fixed at open time, ack, notes, resolve, timeline, downtime. */
export class Incidents {
  private readonly ctx: DeskContext;
  private readonly contracts: Contracts;
  constructor(ctx: DeskContext, contracts: Contracts) {
    this.ctx = ctx;
    this.contracts = contracts;
  }

  private toIncident(r: IncidentRow): Incident {
    const now = this.ctx.clock.now().toISOString();
    const responseMet = r.acked_at ? r.acked_at <= r.response_due_at : now > r.response_due_at ? false : undefined;
    return {
      id: r.id,
      ref: incidentRef(r.id),
      site: r.site,
      customer: r.customer ?? undefined,
      title: r.title,
      status: r.status,
      openedAt: r.opened_at,
      openedBy: r.opened_by,
      downSince: r.down_since,
      responseRule: r.response_rule,
      responseMinutes: r.response_minutes,
      responseDueAt: r.response_due_at,
      ackedAt: r.acked_at ?? undefined,
      ackedBy: r.acked_by ?? undefined,
      responseMet,
      upAt: r.up_at ?? undefined,
      downtimeSeconds: r.downtime_seconds ?? undefined,
      resolvedAt: r.resolved_at ?? undefined,
      resolvedBy: r.resolved_by ?? undefined,
    };
  }

  private event(id: number, at: string, kind: string, actor: string, text: string): void {
    this.ctx.db.prepare('INSERT INTO desk_incident_events (incident_id, at, kind, actor, text) VALUES (?, ?, ?, ?, ?)').run(id, at, kind, actor, text);
  }

  /** @throws VARD_ERR_DESK_INCIDENT_NOT_FOUND (also for another customer's incident) */
  get(actor: Actor, ref: string | number): IncidentDetail {
    const id = parseIncidentRef(ref);
    const r = id === undefined ? undefined : (this.ctx.db.prepare('SELECT * FROM desk_incidents WHERE id = ?').get(id) as IncidentRow | undefined);
    if (!r || !canSee(actor, r.customer)) throw vardError('VARD_ERR_DESK_INCIDENT_NOT_FOUND', [String(ref)]);
    const timeline = this.ctx.db.prepare('SELECT at, kind, actor, text FROM desk_incident_events WHERE incident_id = ? ORDER BY at, id').all(r.id) as IncidentEvent[];
    return { ...this.toIncident(r), timeline };
  }

  list(actor: Actor, filter: { customer?: string; site?: string; status?: 'open' | 'resolved'; from?: Date; to?: Date } = {}): Incident[] {
    const rows = this.ctx.db.prepare('SELECT * FROM desk_incidents ORDER BY id').all() as IncidentRow[];
    return rows
      .filter((r) => canSee(actor, r.customer))
      .filter((r) => !filter.customer || r.customer === filter.customer)
      .filter((r) => !filter.site || r.site === filter.site)
      .filter((r) => !filter.status || (filter.status === 'resolved' ? r.status === 'resolved' : r.status !== 'resolved'))
      // overlapping the period: opened before its end, and not resolved before its start
      .filter((r) => !filter.to || r.opened_at < filter.to.toISOString())
      .filter((r) => !filter.from || (r.resolved_at ?? r.up_at ?? '9999') >= filter.from.toISOString() || r.status !== 'resolved')
      .map((r) => this.toIncident(r));
  }

  /** The unrecovered incident the monitor opened for a site, if any. */
  openForSite(site: string): number | undefined {
    const r = this.ctx.db.prepare('SELECT id FROM desk_incidents WHERE site = ? AND up_at IS NULL ORDER BY id DESC LIMIT 1').get(site) as { id: number } | undefined;
    return r?.id;
  }

  /**
   * Opens an incident for a site. The response deadline is computed now, at open time, from the
   * business calendar and the site's contract, and never changes afterwards.
   */
  open(actor: Actor, o: { site: string; title?: string; downSince?: Date; openedAt?: Date; detail?: string }): IncidentDetail {
    requireStaff(actor, 'open incidents');
    if (!o.site.trim()) throw vardError('VARD_ERR_API_INVALID', [formatProblems([{ path: 'site', message: 'is empty' }])]);
    const site = this.ctx.sites().find((s) => s.domain === o.site);
    const customer = site?.customer ?? null;
    const openedAt = o.openedAt ?? this.ctx.clock.now();
    const downSince = o.downSince ?? openedAt;
    const d = incidentResponseDeadline(openedAt, this.ctx.calendar, this.contracts.targets(customer));
    const id = this.ctx.db.transaction(() => {
      const r = this.ctx.db
        .prepare(
          `INSERT INTO desk_incidents (site, customer, title, status, opened_at, opened_by, down_since, response_rule, response_minutes, response_due_at)
           VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?)`,
        )
        .run(o.site, customer, o.title ?? `${o.site} is down`, openedAt.toISOString(), actor.name, downSince.toISOString(), d.rule, d.minutes, d.due.toISOString());
      const id = Number(r.lastInsertRowid);
      this.event(id, downSince.toISOString(), 'down', actor.name, `first failed observation${o.detail ? `: ${o.detail}` : ''}`);
      this.event(id, openedAt.toISOString(), 'opened', actor.name, `response due ${d.due.toISOString()} (${d.minutes} min, ${d.rule})`);
      this.ctx.audit(actor, 'incident.open', `incident:${incidentRef(id)}`, { site: o.site, rule: d.rule, due: d.due.toISOString() });
      return id;
    })();
    return this.get(actor, id);
  }

  /** The response of [S3]: staff acknowledge the incident. Idempotent in effect: a second ack is refused. */
  ack(actor: Actor, ref: string | number, text?: string): IncidentDetail {
    requireStaff(actor, 'acknowledge incidents');
    const i = this.get(actor, ref);
    if (i.status === 'resolved') throw vardError('VARD_ERR_DESK_INCIDENT_RESOLVED', [i.ref]);
    if (i.ackedAt) throw vardError('VARD_ERR_DESK_INCIDENT_RESOLVED', [`${i.ref} (acknowledged at ${i.ackedAt})`]);
    const at = this.ctx.nowIso();
    this.ctx.db.transaction(() => {
      this.ctx.db.prepare("UPDATE desk_incidents SET status = 'acknowledged', acked_at = ?, acked_by = ? WHERE id = ?").run(at, actor.name, i.id);
      this.event(i.id, at, 'acknowledged', actor.name, text ?? (at <= i.responseDueAt ? 'acknowledged within the response deadline' : 'acknowledged after the response deadline'));
      this.ctx.audit(actor, 'incident.ack', `incident:${i.ref}`, { late: at > i.responseDueAt });
    })();
    return this.get(actor, i.id);
  }

  note(actor: Actor, ref: string | number, text: string): IncidentDetail {
    requireStaff(actor, 'add incident notes');
    if (!text.trim()) throw vardError('VARD_ERR_API_INVALID', [formatProblems([{ path: 'text', message: 'is empty' }])]);
    const i = this.get(actor, ref);
    this.ctx.db.transaction(() => {
      this.event(i.id, this.ctx.nowIso(), 'note', actor.name, text.trim());
      this.ctx.audit(actor, 'incident.note', `incident:${i.ref}`, {});
    })();
    return this.get(actor, i.id);
  }

  /** Staff close the incident. Downtime is recorded separately when the site is observed up. */
  resolve(actor: Actor, ref: string | number, text?: string): IncidentDetail {
    requireStaff(actor, 'resolve incidents');
    const i = this.get(actor, ref);
    if (i.status === 'resolved') throw vardError('VARD_ERR_DESK_INCIDENT_RESOLVED', [i.ref]);
    const at = this.ctx.nowIso();
    this.ctx.db.transaction(() => {
      this.ctx.db.prepare("UPDATE desk_incidents SET status = 'resolved', resolved_at = ?, resolved_by = ? WHERE id = ?").run(at, actor.name, i.id);
      this.event(i.id, at, 'resolved', actor.name, text ?? 'resolved');
      this.ctx.audit(actor, 'incident.resolve', `incident:${i.ref}`, {});
    })();
    return this.get(actor, i.id);
  }

  /**
   * The site is observed up again: records the downtime (first failure → first success) and, if
   * staff have not resolved it yet, resolves the incident.
   */
  recover(actor: Actor, ref: string | number, upAt: Date, detail?: string): IncidentDetail {
    requireStaff(actor, 'record recovery');
    const i = this.get(actor, ref);
    if (i.upAt) return i;
    const seconds = Math.max(0, Math.round((upAt.getTime() - new Date(i.downSince).getTime()) / 1000));
    this.ctx.db.transaction(() => {
      this.ctx.db.prepare('UPDATE desk_incidents SET up_at = ?, downtime_seconds = ? WHERE id = ?').run(upAt.toISOString(), seconds, i.id);
      this.event(i.id, upAt.toISOString(), 'up', actor.name, `site answers again after ${seconds} s of downtime${detail ? `: ${detail}` : ''}`);
      if (i.status !== 'resolved') {
        this.ctx.db.prepare("UPDATE desk_incidents SET status = 'resolved', resolved_at = ?, resolved_by = ? WHERE id = ?").run(upAt.toISOString(), actor.name, i.id);
        this.event(i.id, upAt.toISOString(), 'resolved', actor.name, 'resolved by observation');
      }
      this.ctx.audit(actor, 'incident.recover', `incident:${i.ref}`, { downtimeSeconds: seconds });
    })();
    return this.get(actor, i.id);
  }

  /** Adds a system event (notifications sent or failed) to the timeline. */
  record(ref: number, kind: string, actor: string, text: string): void {
    this.event(ref, this.ctx.nowIso(), kind, actor, text);
  }
}
