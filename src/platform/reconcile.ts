import { applyConfigSet, prestageConfigSet, setStatus, versionOf } from '../apply/config-set.ts';
import { crashAfterStep } from '../apply/faults.ts';
import type { DaemonDriver } from '../daemon/index.ts';
import { isVardError, vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import type { HostSpec, Platform } from '../model/index.ts';
import type { ConfigSet } from '../render/index.ts';
import type { FirewallRule, LbContribution, RoleContext, RoleModule } from '../roles/contract.ts';
import { ROLES } from '../roles/registry.ts';
import { describeStep, planPlatform, type DesiredSet, type HostObservation, type Plan, type PlanRole, type Step } from './plan.ts';

export interface ReconcileOptions {
  readonly hostOf: (name: string) => Host;
  readonly progress?: (msg: string) => void;
  /** Compute and return the plan without changing anything. */
  readonly dryRun?: boolean;
}

export interface ReconcileReport {
  readonly plan: Plan;
  readonly skippedHosts: readonly string[];
  readonly applied: readonly string[];
}

/** A config set with the role that rendered it. */
export interface RoleSet {
  readonly role: RoleModule;
  readonly set: ConfigSet;
}

/** What every role asks of the load balancers, merged. Pure. */
export function lbContribution(p: Platform): LbContribution {
  const parts = ROLES.map((r) => r.lbServices?.(p) ?? {});
  return { http: parts.flatMap((x) => x.http ?? []), tcp: parts.flatMap((x) => x.tcp ?? []) };
}

/** The roles a host carries: those its topology names, and those every host carries. */
export function rolesOn(host: { readonly roles: readonly string[] }): RoleModule[] {
  return ROLES.filter((r) => r.everyHost || host.roles.includes(r.id));
}

/**
 * What one host accepts from the network: each of its roles' own rules, and the ports of the
 * services the balancers route to it, from the balancers only. Pure.
 */
export function hostAccepts(p: Platform, host: HostSpec, lb: LbContribution = lbContribution(p)): FirewallRule[] {
  const balancers = ROLES.filter((r) => r.balancer).map((r) => r.id);
  const served = [...(lb.http ?? []), ...(lb.tcp ?? [])].flatMap((s) => s.servers.filter((x) => x.host === host.name).map((x) => x.port));
  const ports = [...new Set(served)].sort((a, b) => a - b);
  const own = rolesOn(host).flatMap((r) => r.accepts?.(p, host, lb) ?? []);
  return ports.length ? [...own, { proto: 'tcp', ports, from: balancers, why: 'what the load balancers route here' }] : own;
}

/** Every config set one host must hold, role by role in bring-up order. Pure. */
export function renderHost(p: Platform, host: HostSpec, lb: LbContribution = lbContribution(p)): RoleSet[] {
  const accepts = hostAccepts(p, host, lb);
  return rolesOn(host).flatMap((role) => role.render(p, host, lb, accepts).map((set) => ({ role, set })));
}

/** Renders every host's config sets. Pure. */
export function renderPlatform(p: Platform, lb: LbContribution = lbContribution(p)): Map<string, RoleSet[]> {
  return new Map(p.topology.hosts.map((h) => [h.name, renderHost(p, h, lb)]));
}

export function driverOf(rs: RoleSet): DaemonDriver {
  const d = rs.role.daemons[rs.set.daemon];
  if (!d) throw vardError('VARD_ERR_INTERNAL', [`role ${rs.role.id} renders ${rs.set.daemon} but has no driver for it`]);
  return d;
}

export const PLAN_ROLES: readonly PlanRole[] = ROLES.map((r) => ({
  id: r.id,
  rollout: r.rollout,
  balancer: r.balancer !== undefined,
  handover: r.handover !== undefined,
  converge: r.converge !== undefined,
}));

/**
 * Marks a host taken out of rotation for a role until it is put back: written before the drain,
 * removed after the undrain, so a run that dies in between leaves the next one an undrain to do.
 * On the drained host, under /etc: it outlives that host's reboot as the balancers' state does.
 */
export function rotationMarkOf(role: string): string {
  return `/etc/vard/out-of-rotation.${role}`;
}

async function observe(p: Platform, desired: Map<string, RoleSet[]>, hostOf: (n: string) => Host): Promise<{ observed: HostObservation[]; down: string[] }> {
  const observed: HostObservation[] = [];
  const down: string[] = [];
  await Promise.all(
    p.topology.hosts.map(async (spec) => {
      const host = hostOf(spec.name);
      try {
        const sets = [];
        for (const rs of desired.get(spec.name) ?? []) sets.push(await setStatus(host, rs.set, driverOf(rs)));
        const residue = [];
        for (const r of rolesOn(spec)) if (r.siteResidue) residue.push({ role: r.id, slugs: await r.siteResidue(host) });
        const outOfRotation = [];
        for (const r of rolesOn(spec)) if (await host.exists(rotationMarkOf(r.id))) outOfRotation.push(r.id);
        observed.push({ host: spec.name, roles: rolesOn(spec).map((r) => r.id), sets, residue, outOfRotation });
      } catch (e) {
        if (isVardError(e, 'VARD_ERR_HOST_DOWN')) down.push(spec.name);
        else throw e;
      }
    }),
  );
  return { observed, down };
}

/**
 * Level-based: reads the desired state and what the hosts hold, plans, applies. Running it twice
 * changes nothing the second time. Hosts that are down are skipped and reported; they converge
 * when they come back (the lab's revive runs this again).
 */
export async function reconcilePlatform(p: Platform, o: ReconcileOptions): Promise<ReconcileReport> {
  const say = o.progress ?? (() => undefined);
  const ctx: RoleContext = { platform: p, hostOf: o.hostOf, say };
  const lb = lbContribution(p);
  const desiredAll = renderPlatform(p, lb);
  const { observed, down } = await observe(p, desiredAll, o.hostOf);
  const desired = new Map([...desiredAll].filter(([h]) => !down.includes(h)));
  const active: Record<string, string | undefined> = {};
  for (const r of ROLES) if (r.active && r.rollout.kind === 'active-last') active[r.id] = await r.active(ctx);
  const plan = planPlatform({
    roles: PLAN_ROLES,
    desired: new Map([...desired].map(([h, sets]) => [h, sets.map((rs): DesiredSet => ({ role: rs.role.id, daemon: rs.set.daemon, version: versionOf(rs.set) }))])),
    desiredSlugs: p.sites.map((s) => s.slug),
    observed,
    active,
  });
  if (down.length) say(`skipping hosts that are down: ${down.join(', ')}`);
  if (o.dryRun) return { plan, skippedHosts: down, applied: [] };

  const spec = (name: string): HostSpec => p.topology.hosts.find((h) => h.name === name) as HostSpec;
  const roleOf = (id: string): RoleModule => ROLES.find((r) => r.id === id) as RoleModule;
  await Promise.all(
    plan.steps.flatMap((s) => (s.kind === 'prepare' ? [s.host] : [])).map(async (name) => {
      const h = o.hostOf(name);
      // Every daemon's pidfile and log live here (daemon/process.ts).
      await h.mkdir('/run/vard');
      await h.mkdir('/var/log/vard');
      for (const r of rolesOn(spec(name))) if (r.prepareHost) await r.prepareHost(ctx, spec(name));
    }),
  );
  for (const r of ROLES) if (r.bootstrap && p.topology.hosts.some((h) => rolesOn(h).includes(r))) await r.bootstrap(ctx);
  const prechecked = await prestageRolling(ctx, plan, desired, roleOf);
  const applied: string[] = [];
  /** Hosts this run took out of rotation and has not put back yet. */
  const drained = new Map<string, Step>();
  // An all-at-once role's sets go to all its hosts at the same time (one host's own sets in order):
  // the firewall of every host of the reference platform in the time of one.
  const together = (s: Step | undefined, role: string): s is Extract<Step, { kind: 'apply' }> => s?.kind === 'apply' && s.role === role && roleOf(role).rollout.kind === 'all-at-once';
  const putBack = async () => {
    // The failed change was rolled back (applyConfigSet): its host serves what it served before.
    for (const back of drained.values()) {
      say(`${describeStep(back)} after the failure`);
      await runStep(ctx, back, desired, lb, spec, roleOf).catch((e2: unknown) => say(`putting it back failed too (the next run retries): ${isVardError(e2) ? e2.message : String(e2)}`));
    }
  };
  for (let i = 0; i < plan.steps.length; ) {
    const first = plan.steps[i]!;
    let batch: Step[] = [first];
    if (first.kind === 'apply' && together(first, first.role)) {
      let j = i + 1;
      while (together(plan.steps[j], first.role)) j++;
      batch = plan.steps.slice(i, j);
    }
    i += batch.length;
    if (first.kind === 'prepare') continue;
    for (const step of batch) if (step.kind !== 'converge') say(describeStep(step));
    const byHost = new Map<string, Step[]>();
    for (const step of batch) {
      const key = 'host' in step ? step.host : '';
      byHost.set(key, [...(byHost.get(key) ?? []), step]);
    }
    const results = await Promise.allSettled(
      [...byHost.values()].map(async (steps) => {
        for (const step of steps) await runStep(ctx, step, desired, lb, spec, roleOf, prechecked);
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await putBack();
      throw failed.reason;
    }
    for (const step of batch) {
      if (step.kind === 'drain') drained.set(`${step.host} ${step.role}`, { kind: 'undrain', host: step.host, role: step.role });
      if (step.kind === 'undrain') drained.delete(`${step.host} ${step.role}`);
      if (step.kind !== 'converge') {
        applied.push(describeStep(step));
        crashAfterStep(applied.length, describeStep(step));
      }
    }
  }
  return { plan, skippedHosts: down, applied };
}

/** Key of one host's set version in `prestageRolling`'s answer. */
const stagedKey = (host: string, daemon: string, version: string): string => `${host} ${daemon} ${version}`;

/**
 * A one-at-a-time role's hosts are changed in turn, each out of rotation meanwhile; staging and
 * checking their new versions changes nothing that runs, so it happens on all of them at once
 * first, and each host's turn is only the swap, the reload and the verification. A version its
 * daemon rejects fails the run here, before any host left rotation.
 */
async function prestageRolling(ctx: RoleContext, plan: Plan, desired: Map<string, RoleSet[]>, roleOf: (id: string) => RoleModule): Promise<Set<string>> {
  const rolling = plan.steps.filter((s): s is Extract<Step, { kind: 'apply' }> => s.kind === 'apply' && roleOf(s.role).rollout.kind === 'one-at-a-time');
  const done = new Set<string>();
  if (new Set(rolling.map((s) => s.host)).size < 2) return done;
  const byHost = new Map<string, Extract<Step, { kind: 'apply' }>[]>();
  for (const s of rolling) byHost.set(s.host, [...(byHost.get(s.host) ?? []), s]);
  await Promise.all(
    [...byHost.entries()].map(async ([host, steps]) => {
      for (const s of steps) {
        const rs = desired.get(host)?.find((x) => x.role.id === s.role && x.set.daemon === s.daemon);
        if (rs && (await prestageConfigSet(ctx.hostOf(host), rs.set, driverOf(rs)))) done.add(stagedKey(host, s.daemon, versionOf(rs.set)));
      }
    }),
  );
  return done;
}

async function runStep(ctx: RoleContext, step: Step, desired: Map<string, RoleSet[]>, lb: LbContribution, spec: (n: string) => HostSpec, roleOf: (id: string) => RoleModule, prechecked: ReadonlySet<string> = new Set()): Promise<void> {
  switch (step.kind) {
    case 'drain':
      await ctx.hostOf(step.host).writeFile(rotationMarkOf(step.role), `${new Date().toISOString()}\n`);
      for (const r of ROLES) await r.balancer?.setRotation(ctx, step.host, false, lb);
      return;
    case 'undrain':
      for (const r of ROLES) await r.balancer?.setRotation(ctx, step.host, true, lb);
      await ctx.hostOf(step.host).remove(rotationMarkOf(step.role));
      return;
    case 'handover':
      return roleOf(step.role).handover?.(ctx, step.host);
    case 'converge':
      return roleOf(step.role).converge?.(ctx);
    case 'remove-site':
      return roleOf(step.role).removeSiteResidue?.(ctx.hostOf(step.host), step.slug);
    case 'apply': {
      const rs = desired.get(step.host)?.find((x) => x.role.id === step.role && x.set.daemon === step.daemon);
      if (!rs) throw vardError('VARD_ERR_INTERNAL', [`no ${step.daemon} set for ${step.host}`]);
      const driver = driverOf(rs);
      const verify = rs.role.verify;
      const verified: DaemonDriver = verify ? { ...driver, ready: async (h: Host) => { await driver.ready(h); await verify(ctx, spec(step.host), rs.set); } } : driver;
      await applyConfigSet(ctx.hostOf(step.host), rs.set, verified, { prechecked: prechecked.has(stagedKey(step.host, step.daemon, versionOf(rs.set))) });
      return;
    }
    case 'prepare':
      return;
  }
}

