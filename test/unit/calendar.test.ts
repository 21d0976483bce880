import assert from 'node:assert/strict';
import { test } from 'node:test';
import { businessCalendar, fixedClock, parseIsoDate, parseMonth } from '../../src/calendar/index.ts';
import { isVardError } from '../../src/errors/index.ts';

const cal = businessCalendar();
const at = (s: string): Date => new Date(s);

test('the three eves are closed: midsummer, Christmas and New Year eve', () => {
  assert.equal(cal.closedReason('2026-06-19'), 'midsommarafton');
  assert.equal(cal.closedReason('2025-12-24'), 'julafton');
  assert.equal(cal.closedReason('2025-12-31'), 'nyårsafton');
  assert.equal(cal.closedReason('2027-06-25'), 'midsommarafton');
});

test('statutory red days match the golden table (notes §9) and half-days stay open', () => {
  const golden: Record<string, string[]> = {
    '2024': ['03-29', '04-01', '05-09', '06-21'],
    '2025': ['04-18', '04-21', '05-29', '06-20'],
    '2026': ['04-03', '04-06', '05-14', '06-19'],
    '2027': ['03-26', '03-29', '05-06', '06-25'],
  };
  for (const [y, days] of Object.entries(golden)) {
    for (const d of days) assert.equal(cal.isBusinessDay(`${y}-${d}`), false, `${y}-${d} should be closed`);
  }
  for (const d of ['2026-01-01', '2026-01-06', '2026-05-01', '2026-06-06', '2026-12-25', '2026-12-26']) {
    assert.notEqual(cal.closedReason(d), undefined, d);
  }
  // valborgsmässoafton, skärtorsdagen and trettondagsafton are normal business days by default
  assert.equal(cal.isBusinessDay('2026-04-30'), true);
  assert.equal(cal.isBusinessDay('2026-04-02'), true);
  assert.equal(cal.isBusinessDay('2026-01-05'), true);
  assert.equal(cal.closedReason('2026-11-07'), 'weekend');
  assert.equal(cal.isBusinessDay('2026-11-09'), true);
});

test('open hours are 09:00-16:00 Stockholm time, in winter and summer', () => {
  assert.equal(cal.isOpen(at('2026-11-10T08:00:00Z')), true); // 09:00 CET
  assert.equal(cal.isOpen(at('2026-11-10T07:59:59Z')), false);
  assert.equal(cal.isOpen(at('2026-11-10T15:00:00Z')), false); // 16:00 CET, closed
  assert.equal(cal.isOpen(at('2026-06-10T07:00:00Z')), true); // 09:00 CEST
  assert.equal(cal.isOpen(at('2026-06-10T13:59:00Z')), true);
  assert.equal(cal.isOpen(at('2026-06-19T10:00:00Z')), false); // midsummer eve
});

test('business duration across a night', () => {
  // Tue 15:00 -> Wed 10:00 (CET): 60 + 60 minutes
  assert.equal(cal.businessMinutesBetween(at('2026-11-10T14:00:00Z'), at('2026-11-11T09:00:00Z')), 120);
});

test('business duration across a weekend', () => {
  // Fri 15:30 -> Mon 09:30 (CET)
  assert.equal(cal.businessMinutesBetween(at('2026-11-13T14:30:00Z'), at('2026-11-16T08:30:00Z')), 60);
  // entirely inside a weekend
  assert.equal(cal.businessMinutesBetween(at('2026-11-14T09:00:00Z'), at('2026-11-15T15:00:00Z')), 0);
  // reversed range is zero, not negative
  assert.equal(cal.businessMinutesBetween(at('2026-11-16T08:30:00Z'), at('2026-11-13T14:30:00Z')), 0);
});

test('business duration across Christmas and New Year', () => {
  // Wed 23 Dec 2026 15:00 -> Mon 4 Jan 2027 10:00. Closed: 24, 25, 26 (Sat), 27 (Sun), 31, 1 Jan, 2-3 weekend.
  // Open: 23 (60 min), 28, 29, 30 Dec (3 x 420), 4 Jan (60 min)
  assert.equal(cal.businessMinutesBetween(at('2026-12-23T14:00:00Z'), at('2027-01-04T09:00:00Z')), 60 + 3 * 420 + 60);
});

test('business duration across the spring DST change (last Sunday of March)', () => {
  // Fri 27 Mar 2026 15:00 CET (14:00Z) -> Mon 30 Mar 10:00 CEST (08:00Z): 120 business minutes,
  // although only 66 wall-clock hours pass
  const a = at('2026-03-27T14:00:00Z');
  const b = at('2026-03-30T08:00:00Z');
  assert.equal((b.getTime() - a.getTime()) / 3_600_000, 66);
  assert.equal(cal.businessMinutesBetween(a, b), 120);
  // Monday opens at 09:00 CEST = 07:00Z
  assert.deepEqual(cal.addBusinessMinutes(a, 90), at('2026-03-30T07:30:00Z'));
});

test('business duration across the autumn DST change (last Sunday of October)', () => {
  // Fri 23 Oct 2026 15:30 CEST (13:30Z) -> Mon 26 Oct 09:30 CET (08:30Z)
  const a = at('2026-10-23T13:30:00Z');
  const b = at('2026-10-26T08:30:00Z');
  assert.equal((b.getTime() - a.getTime()) / 3_600_000, 67);
  assert.equal(cal.businessMinutesBetween(a, b), 60);
  assert.deepEqual(cal.addBusinessMinutes(a, 60), b);
});

test('adding business minutes skips nights, weekends and holidays', () => {
  // Thu 18 Jun 2026 15:00 CEST + 120 min: 60 on Thursday, Fri 19 is midsummer eve, Mon 22 09:00 + 60
  assert.deepEqual(cal.addBusinessMinutes(at('2026-06-18T13:00:00Z'), 120), at('2026-06-22T08:00:00Z'));
  // from a Saturday, the clock starts on Monday 09:00
  assert.deepEqual(cal.addBusinessMinutes(at('2026-11-14T12:00:00Z'), 30), at('2026-11-16T08:30:00Z'));
  // a full day's worth lands exactly on closing time
  assert.deepEqual(cal.addBusinessMinutes(at('2026-11-16T08:00:00Z'), 420), at('2026-11-16T15:00:00Z'));
  assert.deepEqual(cal.nextOpening(at('2026-11-16T15:00:00Z')), at('2026-11-17T08:00:00Z'));
  assert.deepEqual(cal.nextOpening(at('2026-11-16T10:00:00Z')), at('2026-11-16T10:00:00Z'));
  assert.throws(() => cal.addBusinessMinutes(at('2026-11-16T10:00:00Z'), -1), RangeError);
});

test('add then measure round-trips', () => {
  const clock = fixedClock('2026-12-22T10:17:00Z');
  for (const m of [1, 59, 420, 421, 2000, 10_000]) {
    const end = cal.addBusinessMinutes(clock.now(), m);
    assert.equal(cal.businessMinutesBetween(clock.now(), end), m, `round trip of ${m}`);
  }
});

test('business days: after 23 Dec 2026 come 28, 29, 30 Dec and 4 Jan', () => {
  assert.equal(cal.addBusinessDays('2026-12-23', 1), '2026-12-28');
  assert.equal(cal.addBusinessDays('2026-12-23', 4), '2027-01-04');
  assert.equal(cal.addBusinessDays('2026-12-24', 0), '2026-12-28');
});

test('nonexistent dates and months are coded errors', () => {
  assert.equal(parseIsoDate('2028-02-29'), '2028-02-29');
  for (const bad of ['2026-02-30', '2026-02-29', '2026-13-01', '2026-1-5', 'tomorrow', '']) {
    assert.throws(() => parseIsoDate(bad), (e) => isVardError(e, 'VARD_ERR_DESK_DATE_INVALID'), bad);
  }
  const nov = parseMonth('2026-11');
  assert.equal(nov.start.toISOString(), '2026-10-31T23:00:00.000Z');
  assert.equal(nov.end.toISOString(), '2026-11-30T23:00:00.000Z');
  for (const bad of ['2026-13', '2026-00', '2026-1', 'nov']) {
    assert.throws(() => parseMonth(bad), (e) => isVardError(e, 'VARD_ERR_DESK_MONTH_INVALID'), bad);
  }
});
