import assert from 'node:assert/strict';
import { test } from 'node:test';
import { businessCalendar } from '../../src/calendar/index.ts';
import { businessClock, DEFAULT_TARGETS, incidentResponseDeadline, INITIAL_PROBE_STATE, nextProbeState, type ProbeResult, type SiteProbeState } from '../../src/desk/index.ts';

const cal = businessCalendar();
const at = (s: string): Date => new Date(s);

test('incident deadline in business hours: the contract target, default 15 minutes', () => {
  const d = incidentResponseDeadline(at('2026-11-10T10:00:00+01:00'), cal);
  assert.equal(d.rule, 'business-hours');
  assert.equal(d.minutes, 15);
  assert.deepEqual(d.due, at('2026-11-10T10:15:00+01:00'));
  // at 15:55 the 15 minutes run on past closing: wall-clock, not business time
  assert.deepEqual(incidentResponseDeadline(at('2026-11-10T15:55:00+01:00'), cal).due, at('2026-11-10T16:10:00+01:00'));
  const custom = incidentResponseDeadline(at('2026-11-10T10:00:00+01:00'), cal, { ...DEFAULT_TARGETS, incidentResponseMinutes: 5 });
  assert.deepEqual(custom.due, at('2026-11-10T10:05:00+01:00'));
});

test('incident deadline on weekends and holidays: at most 60 minutes', () => {
  const sat = incidentResponseDeadline(at('2026-11-14T11:00:00+01:00'), cal);
  assert.equal(sat.rule, 'closed-day');
  assert.deepEqual(sat.due, at('2026-11-14T12:00:00+01:00'));
  const midsummer = incidentResponseDeadline(at('2026-06-19T10:00:00+02:00'), cal);
  assert.equal(midsummer.rule, 'closed-day');
  assert.equal(midsummer.minutes, 60);
  const xmasEve = incidentResponseDeadline(at('2026-12-24T13:00:00+01:00'), cal, { ...DEFAULT_TARGETS, incidentOffHoursMinutes: 30 });
  assert.equal(xmasEve.minutes, 30);
});

test('incident deadline on a weekday night: 60 minutes, like a weekend', () => {
  const night = incidentResponseDeadline(at('2026-11-10T02:30:00+01:00'), cal);
  assert.equal(night.rule, 'weekday-off-hours');
  assert.deepEqual(night.due, at('2026-11-10T03:30:00+01:00'));
  assert.equal(incidentResponseDeadline(at('2026-11-10T16:00:00+01:00'), cal).rule, 'weekday-off-hours');
  assert.equal(incidentResponseDeadline(at('2026-11-10T08:59:00+01:00'), cal).rule, 'weekday-off-hours');
});

test('ticket clock counts business time and turns at-risk before the breach', () => {
  const start = at('2026-11-13T14:00:00+01:00'); // Friday 14:00, target 240 business minutes
  const c = (now: string, stop?: string) => businessClock(start, stop ? at(stop) : undefined, 240, at(now), cal, 0.8);
  assert.equal(c('2026-11-13T15:00:00+01:00').state, 'running'); // 60 min
  assert.equal(c('2026-11-15T20:00:00+01:00').elapsedMinutes, 120); // weekend does not count
  assert.equal(c('2026-11-15T20:00:00+01:00').state, 'running');
  const risk = c('2026-11-16T10:12:00+01:00'); // 120 + 72 = 192 = 80 %
  assert.equal(risk.state, 'at-risk');
  assert.deepEqual(risk.atRiskAt, at('2026-11-16T10:12:00+01:00'));
  assert.deepEqual(risk.dueAt, at('2026-11-16T11:00:00+01:00'));
  assert.equal(c('2026-11-16T11:01:00+01:00').state, 'breached');
  assert.equal(c('2026-11-17T11:00:00+01:00', '2026-11-16T10:30:00+01:00').state, 'met');
  assert.equal(c('2026-11-17T11:00:00+01:00', '2026-11-16T11:30:00+01:00').state, 'missed');
});

test('monitor transitions: N failures open, success recovers, blips are forgotten', () => {
  const r = (ok: boolean, t: string): ProbeResult => ({ site: 'a.example', ok, at: at(t), detail: ok ? 'HTTP 200' : 'HTTP 503' });
  let s: SiteProbeState = INITIAL_PROBE_STATE;
  const step = (p: ProbeResult) => {
    const n = nextProbeState(s, p, 3);
    s = n.state;
    return n.decision;
  };
  assert.equal(step(r(false, '2026-11-10T10:00:00Z')).kind, 'none');
  assert.equal(step(r(true, '2026-11-10T10:00:30Z')).kind, 'none'); // blip
  assert.equal(step(r(false, '2026-11-10T10:01:00Z')).kind, 'none');
  assert.equal(step(r(false, '2026-11-10T10:01:30Z')).kind, 'none');
  const open = step(r(false, '2026-11-10T10:02:00Z'));
  assert.deepEqual(open, { kind: 'open', downSince: at('2026-11-10T10:01:00Z') });
  s = { ...s, openIncident: 7 };
  assert.equal(step(r(false, '2026-11-10T10:02:30Z')).kind, 'none'); // no second incident
  assert.deepEqual(step(r(true, '2026-11-10T10:05:00Z')), { kind: 'recover', incident: 7, upAt: at('2026-11-10T10:05:00Z') });
  assert.deepEqual(s, INITIAL_PROBE_STATE);
});
