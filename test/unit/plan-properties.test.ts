/**
 * Property-based tests of the planner (issue 8): random topologies and observations, generated at
 * the planner's own level so that a failure shrinks to a handful of hosts and sets rather than to a
 * platform model. The roles are the registry's plus synthetic ones, so that every rollout kind is
 * exercised even where no real role uses it (a handover, a balancer that is not active-last).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { changingSteps, planPlatform, type DesiredSet, type HostObservation, type ObservedSet, type Plan, type PlanInput, type PlanRole, type Step } from '../../src/platform/plan.ts';
import { PLAN_ROLES } from '../../src/platform/reconcile.ts';

// Fixed so that CI is reproducible; set VARD_FC_SEED to explore other inputs.
const seed = process.env.VARD_FC_SEED ? Number(process.env.VARD_FC_SEED) : 8_004;
const runs = { numRuns: 300, seed };

const SYNTHETIC: readonly PlanRole[] = [
  { id: 'seq', rollout: { kind: 'one-at-a-time', drain: true }, balancer: false, handover: false, converge: false },
  { id: 'batch', rollout: { kind: 'one-at-a-time', drain: false }, balancer: false, handover: false, converge: true },
  { id: 'prim', rollout: { kind: 'active-last' }, balancer: false, handover: true, converge: true },
  { id: 'solo', rollout: { kind: 'active-last' }, balancer: false, handover: false, converge: false },
  { id: 'pool', rollout: { kind: 'all-at-once' }, balancer: false, handover: false, converge: true },
  { id: 'edge', rollout: { kind: 'one-at-a-time', drain: false }, balancer: true, handover: false, converge: false },
  { id: 'vip', rollout: { kind: 'active-last' }, balancer: true, handover: true, converge: false },
];
const ALL_ROLES = [...PLAN_ROLES, ...SYNTHETIC];
const VERSIONS = ['v1', 'v2', 'v3'] as const;
const SLUGS = ['s1', 's2', 's3'] as const;

/** What a host holds for one desired set, relative to it. */
type Seen = { readonly kind: 'missing' | 'same' | 'other' | 'modified' | 'unset'; readonly running: boolean };

interface HostGen {
  readonly up: boolean;
  /** Indices into the scenario's roles (taken modulo, deduplicated): one or two roles. */
  readonly roles: readonly number[];
  /** `slot` picks one of the host's roles; `daemon` is unique per role, so a set is (role, daemon). */
  readonly sets: readonly { readonly slot: number; readonly daemon: number; readonly version: string; readonly seen: Seen }[];
  readonly residue: readonly { readonly slot: number; readonly slugs: readonly string[] }[];
}

interface Scenario {
  readonly roles: readonly PlanRole[];
  readonly hosts: readonly HostGen[];
  readonly desiredSlugs: readonly string[];
  /** Per role index: one of the role's up hosts, any host (maybe down, maybe without the role), or none. */
  readonly active: readonly ({ readonly among: 'role' | 'any'; readonly k: number } | undefined)[];
}

const seenArb: fc.Arbitrary<Seen> = fc.oneof(
  { arbitrary: fc.constant<Seen>({ kind: 'same', running: true }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constantFrom('missing', 'same', 'other', 'modified', 'unset'), running: fc.boolean() }), weight: 1 },
);

const hostArb: fc.Arbitrary<HostGen> = fc.record({
  up: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  roles: fc.array(fc.nat({ max: ALL_ROLES.length - 1 }), { minLength: 1, maxLength: 2 }),
  sets: fc.array(fc.record({ slot: fc.nat({ max: 1 }), daemon: fc.nat({ max: 2 }), version: fc.constantFrom(...VERSIONS), seen: seenArb }), { maxLength: 5 }),
  residue: fc.array(fc.record({ slot: fc.nat({ max: 1 }), slugs: fc.subarray([...SLUGS]) }), { maxLength: 2 }),
});

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  // Few roles per topology, so that hosts share them and rollouts have several hosts to order.
  roles: fc.shuffledSubarray(ALL_ROLES, { minLength: 1, maxLength: 3 }),
  hosts: fc.array(hostArb, { minLength: 1, maxLength: 6 }),
  desiredSlugs: fc.subarray([...SLUGS]),
  active: fc.array(fc.option(fc.record({ among: fc.constantFrom('role', 'role', 'any'), k: fc.nat({ max: 5 }) }), { nil: undefined, freq: 4 }), { minLength: ALL_ROLES.length, maxLength: ALL_ROLES.length }),
});

function observedSet(daemon: string, version: string, seen: Seen): ObservedSet | undefined {
  switch (seen.kind) {
    case 'missing':
      return undefined;
    case 'same':
      return { daemon, current: version, running: seen.running };
    case 'other':
      return { daemon, current: VERSIONS.find((v) => v !== version), running: seen.running };
    case 'modified':
      return { daemon, current: `${version}+modified`, running: seen.running };
    case 'unset':
      return { daemon, current: undefined, running: seen.running };
  }
}

/** As reconcile builds it: hosts that are down are neither desired nor observed. */
function inputOf(s: Scenario): PlanInput {
  const names = s.hosts.map((_, i) => `h${i}`);
  const desired = new Map<string, DesiredSet[]>();
  const observed: HostObservation[] = [];
  s.hosts.forEach((h, i) => {
    if (!h.up) return;
    const host = names[i]!;
    const roles = [...new Set(h.roles.map((k) => s.roles[k % s.roles.length]!.id))];
    const sets: DesiredSet[] = [];
    const seen: ObservedSet[] = [];
    for (const g of h.sets) {
      const role = roles[g.slot % roles.length]!;
      const daemon = `${role}-d${g.daemon}`;
      if (sets.some((x) => x.daemon === daemon)) continue;
      sets.push({ role, daemon, version: g.version });
      const o = observedSet(daemon, g.version, g.seen);
      if (o) seen.push(o);
    }
    const residue = new Map<string, readonly string[]>();
    for (const r of h.residue) {
      const role = roles[r.slot % roles.length]!;
      if (!residue.has(role)) residue.set(role, r.slugs);
    }
    desired.set(host, sets);
    observed.push({ host, roles, sets: seen, residue: [...residue].map(([role, slugs]) => ({ role, slugs })) });
  });
  const active: Record<string, string | undefined> = {};
  s.roles.forEach((r, k) => {
    if (r.rollout.kind !== 'active-last') return;
    const a = s.active[k];
    const pool = a?.among === 'role' ? [...desired.keys()].filter((h) => observed.find((o) => o.host === h)?.roles.includes(r.id)) : names;
    active[r.id] = a === undefined || !pool.length ? undefined : pool[a.k % pool.length];
  });
  return { roles: s.roles, desired, desiredSlugs: s.desiredSlugs, observed, active };
}

const inputArb = scenarioArb.map(inputOf);

// --- what the planner should see in an input, computed independently of it ---

const obsOf = (input: PlanInput, host: string) => input.observed.find((o) => o.host === host);

/** The hosts a role's rollout covers: up, and carrying the role. */
/** Every set of `role` on `host` runs now (whatever its version). */
function servesNow(input: PlanInput, host: string, role: string): boolean {
  const o = input.observed.find((x) => x.host === host);
  return (input.desired.get(host) ?? []).filter((d) => d.role === role).every((d) => o?.sets.find((x) => x.daemon === d.daemon)?.running === true);
}

function hostsOf(input: PlanInput, role: string): string[] {
  return [...input.desired.keys()].filter((h) => obsOf(input, h)?.roles.includes(role));
}

function differs(input: PlanInput, host: string, set: DesiredSet): boolean {
  const st = obsOf(input, host)?.sets.find((s) => s.daemon === set.daemon);
  return !(st && st.current === set.version && st.running);
}

function undesiredResidue(input: PlanInput): boolean {
  return input.observed.some((o) => input.desired.has(o.host) && o.residue.some((r) => r.slugs.some((s) => !input.desiredSlugs.includes(s))));
}

const roleOf = (s: Step): string | undefined => ('role' in s ? s.role : undefined);
const hostOfStep = (s: Step): string | undefined => ('host' in s ? s.host : undefined);
const applies = (steps: readonly Step[]) => steps.flatMap((s, i) => (s.kind === 'apply' ? [{ s, i }] : []));

/** The observation that results from running the plan: what `applyConfigSet` and `removeSiteResidue` leave. */
function afterRunning(input: PlanInput, plan: Plan): PlanInput {
  const observed = input.observed.map((o): HostObservation => {
    const sets = [...o.sets];
    for (const s of plan.steps) {
      if (s.kind !== 'apply' || s.host !== o.host) continue;
      const next = { daemon: s.daemon, current: s.to, running: true };
      const i = sets.findIndex((x) => x.daemon === s.daemon);
      if (i >= 0) sets[i] = next;
      else sets.push(next);
    }
    const removed = (role: string, slug: string) => plan.steps.some((s) => s.kind === 'remove-site' && s.host === o.host && s.role === role && s.slug === slug);
    return { ...o, sets, residue: o.residue.map((r) => ({ role: r.role, slugs: r.slugs.filter((slug) => !removed(r.role, slug)) })) };
  });
  return { ...input, observed };
}

test('the generator reaches every case the properties are about', () => {
  // Guards against properties that pass because their premise never occurs.
  const samples = fc.sample(inputArb, runs).map((input) => ({ input, plan: planPlatform(input) }));
  const count = (f: (x: { input: PlanInput; plan: Plan }) => boolean) => samples.filter(f).length;
  const has = (k: Step['kind']) => count(({ plan }) => plan.steps.some((s) => s.kind === k));
  const cases = {
    drain: has('drain'),
    handover: has('handover'),
    removeSite: has('remove-site'),
    noop: count(({ plan }) => plan.noop),
    activeDown: count(({ input }) => Object.values(input.active).some((a) => a !== undefined && !input.desired.has(a))),
    activeUndefined: count(({ input }) => Object.entries(input.active).some(([, a]) => a === undefined)),
    activeLastWithSeveralHosts: count(({ input }) => input.roles.some((r) => r.rollout.kind === 'active-last' && hostsOf(input, r.id).length > 1)),
    balancerAndOthers: count(({ plan, input }) => {
      const bal = new Set(input.roles.filter((r) => r.balancer).map((r) => r.id));
      const rs = changingSteps(plan).map(roleOf);
      return rs.some((r) => r !== undefined && bal.has(r)) && rs.some((r) => r !== undefined && !bal.has(r));
    }),
  };
  if (process.env.VARD_FC_STATS) console.log(cases);
  for (const [name, n] of Object.entries(cases)) assert.ok(n >= 5, `only ${n} of ${samples.length} inputs have ${name}`);
});

test('property: never every host of a drained role out of rotation; one drain at a time, each undrained right after its host', () => {
  fc.assert(
    fc.property(inputArb, (input) => {
      const { steps } = planPlatform(input);
      const out = new Set<string>();
      // Who takes requests: hosts whose sets of the role all run, and every host once its applies ran.
      const serving = new Map(input.roles.map((r) => [r.id, new Set(hostsOf(input, r.id).filter((h) => servesNow(input, h, r.id)))]));
      steps.forEach((s, i) => {
        if (s.kind === 'drain') {
          assert.equal(out.size, 0, `${s.host} drained while ${[...out]} still is`);
          out.add(s.host);
          const role = input.roles.find((r) => r.id === s.role)!;
          const mine = hostsOf(input, s.role);
          assert.ok(role.rollout.kind === 'one-at-a-time' && role.rollout.drain, `drain in ${s.role}, which does not drain`);
          assert.ok(mine.length > 1, `${s.host} drained but alone in ${s.role}`);
          assert.ok(!mine.every((h) => out.has(h)));
          // Never the last one serving: another host of the role takes its requests meanwhile.
          assert.ok([...serving.get(s.role)!].some((h) => h !== s.host), `${s.host} drained while no other host of ${s.role} serves`);
          // Its applies, then its undrain: nothing else happens while it is out.
          let j = i + 1;
          while (steps[j]?.kind === 'apply' && hostOfStep(steps[j]!) === s.host && roleOf(steps[j]!) === s.role) j++;
          assert.ok(j > i + 1, `drain of ${s.host} without an apply`);
          assert.deepEqual(steps[j], { kind: 'undrain', host: s.host, role: s.role });
        } else if (s.kind === 'undrain') {
          assert.ok(out.delete(s.host), `${s.host} undrained but not drained`);
        } else if (s.kind === 'apply') {
          const r = input.roles.find((x) => x.id === s.role)!;
          // The converse: a reload in a draining role is drained whenever another host serves.
          if (r.rollout.kind === 'one-at-a-time' && r.rollout.drain && s.action === 'reload') {
            const others = [...serving.get(s.role)!].some((h) => h !== s.host);
            assert.equal(out.has(s.host), others, `reload of ${s.host} in ${s.role}: drained ${out.has(s.host)}, another serving ${others}`);
          }
          serving.get(s.role)!.add(s.host);
        }
      });
      assert.equal(out.size, 0, `left out of rotation: ${[...out]}`);
    }),
    runs,
  );
});

test('property: the active host of an active-last role changes last, after its handover, and only then', () => {
  fc.assert(
    fc.property(inputArb, (input) => {
      const { steps } = planPlatform(input);
      for (const r of input.roles) {
        const mine = hostsOf(input, r.id);
        const handovers = steps.flatMap((s, i) => (s.kind === 'handover' && s.role === r.id ? [{ s, i }] : []));
        if (r.rollout.kind !== 'active-last') {
          assert.equal(handovers.length, 0, `handover in ${r.id}, which is ${r.rollout.kind}`);
          continue;
        }
        const active = input.active[r.id];
        const own = applies(steps).filter(({ s }) => s.role === r.id);
        const last = own.filter(({ s }) => s.host === active);
        const others = own.filter(({ s }) => s.host !== active);
        const firstActive = Math.min(...last.map(({ i }) => i), ...handovers.map(({ i }) => i));
        assert.ok(others.every(({ i }) => i < firstActive), `${r.id}: another host changes after the active ${active}`);
        const reloads = last.some(({ s }) => s.action === 'reload');
        const expected = r.handover && mine.length > 1 && reloads && active !== undefined && mine.includes(active);
        assert.equal(handovers.length, expected ? 1 : 0, `${r.id}: handovers ${handovers.length}`);
        for (const { s, i } of handovers) {
          assert.equal(s.host, active);
          const next = steps[i + 1];
          assert.ok(next?.kind === 'apply' && next.host === active && next.role === r.id, `${r.id}: handover not followed by the active host's apply`);
        }
      }
    }),
    runs,
  );
});

test('property: a plan run and observed again plans nothing', () => {
  fc.assert(
    fc.property(inputArb, (input) => {
      const first = planPlatform(input);
      const again = planPlatform(afterRunning(input, first));
      assert.deepEqual(changingSteps(again), []);
      assert.equal(again.noop, true);
    }),
    runs,
  );
});

test('property: every differing set gets exactly one apply to its version, sets in sync none, every up host a prepare', () => {
  fc.assert(
    fc.property(inputArb, (input) => {
      const plan = planPlatform(input);
      const all = applies(plan.steps).map(({ s }) => s);
      let differing = 0;
      for (const [host, sets] of input.desired) {
        assert.equal(plan.steps.filter((s) => s.kind === 'prepare' && s.host === host).length, 1, `prepare ${host}`);
        for (const set of sets) {
          const mine = all.filter((s) => s.host === host && s.role === set.role && s.daemon === set.daemon);
          if (!differs(input, host, set)) {
            assert.equal(mine.length, 0, `${host} ${set.daemon} is in sync but planned`);
            continue;
          }
          differing++;
          assert.equal(mine.length, 1, `${host} ${set.daemon} differs: ${mine.length} applies`);
          const st = obsOf(input, host)?.sets.find((s) => s.daemon === set.daemon);
          assert.equal(mine[0]!.to, set.version);
          assert.equal(mine[0]!.from, st?.current);
          assert.equal(mine[0]!.action, st?.running ? 'reload' : 'start');
        }
      }
      assert.equal(all.length, differing, 'an apply for no differing set');
      // Hosts that are down get nothing at all.
      assert.ok(plan.steps.every((s) => hostOfStep(s) === undefined || input.desired.has(hostOfStep(s)!)));
      assert.equal(plan.noop, differing === 0 && !undesiredResidue(input));
    }),
    runs,
  );
});

test('property: balancers go first and leftovers last when sites disappear, balancers last otherwise', () => {
  fc.assert(
    fc.property(inputArb, (input) => {
      const { steps } = planPlatform(input);
      const bal = new Set(input.roles.filter((r) => r.balancer).map((r) => r.id));
      const at = (f: (s: Step) => boolean) => steps.flatMap((s, i) => (f(s) ? [i] : []));
      const phased = (s: Step) => s.kind !== 'prepare' && s.kind !== 'remove-site';
      const balancer = at((s) => phased(s) && bal.has(roleOf(s)!));
      const front = at((s) => phased(s) && !bal.has(roleOf(s)!));
      const removals = at((s) => s.kind === 'remove-site');
      const prepares = at((s) => s.kind === 'prepare');
      assert.deepEqual(prepares, prepares.map((_, k) => k), 'prepares first');
      assert.deepEqual(removals, removals.map((_, k) => steps.length - removals.length + k), 'removals last');
      if (undesiredResidue(input)) {
        assert.ok(removals.length > 0);
        assert.ok(balancer.every((b) => front.every((f) => b < f)), 'a balancer step after a step behind the balancers');
      } else {
        assert.equal(removals.length, 0);
        assert.ok(front.every((f) => balancer.every((b) => f < b)), 'a balancer step before a step behind the balancers');
      }
    }),
    runs,
  );
});

test('property: the plan depends on the input only, not on the order hosts are listed in', () => {
  fc.assert(
    fc.property(
      inputArb.chain((input) => {
        const hosts = [...input.desired.keys()];
        return fc.tuple(fc.constant(input), fc.shuffledSubarray(hosts, { minLength: hosts.length }), fc.shuffledSubarray(hosts, { minLength: hosts.length }));
      }),
      ([input, desiredOrder, observedOrder]) => {
        const plan = planPlatform(input);
        assert.deepEqual(planPlatform(input), plan);
        // The desired map and the observations arrive in whatever order the hosts answered.
        const reordered: PlanInput = {
          ...input,
          desired: new Map(desiredOrder.map((h) => [h, input.desired.get(h)!])),
          observed: observedOrder.map((h) => obsOf(input, h)!),
        };
        assert.deepEqual(planPlatform(reordered), plan);
      },
    ),
    runs,
  );
});
