import Holidays from 'date-holidays';
import { DateTime } from 'luxon';

/** Wall-clock opening hours, "HH:MM" in the calendar's zone. */
export interface OpeningHours {
  readonly from: string;
  readonly to: string;
}

export interface CalendarOptions {
  /** @default 'Europe/Stockholm' */
  readonly zone?: string;
  /** @default { from: '09:00', to: '16:00' } — support hours of [S4] */
  readonly open?: OpeningHours;
  /**
   * Answers whether a local date (YYYY-MM-DD) is a closed day besides weekends, with its name.
   * @default Swedish public holidays plus midsummer, Christmas and New Year's eves (date-holidays SE, public+bank)
   */
  readonly closedDay?: (isoDate: string) => string | undefined;
}

export interface BusinessCalendar {
  readonly zone: string;
  /** The local calendar date (YYYY-MM-DD) of an instant. */
  localDate(at: Date): string;
  /** Why a local date is closed ('weekend', a holiday name) or undefined on a business day. */
  closedReason(isoDate: string): string | undefined;
  isBusinessDay(isoDate: string): boolean;
  /** True inside opening hours on a business day. */
  isOpen(at: Date): boolean;
  /** Business milliseconds in [from, to); 0 when to <= from. */
  businessMsBetween(from: Date, to: Date): number;
  businessMinutesBetween(from: Date, to: Date): number;
  /** The instant `minutes` business minutes after `from` (`from` itself when 0 and open). */
  addBusinessMinutes(from: Date, minutes: number): Date;
  /** The first instant >= `at` at which support is open. */
  nextOpening(at: Date): Date;
  /** The n-th business day after a local date (n >= 0; n = 0 gives the date itself or the next business day). */
  addBusinessDays(isoDate: string, n: number): string;
}

/** Longer than any closed stretch can be; a guard against endless loops on a misconfigured calendar. */
const MAX_DAYS = 3700;

/**
 * Swedish closed days from a maintained library, never a hand-typed list: the 13 statutory days of
 * SFS 1989:253 ('public') plus midsommarafton, julafton and nyårsafton ('bank'), see
 * notes/drupal-and-solr.md §9. Results are cached per year.
 */
export function swedishClosedDays(): (isoDate: string) => string | undefined {
  const hd = new Holidays('SE', { types: ['public', 'bank'] });
  const byYear = new Map<number, Map<string, string>>();
  return (isoDate) => {
    const year = Number(isoDate.slice(0, 4));
    let days = byYear.get(year);
    if (!days) {
      days = new Map();
      for (const h of hd.getHolidays(year)) days.set(h.date.slice(0, 10), h.name);
      byYear.set(year, days);
    }
    return days.get(isoDate);
  };
}

function parseHm(s: string): { hour: number; minute: number } {
  const m = /^(\d{2}):(\d{2})$/.exec(s);
  if (!m) throw new RangeError(`opening hour "${s}" is not HH:MM`);
  return { hour: Number(m[1]), minute: Number(m[2]) };
}

/** Builds the business calendar. Pure apart from reading the holiday library's data. */
export function businessCalendar(opts: CalendarOptions = {}): BusinessCalendar {
  const zone = opts.zone ?? 'Europe/Stockholm';
  const from = parseHm(opts.open?.from ?? '09:00');
  const to = parseHm(opts.open?.to ?? '16:00');
  const closedDay = opts.closedDay ?? swedishClosedDays();

  const local = (at: Date): DateTime => DateTime.fromJSDate(at, { zone });
  const dayStart = (iso: string): DateTime => DateTime.fromISO(iso, { zone }).startOf('day');

  function closedReason(iso: string): string | undefined {
    const d = dayStart(iso);
    if (!d.isValid) throw new RangeError(`"${iso}" is not a date`);
    if (d.weekday >= 6) return 'weekend';
    return closedDay(iso);
  }

  /** The open window of a local day, as epoch ms, or undefined when the day is closed. Wall-clock
   * times are resolved in the zone for that day, so DST days still open at 09:00 local. */
  function window(day: DateTime): [number, number] | undefined {
    const iso = day.toISODate()!;
    if (closedReason(iso) !== undefined) return undefined;
    return [day.set({ ...from, second: 0, millisecond: 0 }).toMillis(), day.set({ ...to, second: 0, millisecond: 0 }).toMillis()];
  }

  function businessMsBetween(a: Date, b: Date): number {
    const start = a.getTime();
    const end = b.getTime();
    if (end <= start) return 0;
    let total = 0;
    let day = local(a).startOf('day');
    for (let i = 0; i < MAX_DAYS * 10 && day.toMillis() < end; i++, day = day.plus({ days: 1 })) {
      const w = window(day);
      if (!w) continue;
      const s = Math.max(w[0], start);
      const e = Math.min(w[1], end);
      if (e > s) total += e - s;
    }
    return total;
  }

  function addBusinessMinutes(at: Date, minutes: number): Date {
    if (!(minutes >= 0)) throw new RangeError(`business minutes must be >= 0, got ${minutes}`);
    let remaining = Math.round(minutes * 60_000);
    let day = local(at).startOf('day');
    for (let i = 0; i < MAX_DAYS; i++, day = day.plus({ days: 1 })) {
      const w = window(day);
      if (!w) continue;
      const s = Math.max(w[0], at.getTime());
      if (s >= w[1]) continue;
      if (s + remaining <= w[1]) return new Date(s + remaining);
      remaining -= w[1] - s;
    }
    throw new RangeError(`no business time within ${MAX_DAYS} days of ${at.toISOString()}`);
  }

  return {
    zone,
    localDate: (at) => local(at).toISODate()!,
    closedReason,
    isBusinessDay: (iso) => closedReason(iso) === undefined,
    isOpen(at) {
      const w = window(local(at).startOf('day'));
      return w !== undefined && at.getTime() >= w[0] && at.getTime() < w[1];
    },
    businessMsBetween,
    businessMinutesBetween: (a, b) => businessMsBetween(a, b) / 60_000,
    addBusinessMinutes,
    nextOpening: (at) => addBusinessMinutes(at, 0),
    addBusinessDays(iso, n) {
      let d = dayStart(iso);
      if (!d.isValid) throw new RangeError(`"${iso}" is not a date`);
      while (closedReason(d.toISODate()!) !== undefined) d = d.plus({ days: 1 });
      for (let left = n; left > 0; ) {
        d = d.plus({ days: 1 });
        if (closedReason(d.toISODate()!) === undefined) left--;
      }
      return d.toISODate()!;
    },
  };
}
