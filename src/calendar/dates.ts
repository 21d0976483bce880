import { DateTime } from 'luxon';
import { vardError } from '../errors/index.ts';

/**
 * Parses a calendar date written YYYY-MM-DD and rejects dates that do not exist (2026-02-30),
 * which a lenient `new Date()` would roll over into March.
 * @throws VARD_ERR_DESK_DATE_INVALID
 */
export function parseIsoDate(s: string, zone = 'Europe/Stockholm'): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) throw vardError('VARD_ERR_DESK_DATE_INVALID', [s]);
  const d = DateTime.fromISO(s, { zone });
  if (!d.isValid || d.toISODate() !== s) throw vardError('VARD_ERR_DESK_DATE_INVALID', [s]);
  return s;
}

/** A calendar month as the half-open instant range [start, end) in a zone. */
export interface MonthRange {
  readonly month: string;
  readonly start: Date;
  readonly end: Date;
}

/** @throws VARD_ERR_DESK_MONTH_INVALID */
export function parseMonth(s: string, zone = 'Europe/Stockholm'): MonthRange {
  const m = /^(\d{4})-(\d{2})$/.exec(s);
  const month = m ? Number(m[2]) : 0;
  if (!m || month < 1 || month > 12) throw vardError('VARD_ERR_DESK_MONTH_INVALID', [s]);
  const start = DateTime.fromObject({ year: Number(m[1]), month, day: 1 }, { zone });
  return { month: s, start: start.toJSDate(), end: start.plus({ months: 1 }).toJSDate() };
}
