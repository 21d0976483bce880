export { businessCalendar, swedishClosedDays } from './business-calendar.ts';
export type { BusinessCalendar, CalendarOptions, OpeningHours } from './business-calendar.ts';
export { fixedClock, systemClock } from './clock.ts';
export type { Clock, FixedClock } from './clock.ts';
export { parseIsoDate, parseMonth } from './dates.ts';
export type { MonthRange } from './dates.ts';
