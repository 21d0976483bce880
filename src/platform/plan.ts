import type { Rollout } from '../roles/contract.ts';

/** What the planner needs to know of a role: pure data, no behaviour. */
export interface PlanRole {
  readonly id: string;
  readonly rollout: Rollout;
  /** It routes to the others: it stops routing first when sites go, and starts last otherwise. */
  readonly balancer: boolean;
  /** It can move its service off a host before that host changes (`handover`). */
  readonly handover: boolean;
  /** It has work after its config sets (`converge`). */
  readonly converge: boolean;
}

/** A config set a host must hold: which role rendered it, for which daemon, at which version. */
export interface DesiredSet {
  readonly role: string;
  readonly daemon: string;
  readonly version: string;
}

/** What a host holds for one desired set. */
export interface ObservedSet {
  readonly daemon: string;
  /** The version `current` points at, when its files are intact; undefined otherwise. */
  readonly current: string | undefined;
  readonly running: boolean;
}

export interface HostObservation {
  readonly host: string;
  readonly roles: readonly string[];
  readonly sets: readonly ObservedSet[];
  /** Per-site leftovers per role (site trees), as slugs. */
  readonly residue: readonly { readonly role: string; readonly slugs: readonly string[] }[];
  /** Roles this host was taken out of rotation for and never put back (a run died in between). */
  readonly outOfRotation?: readonly string[];
}

export type Step =
  | { readonly kind: 'prepare'; readonly host: string }
  | { readonly kind: 'drain'; readonly host: string; readonly role: string }
  | { readonly kind: 'handover'; readonly host: string; readonly role: string }
  | { readonly kind: 'apply'; readonly host: string; readonly role: string; readonly daemon: string; readonly action: 'start' | 'reload'; readonly from?: string; readonly to: string }
  | { readonly kind: 'undrain'; readonly host: string; readonly role: string }
  | { readonly kind: 'converge'; readonly role: string }
  | { readonly kind: 'remove-site'; readonly host: string; readonly role: string; readonly slug: string };

export interface Plan {
  readonly steps: readonly Step[];
  /** True when nothing would change: every set at its desired version and running, no leftovers. */
  readonly noop: boolean;
}

export interface PlanInput {
  /** In bring-up order (the registry's). */
  readonly roles: readonly PlanRole[];
  /** Every host that is up, with the sets it must hold. */
  readonly desired: ReadonlyMap<string, readonly DesiredSet[]>;
  readonly desiredSlugs: readonly string[];
  readonly observed: readonly HostObservation[];
  /** Per role with an `active-last` rollout: the host that serves now. */
  readonly active: Readonly<Record<string, string | undefined>>;
}

/** Steps that change nothing by themselves: they only frame the real ones. */
function isFrame(s: Step): boolean {
  return s.kind === 'prepare' || s.kind === 'converge';
}

/**
 * Pure: desired config sets and observed hosts → ordered steps. Every host of every role whose
 * sets differ from what it holds gets steps, in its role's rollout: one at a time (drained in the
 * balancers while it changes, when the role asks for it and has another host to take over),
 * active last (after a handover when the role can move its service), or all at once. Roles go in
 * bring-up order, the balancers last — or first when sites disappear, so they stop routing to a
 * site before anything behind them drops it; the sites' leftovers go last of all.
 */
export function planPlatform(input: PlanInput): Plan {
  const obs = new Map(input.observed.map((o) => [o.host, o]));
  const hosts = [...input.desired.keys()].sort();
  const changes = (host: string, role: string): Step[] => {
    const o = obs.get(host);
    const out: Step[] = [];
    for (const set of input.desired.get(host) ?? []) {
      if (set.role !== role) continue;
      const st = o?.sets.find((s) => s.daemon === set.daemon);
      if (st && st.current === set.version && st.running) continue;
      out.push({ kind: 'apply', host, role, daemon: set.daemon, action: st?.running ? 'reload' : 'start', ...(st?.current ? { from: st.current } : {}), to: set.version });
    }
    return out;
  };
  const reloads = (steps: readonly Step[]) => steps.some((s) => s.kind === 'apply' && s.action === 'reload');
  /** Every set of the role on the host runs (whatever its version): the host takes requests now. */
  const servesNow = (host: string, role: string): boolean =>
    (input.desired.get(host) ?? []).filter((d) => d.role === role).every((d) => obs.get(host)?.sets.find((s) => s.daemon === d.daemon)?.running === true);

  const phase = (r: PlanRole): Step[] => {
    const mine = hosts.filter((h) => obs.get(h)?.roles.includes(r.id));
    // Back first: a host left drained would not count as serving when the next one is drained.
    const out: Step[] = mine.filter((h) => obs.get(h)?.outOfRotation?.includes(r.id)).map((h) => ({ kind: 'undrain', host: h, role: r.id }) as const);
    if (r.rollout.kind === 'active-last') {
      const active = input.active[r.id];
      const ordered = [...mine.filter((h) => h !== active), ...mine.filter((h) => h === active)];
      for (const h of ordered) {
        const c = changes(h, r.id);
        if (c.length && h === active && r.handover && mine.length > 1 && reloads(c)) out.push({ kind: 'handover', host: h, role: r.id });
        out.push(...c);
      }
    } else if (r.rollout.kind === 'one-at-a-time') {
      // Hosts that serve nothing now (a daemon stopped or never started) go first: starting them
      // adds capacity before any serving host is drained.
      const serving = new Set(mine.filter((h) => servesNow(h, r.id)));
      for (const h of [...mine.filter((x) => !serving.has(x)), ...mine.filter((x) => serving.has(x))]) {
        const c = changes(h, r.id);
        if (!c.length) continue;
        // Drained only while another host of the role serves: draining the last one would leave
        // nothing to take its requests, so it reloads in place (gracefully) instead.
        const drain = r.rollout.drain && reloads(c) && [...serving].some((x) => x !== h);
        out.push(...(drain ? [{ kind: 'drain', host: h, role: r.id } as const] : []), ...c, ...(drain ? [{ kind: 'undrain', host: h, role: r.id } as const] : []));
        serving.add(h);
      }
    } else {
      for (const h of mine) out.push(...changes(h, r.id));
    }
    if (r.converge && mine.length) out.push({ kind: 'converge', role: r.id });
    return out;
  };

  const removals: Step[] = [];
  for (const h of hosts) {
    for (const res of obs.get(h)?.residue ?? []) {
      for (const slug of res.slugs) if (!input.desiredSlugs.includes(slug)) removals.push({ kind: 'remove-site', host: h, role: res.role, slug });
    }
  }
  const front = input.roles.filter((r) => !r.balancer).flatMap(phase);
  const balancers = input.roles.filter((r) => r.balancer).flatMap(phase);
  const steps: Step[] = hosts.map((h) => ({ kind: 'prepare', host: h }) as const);
  if (removals.length) steps.push(...balancers, ...front, ...removals);
  else steps.push(...front, ...balancers);
  return { steps, noop: steps.every(isFrame) };
}

export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'prepare':
      return `${s.host}: prepare host (users, site files, support files)`;
    case 'drain':
      return `${s.host}: drain in the load balancers`;
    case 'handover':
      return `${s.host}: hand its ${s.role} service over to another host`;
    case 'undrain':
      return `${s.host}: back into rotation`;
    case 'apply':
      return `${s.host}: ${s.daemon} ${s.action === 'start' ? 'start' : 'reload'} ${s.from ? `${s.from} → ` : ''}${s.to}`;
    case 'converge':
      return `${s.role}: converge the role's services`;
    case 'remove-site':
      return `${s.host}: remove site ${s.slug} (user and files)`;
  }
}

/** The steps that change something, for people and `--json` (no framing steps). */
export function changingSteps(p: Plan): Step[] {
  return p.steps.filter((s) => !isFrame(s));
}
