import assert from 'node:assert/strict';
import { test } from 'node:test';
import { businessCalendar, fixedClock } from '../../src/calendar/index.ts';
import { exitPlan, noticeEndDate, openDesk, staffActor } from '../../src/desk/index.ts';
import { isVardError } from '../../src/errors/index.ts';
import { openDb } from '../../src/store/index.ts';

const cal = businessCalendar();
const staff = staffActor('cli:test');

test('notice rule: D + 3 calendar months, clamped to the month end', () => {
  assert.equal(noticeEndDate('2026-01-31'), '2026-04-30'); // 31 April does not exist
  assert.equal(noticeEndDate('2026-11-30'), '2027-02-28'); // 30 February does not exist
  assert.equal(noticeEndDate('2027-11-30'), '2028-02-29'); // leap year
  assert.equal(noticeEndDate('2027-11-29'), '2028-02-29');
  assert.equal(noticeEndDate('2028-02-29'), '2028-05-29'); // notice on a leap day
  assert.equal(noticeEndDate('2026-03-15'), '2026-06-15');
  assert.equal(noticeEndDate('2026-12-31'), '2027-03-31');
});

test('exit plan: dated steps, people steps on business days', () => {
  const plan = exitPlan('2026-11-30', '2027-02-28', cal, { retentionDays: 30 });
  const due = Object.fromEntries(plan.map((s) => [s.kind, s.due]));
  assert.deepEqual(Object.keys(due), ['notice-received', 'exit-bundle-delivered', 'dns-ttl-lowered', 'final-backup', 'handover', 'data-deleted']);
  assert.equal(due['notice-received'], '2026-11-30');
  // 10 business days after Mon 30 Nov 2026: 1..4 Dec, 7..11 Dec, 14 Dec
  assert.equal(due['exit-bundle-delivered'], '2026-12-14');
  // 7 days before Sun 28 Feb 2027 is Sun 21 Feb → the business day before, Fri 19 Feb
  assert.equal(due['dns-ttl-lowered'], '2027-02-19');
  assert.equal(due['final-backup'], '2027-02-28');
  assert.equal(due.handover, '2027-02-26'); // last business day on or before the end
  assert.equal(due['data-deleted'], '2027-03-30');
  // the bundle skips Christmas: notice on 17 Dec 2026
  const xmas = exitPlan('2026-12-17', noticeEndDate('2026-12-17'), cal);
  // 18, 21, 22, 23, 28, 29, 30 Dec, 4, 5 Jan, (6 Jan is trettondedag jul) 7 Jan
  assert.equal(xmas.find((s) => s.kind === 'exit-bundle-delivered')?.due, '2027-01-07');
});

test('contract notice and withdrawal through the desk, recorded in history and audit', () => {
  const clock = fixedClock('2026-01-31T10:00:00+01:00');
  const desk = openDesk({ db: openDb(':memory:'), clock, calendar: cal });
  desk.addCustomer(staff, { slug: 'acme', name: 'Acme AB', contractStart: '2025-06-01' });
  assert.equal(desk.contracts.show(staff, 'acme').status, 'active');

  const c = desk.contracts.giveNotice(staff, 'acme');
  assert.equal(c.status, 'notice-given');
  assert.equal(c.notice?.noticeDate, '2026-01-31');
  assert.equal(c.notice?.endDate, '2026-04-30');
  assert.equal(c.notice?.exitPlan.length, 6);
  assert.throws(() => desk.contracts.giveNotice(staff, 'acme'), (e) => isVardError(e, 'VARD_ERR_DESK_NOTICE_EXISTS'));

  clock.set('2026-02-10T12:00:00+01:00');
  const w = desk.contracts.withdrawNotice(staff, 'acme');
  assert.equal(w.status, 'active');
  assert.equal(w.notice, undefined);
  assert.equal(w.notices.length, 1);
  assert.equal(w.notices[0]?.withdrawnBy, 'cli:test');
  assert.ok(w.notices[0]?.withdrawnAt?.startsWith('2026-02-10'));
  assert.throws(() => desk.contracts.withdrawNotice(staff, 'acme'), (e) => isVardError(e, 'VARD_ERR_DESK_NOTICE_NONE'));

  // a second notice, then too late to withdraw after the end date
  desk.contracts.giveNotice(staff, 'acme', '2026-02-10');
  clock.set('2026-05-11T08:00:00+02:00');
  assert.equal(desk.contracts.show(staff, 'acme').status, 'ended');
  assert.throws(() => desk.contracts.withdrawNotice(staff, 'acme'), (e) => isVardError(e, 'VARD_ERR_DESK_NOTICE_TOO_LATE'));
  // withdrawal is still possible on the end date itself
  clock.set('2026-05-10T23:30:00+02:00');
  assert.equal(desk.contracts.withdrawNotice(staff, 'acme').status, 'active');

  const actions = desk.auditLog(staff).map((a) => a.action);
  assert.deepEqual(actions, ['customer.add', 'contract.create', 'contract.notice', 'contract.withdraw', 'contract.notice', 'contract.withdraw']);
});

test('bad notices: nonexistent dates, future dates, before the start, unknown customers', () => {
  const desk = openDesk({ db: openDb(':memory:'), clock: fixedClock('2026-03-02T10:00:00+01:00'), calendar: cal });
  desk.addCustomer(staff, { slug: 'acme', contractStart: '2026-01-15' });
  assert.throws(() => desk.contracts.giveNotice(staff, 'acme', '2026-02-30'), (e) => isVardError(e, 'VARD_ERR_DESK_DATE_INVALID'));
  assert.throws(() => desk.contracts.giveNotice(staff, 'acme', '2026-04-01'), (e) => isVardError(e, 'VARD_ERR_DESK_NOTICE_INVALID'));
  assert.throws(() => desk.contracts.giveNotice(staff, 'acme', '2026-01-01'), (e) => isVardError(e, 'VARD_ERR_DESK_NOTICE_INVALID'));
  assert.throws(() => desk.contracts.giveNotice(staff, 'nobody'), (e) => isVardError(e, 'VARD_ERR_DESK_CUSTOMER_NOT_FOUND'));
  assert.throws(() => desk.addCustomer(staff, { slug: 'Bad Slug' }), (e) => isVardError(e, 'VARD_ERR_DESK_CUSTOMER_INVALID'));
  assert.throws(() => desk.addCustomer(staff, { slug: 'acme' }), (e) => isVardError(e, 'VARD_ERR_DESK_CUSTOMER_EXISTS'));
  assert.throws(() => desk.addCustomer(staff, { slug: 'beta', targets: { incidentOffHoursMinutes: 90 } }), (e) => isVardError(e, 'VARD_ERR_DESK_CONTRACT_INVALID'));
  // the failed contract rolled the customer back too
  assert.equal(desk.people.customer('beta'), undefined);
});
