import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { parseIsoDate } from '../calendar/index.ts';
import { canSee, requireStaff, type Actor } from './actor.ts';
import { DEFAULT_TARGETS, type ServiceTargets } from './clocks.ts';
import type { DeskContext } from './context.ts';
import { exitPlan, noticeEndDate, type ExitStep } from './contract-rules.ts';

export interface Notice {
  readonly id: number;
  readonly noticeDate: string;
  /** Last day of service, inclusive. */
  readonly endDate: string;
  readonly givenAt: string;
  readonly givenBy: string;
  readonly withdrawnAt: string | undefined;
  readonly withdrawnBy: string | undefined;
  readonly exitPlan: readonly ExitStep[];
}

export interface Contract {
  readonly customer: string;
  readonly startDate: string;
  readonly noticeMonths: number;
  readonly retentionDays: number;
  readonly targets: ServiceTargets;
  /** 'active' (rolling), 'notice-given' (ends on notice.endDate) or 'ended'. */
  readonly status: 'active' | 'notice-given' | 'ended';
  readonly notice: Notice | undefined;
  /** Every notice ever given, withdrawn ones included, oldest first. */
  readonly notices: readonly Notice[];
}

interface NoticeRow {
  id: number;
  notice_date: string;
  end_date: string;
  exit_plan: string;
  given_at: string;
  given_by: string;
  withdrawn_at: string | null;
  withdrawn_by: string | null;
}

const toNotice = (r: NoticeRow): Notice => ({
  id: r.id,
  noticeDate: r.notice_date,
  endDate: r.end_date,
  givenAt: r.given_at,
  givenBy: r.given_by,
  withdrawnAt: r.withdrawn_at ?? undefined,
  withdrawnBy: r.withdrawn_by ?? undefined,
  exitPlan: JSON.parse(r.exit_plan) as ExitStep[],
});

/** Validates per-contract targets; [S3] caps the off-hours response at 60 minutes. */
function targetProblems(t: Partial<ServiceTargets>): Problem[] {
  const p: Problem[] = [];
  const pos = (k: keyof ServiceTargets, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) p.push({ path: k, message: `must be a positive number, got ${v}` });
  };
  pos('incidentResponseMinutes', t.incidentResponseMinutes);
  pos('incidentOffHoursMinutes', t.incidentOffHoursMinutes);
  pos('ticketFirstResponseMinutes', t.ticketFirstResponseMinutes);
  pos('ticketResolutionMinutes', t.ticketResolutionMinutes);
  if (t.incidentOffHoursMinutes !== undefined && t.incidentOffHoursMinutes > 60) p.push({ path: 'incidentOffHoursMinutes', message: 'the commitment [S3] promises at most 60 minutes' });
  if (t.incidentResponseMinutes !== undefined && t.incidentResponseMinutes > 60) p.push({ path: 'incidentResponseMinutes', message: '"at once" cannot be slower than the 60 minutes of a holiday' });
  if (t.atRiskRatio !== undefined && !(t.atRiskRatio > 0 && t.atRiskRatio < 1)) p.push({ path: 'atRiskRatio', message: 'must be between 0 and 1' });
  return p;
}

/** Contracts [S1]: rolling, three months' notice, an exit plan [S2] on notice, withdrawal before the end. */
export class Contracts {
  private readonly ctx: DeskContext;
  constructor(ctx: DeskContext) {
    this.ctx = ctx;
  }

  /** Called when a customer is added (same transaction). */
  create(actor: Actor, customer: string, startDate: string, targets: Partial<ServiceTargets> = {}, retentionDays = 30): void {
    requireStaff(actor, 'create contracts');
    parseIsoDate(startDate);
    const problems = targetProblems(targets);
    if (!(Number.isInteger(retentionDays) && retentionDays >= 0)) problems.push({ path: 'retentionDays', message: 'must be a whole number of days' });
    if (problems.length) throw vardError('VARD_ERR_DESK_CONTRACT_INVALID', [formatProblems(problems)], { details: { problems } });
    const t = { ...DEFAULT_TARGETS, ...targets };
    this.ctx.db
      .prepare('INSERT INTO desk_contracts (customer, start_date, notice_months, retention_days, targets, created_at) VALUES (?, ?, 3, ?, ?, ?)')
      .run(customer, startDate, retentionDays, JSON.stringify(t), this.ctx.nowIso());
    this.ctx.audit(actor, 'contract.create', `customer:${customer}`, { startDate, targets: t, retentionDays });
  }

  /** Changes per-contract targets (staff only). */
  setTargets(actor: Actor, customer: string, targets: Partial<ServiceTargets>): Contract {
    requireStaff(actor, 'change contract targets');
    const c = this.show(actor, customer);
    const problems = targetProblems(targets);
    if (problems.length) throw vardError('VARD_ERR_DESK_CONTRACT_INVALID', [formatProblems(problems)], { details: { problems } });
    const t = { ...c.targets, ...targets };
    this.ctx.db.prepare('UPDATE desk_contracts SET targets = ? WHERE customer = ?').run(JSON.stringify(t), customer);
    this.ctx.audit(actor, 'contract.targets', `customer:${customer}`, { before: c.targets, after: t });
    return this.show(actor, customer);
  }

  /** The targets that apply to a customer's sites and tickets; defaults when there is no contract. */
  targets(customer: string | null | undefined): ServiceTargets {
    if (!customer) return DEFAULT_TARGETS;
    const r = this.ctx.db.prepare('SELECT targets FROM desk_contracts WHERE customer = ?').get(customer) as { targets: string } | undefined;
    return r ? { ...DEFAULT_TARGETS, ...(JSON.parse(r.targets) as Partial<ServiceTargets>) } : DEFAULT_TARGETS;
  }

  /** @throws VARD_ERR_DESK_CUSTOMER_NOT_FOUND, VARD_ERR_DESK_CONTRACT_NOT_FOUND */
  show(actor: Actor, customer: string): Contract {
    if (!canSee(actor, customer) || !this.ctx.db.prepare('SELECT 1 FROM desk_customers WHERE slug = ?').get(customer)) {
      throw vardError('VARD_ERR_DESK_CUSTOMER_NOT_FOUND', [customer]);
    }
    const r = this.ctx.db.prepare('SELECT * FROM desk_contracts WHERE customer = ?').get(customer) as
      | { customer: string; start_date: string; notice_months: number; retention_days: number; targets: string }
      | undefined;
    if (!r) throw vardError('VARD_ERR_DESK_CONTRACT_NOT_FOUND', [customer]);
    const notices = (this.ctx.db.prepare('SELECT * FROM desk_notices WHERE customer = ? ORDER BY id').all(customer) as NoticeRow[]).map(toNotice);
    const notice = notices.filter((n) => !n.withdrawnAt).at(-1);
    const today = this.ctx.calendar.localDate(this.ctx.clock.now());
    const status = !notice ? 'active' : today > notice.endDate ? 'ended' : 'notice-given';
    return {
      customer,
      startDate: r.start_date,
      noticeMonths: r.notice_months,
      retentionDays: r.retention_days,
      targets: { ...DEFAULT_TARGETS, ...(JSON.parse(r.targets) as Partial<ServiceTargets>) },
      status,
      notice,
      notices,
    };
  }

  /**
   * Gives notice on `on` (default: today in Europe/Stockholm). A customer user may give its own
   * customer's notice: leaving is the customer's right [S2].
   * @throws VARD_ERR_DESK_DATE_INVALID, VARD_ERR_DESK_NOTICE_INVALID, VARD_ERR_DESK_NOTICE_EXISTS
   */
  giveNotice(actor: Actor, customer: string, on?: string): Contract {
    return this.ctx.db.transaction(() => {
      const c = this.show(actor, customer);
      const today = this.ctx.calendar.localDate(this.ctx.clock.now());
      const noticeDate = on === undefined ? today : parseIsoDate(on);
      if (noticeDate < c.startDate) throw vardError('VARD_ERR_DESK_NOTICE_INVALID', [noticeDate, `the contract starts on ${c.startDate}`]);
      if (noticeDate > today) throw vardError('VARD_ERR_DESK_NOTICE_INVALID', [noticeDate, `it lies in the future (today is ${today})`]);
      if (c.notice) throw vardError('VARD_ERR_DESK_NOTICE_EXISTS', [customer, c.notice.endDate]);
      const endDate = noticeEndDate(noticeDate, c.noticeMonths);
      const plan = exitPlan(noticeDate, endDate, this.ctx.calendar, { retentionDays: c.retentionDays });
      this.ctx.db
        .prepare('INSERT INTO desk_notices (customer, notice_date, end_date, exit_plan, given_at, given_by) VALUES (?, ?, ?, ?, ?, ?)')
        .run(customer, noticeDate, endDate, JSON.stringify(plan), this.ctx.nowIso(), actor.name);
      this.ctx.audit(actor, 'contract.notice', `customer:${customer}`, { noticeDate, endDate, exitPlan: plan });
      return this.show(actor, customer);
    })();
  }

  /**
   * Withdraws the notice in force, possible up to and including the end date. The notice row stays,
   * marked withdrawn, so the history shows both.
   * @throws VARD_ERR_DESK_NOTICE_NONE, VARD_ERR_DESK_NOTICE_TOO_LATE
   */
  withdrawNotice(actor: Actor, customer: string): Contract {
    return this.ctx.db.transaction(() => {
      const c = this.show(actor, customer);
      if (!c.notice) throw vardError('VARD_ERR_DESK_NOTICE_NONE', [customer]);
      if (c.status === 'ended') throw vardError('VARD_ERR_DESK_NOTICE_TOO_LATE', [customer, c.notice.endDate]);
      this.ctx.db.prepare('UPDATE desk_notices SET withdrawn_at = ?, withdrawn_by = ? WHERE id = ?').run(this.ctx.nowIso(), actor.name, c.notice.id);
      this.ctx.audit(actor, 'contract.withdraw', `customer:${customer}`, { noticeDate: c.notice.noticeDate, endDate: c.notice.endDate });
      return this.show(actor, customer);
    })();
  }
}
