import { DateTime } from 'luxon';
import type { BusinessCalendar } from '../calendar/index.ts';

/**
 * The notice rule of [S1], fixed here and documented in docs/desk.md:
 *
 * A notice given on local date D ends the contract on D + 3 calendar months; when that day does
 * not exist in the target month (31 January → 31 April) the last day of that month is used
 * (30 April). The end date is the last day of service, inclusive: service stops at 24:00
 * Europe/Stockholm on it. This is the literal "three months" of the commitment, never shorter
 * than three months and never longer than the promise needs.
 */
export function noticeEndDate(noticeDate: string, months = 3): string {
  // luxon clamps to the last day of the month (2026-01-31 + 3 months = 2026-04-30)
  return DateTime.fromISO(noticeDate, { zone: 'UTC' }).plus({ months }).toISODate()!;
}

export type ExitStepKind = 'notice-received' | 'exit-bundle-delivered' | 'dns-ttl-lowered' | 'final-backup' | 'handover' | 'data-deleted';

export interface ExitStep {
  readonly kind: ExitStepKind;
  /** Local date (YYYY-MM-DD) by which the step is due. */
  readonly due: string;
  readonly description: string;
}

export interface ExitPlanOptions {
  /** Business days after the notice within which the first exit bundle [S2] is delivered. @default 10 */
  readonly bundleBusinessDays?: number;
  /** Days before the end date at which DNS TTLs are lowered, so the move can switch quickly. @default 7 */
  readonly dnsTtlDaysBefore?: number;
  /** The agreed period after the end date before the customer's data is deleted. @default 30 */
  readonly retentionDays?: number;
}

/**
 * The dated exit plan a notice starts [S2]. Steps that need people (bundle, TTLs, handover) fall on
 * business days; the final backup is taken on the last day of service; deletion is calendar days
 * after the end, as agreed in the contract.
 */
export function exitPlan(noticeDate: string, endDate: string, cal: BusinessCalendar, o: ExitPlanOptions = {}): ExitStep[] {
  const bundleDays = o.bundleBusinessDays ?? 10;
  const ttlDays = o.dnsTtlDaysBefore ?? 7;
  const retention = o.retentionDays ?? 30;
  const d = (iso: string): DateTime => DateTime.fromISO(iso, { zone: 'UTC' });
  /** The last business day on or before a date. */
  const businessOnOrBefore = (iso: string): string => {
    let x = d(iso);
    while (!cal.isBusinessDay(x.toISODate()!)) x = x.minus({ days: 1 });
    return x.toISODate()!;
  };
  let bundle = cal.addBusinessDays(noticeDate, bundleDays);
  if (bundle > endDate) bundle = businessOnOrBefore(endDate);
  let ttl = businessOnOrBefore(d(endDate).minus({ days: ttlDays }).toISODate()!);
  if (ttl < noticeDate) ttl = noticeDate;
  return [
    { kind: 'notice-received', due: noticeDate, description: 'Notice received; end date fixed' },
    { kind: 'exit-bundle-delivered', due: bundle, description: 'Exit bundle delivered: code, database, files, rendered configs, DNS zone, mailboxes, README' },
    { kind: 'dns-ttl-lowered', due: ttl, description: 'DNS TTLs of the customer zones lowered to 300 s so the move switches quickly' },
    { kind: 'final-backup', due: endDate, description: 'Final backup taken on the last day of service and kept until deletion' },
    { kind: 'handover', due: businessOnOrBefore(endDate), description: 'Handover: final bundle with the last database and files, DNS delegation handed over' },
    { kind: 'data-deleted', due: d(endDate).plus({ days: retention }).toISODate()!, description: `Customer data deleted ${retention} days after the end date, as agreed` },
  ];
}
