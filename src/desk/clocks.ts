import type { BusinessCalendar } from '../calendar/index.ts';

/** Service targets that a contract may set; defaults are the promise of [S3]/[S4]. */
export interface ServiceTargets {
  /** Incident response while support is open ("at once"), wall-clock minutes. @default 15 */
  readonly incidentResponseMinutes: number;
  /** Incident response at any other time; [S3] caps it at 60. @default 60 */
  readonly incidentOffHoursMinutes: number;
  /** Ticket first response, business minutes. @default 240 (four business hours) */
  readonly ticketFirstResponseMinutes: number;
  /** Ticket resolution, business minutes. @default 2100 (five business days of 7 h) */
  readonly ticketResolutionMinutes: number;
  /** Share of a target after which a clock is flagged at risk, before it breaches. @default 0.8 */
  readonly atRiskRatio: number;
}

export const DEFAULT_TARGETS: ServiceTargets = {
  incidentResponseMinutes: 15,
  incidentOffHoursMinutes: 60,
  ticketFirstResponseMinutes: 240,
  ticketResolutionMinutes: 2100,
  atRiskRatio: 0.8,
};

export type ResponseRule = 'business-hours' | 'closed-day' | 'weekday-off-hours';

export interface ResponseDeadline {
  readonly rule: ResponseRule;
  readonly minutes: number;
  readonly due: Date;
}

/**
 * The response deadline of an incident, fixed at open time [S3]:
 * - support open (weekday 09:00–16:00, not a holiday): `incidentResponseMinutes` ("at once");
 * - weekend or holiday: `incidentOffHoursMinutes`, at most 60;
 * - weekday outside 09:00–16:00: the same as a weekend. [S3] names only weekends and holidays,
 *   but reading "at once" on a Tuesday night as "at 09:00 next morning" would make a weekday
 *   night worse than a Sunday; the on-call rota that covers weekends covers nights too.
 * Minutes are wall-clock: a down site does not wait for opening hours.
 */
export function incidentResponseDeadline(openedAt: Date, cal: BusinessCalendar, t: ServiceTargets = DEFAULT_TARGETS): ResponseDeadline {
  const off = Math.min(t.incidentOffHoursMinutes, 60);
  let rule: ResponseRule;
  let minutes: number;
  if (cal.isOpen(openedAt)) {
    rule = 'business-hours';
    minutes = Math.min(t.incidentResponseMinutes, off);
  } else {
    rule = cal.isBusinessDay(cal.localDate(openedAt)) ? 'weekday-off-hours' : 'closed-day';
    minutes = off;
  }
  return { rule, minutes, due: new Date(openedAt.getTime() + minutes * 60_000) };
}

export type ClockState = 'running' | 'at-risk' | 'breached' | 'met' | 'missed';

export interface BusinessClock {
  readonly targetMinutes: number;
  /** Business minutes counted so far (until the clock stopped, or until now). */
  readonly elapsedMinutes: number;
  readonly dueAt: Date;
  readonly atRiskAt: Date;
  readonly stoppedAt: Date | undefined;
  readonly state: ClockState;
}

/**
 * A clock that counts business time only from `start` until `stop` (or `now`). It turns 'at-risk'
 * at `atRiskRatio` of the target, before the breach, so staff can act; 'met'/'missed' once stopped.
 */
export function businessClock(start: Date, stop: Date | undefined, targetMinutes: number, now: Date, cal: BusinessCalendar, atRiskRatio = 0.8): BusinessClock {
  const end = stop ?? now;
  const elapsed = cal.businessMinutesBetween(start, end);
  const dueAt = cal.addBusinessMinutes(start, targetMinutes);
  const atRiskAt = cal.addBusinessMinutes(start, targetMinutes * atRiskRatio);
  let state: ClockState;
  if (stop) state = elapsed <= targetMinutes ? 'met' : 'missed';
  else if (elapsed > targetMinutes) state = 'breached';
  else if (elapsed >= targetMinutes * atRiskRatio) state = 'at-risk';
  else state = 'running';
  return { targetMinutes, elapsedMinutes: Math.round(elapsed * 100) / 100, dueAt, atRiskAt, stoppedAt: stop, state };
}
