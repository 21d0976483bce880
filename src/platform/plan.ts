import type { SetStatus } from '../apply/config-set.ts';
import type { ConfigSet, DaemonName } from '../render/index.ts';

export interface HostObservation {
  readonly host: string;
  readonly roles: readonly string[];
  readonly sets: readonly SetStatus[];
  /** Site directories present on a web server (slugs). */
  readonly siteDirs: readonly string[];
}

export type Step =
  | { readonly kind: 'prepare'; readonly host: string }
  | { readonly kind: 'drain'; readonly host: string }
  | { readonly kind: 'apply'; readonly host: string; readonly daemon: DaemonName; readonly action: 'start' | 'reload'; readonly from?: string; readonly to: string }
  | { readonly kind: 'undrain'; readonly host: string }
  | { readonly kind: 'remove-site'; readonly host: string; readonly slug: string };

export interface Plan {
  readonly steps: readonly Step[];
  /** True when nothing would change: every set at its desired version and running. */
  readonly noop: boolean;
}

/**
 * Pure: desired config sets and observed hosts → ordered steps.
 * Web servers go one at a time, each drained in the load balancers while it changes, so a change
 * never takes every web server down at once. Load balancers go passive first, active last.
 * When sites disappear the load balancers stop routing to them before the web servers drop them;
 * otherwise web servers go first so the load balancers never route to a port not yet served.
 */
export function planPlatform(
  desired: ReadonlyMap<string, readonly ConfigSet[]>,
  desiredSlugs: readonly string[],
  observed: readonly HostObservation[],
  activeLb: string | undefined,
): Plan {
  const obs = new Map(observed.map((o) => [o.host, o]));
  const steps: Step[] = [];
  const applySteps = (host: string): Step[] => {
    const o = obs.get(host);
    const out: Step[] = [];
    for (const set of desired.get(host) ?? []) {
      const st = o?.sets.find((s) => s.daemon === set.daemon);
      if (st && st.current === st.desired && st.running) continue;
      const to = st?.desired ?? '';
      out.push({ kind: 'apply', host, daemon: set.daemon, action: st?.running ? 'reload' : 'start', ...(st?.current ? { from: st.current } : {}), to });
    }
    return out;
  };
  const hosts = [...desired.keys()].sort();
  const webs = hosts.filter((h) => obs.get(h)?.roles.includes('web'));
  const lbs = hosts
    .filter((h) => obs.get(h)?.roles.includes('lb'))
    .sort((a, b) => (a === activeLb ? 1 : b === activeLb ? -1 : a < b ? -1 : 1));

  const removals: Step[] = [];
  for (const h of webs) {
    for (const slug of obs.get(h)?.siteDirs ?? []) if (!desiredSlugs.includes(slug)) removals.push({ kind: 'remove-site', host: h, slug });
  }
  const webPhase: Step[] = [];
  for (const h of webs) {
    const changes = applySteps(h).filter((s) => s.kind === 'apply' && isWebDaemon(s.daemon));
    if (!changes.length) continue;
    // A pure LB+web host (single topology) is not drained: there is no other server to take over.
    const drain = changes.some((s) => s.kind === 'apply' && s.action === 'reload') && webs.length > 1;
    webPhase.push(...(drain ? [{ kind: 'drain', host: h } as const] : []), ...changes, ...(drain ? [{ kind: 'undrain', host: h } as const] : []));
  }
  const lbPhase: Step[] = lbs.flatMap((h) => applySteps(h).filter((s) => !(s.kind === 'apply' && isWebDaemon(s.daemon))));

  for (const h of hosts) steps.push({ kind: 'prepare', host: h });
  if (removals.length) steps.push(...lbPhase, ...webPhase, ...removals);
  else steps.push(...webPhase, ...lbPhase);
  const noop = steps.every((s) => s.kind === 'prepare');
  return { steps, noop };
}

function isWebDaemon(d: DaemonName): boolean {
  return d === 'apache2' || d === 'php-fpm';
}

export function describeStep(s: Step): string {
  switch (s.kind) {
    case 'prepare':
      return `${s.host}: prepare host (users, site files, support files)`;
    case 'drain':
      return `${s.host}: drain in the load balancers`;
    case 'undrain':
      return `${s.host}: back into rotation`;
    case 'apply':
      return `${s.host}: ${s.daemon} ${s.action === 'start' ? 'start' : 'reload'} ${s.from ? `${s.from} → ` : ''}${s.to}`;
    case 'remove-site':
      return `${s.host}: remove site ${s.slug} (user and files)`;
  }
}
