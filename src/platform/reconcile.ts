import { applyConfigSet, setStatus, type SetStatus } from '../apply/config-set.ts';
import { DRIVERS } from '../daemon/index.ts';
import { isVardError, vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import type { HostSpec, Platform } from '../model/index.ts';
import { renderHost, type ConfigSet } from '../render/index.ts';
import { ensureSiteDatabases, reconcileDbCluster } from '../db/index.ts';
import { describeStep, planPlatform, type HostObservation, type Plan, type Step } from './plan.ts';
import { prepareHost, removeSiteFromHost, setWebRotation, siteDirsOn, verifyWebSites, vipHolders } from './support.ts';

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

/** Renders every host's config sets. Pure. */
export function renderPlatform(p: Platform): Map<string, ConfigSet[]> {
  return new Map(p.topology.hosts.map((h) => [h.name, renderHost(p, h)]));
}

async function observe(p: Platform, desired: Map<string, ConfigSet[]>, hostOf: (n: string) => Host): Promise<{ observed: HostObservation[]; down: string[] }> {
  const observed: HostObservation[] = [];
  const down: string[] = [];
  await Promise.all(
    p.topology.hosts.map(async (spec) => {
      const host = hostOf(spec.name);
      try {
        const sets: SetStatus[] = [];
        for (const set of desired.get(spec.name) ?? []) sets.push(await setStatus(host, set, DRIVERS[set.daemon]));
        const siteDirs = spec.roles.includes('web') ? await siteDirsOn(host) : [];
        observed.push({ host: spec.name, roles: spec.roles, sets, siteDirs });
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
  const desiredAll = renderPlatform(p);
  const { observed, down } = await observe(p, desiredAll, o.hostOf);
  const desired = new Map([...desiredAll].filter(([h]) => !down.includes(h)));
  const active = (await vipHolders(p, o.hostOf))[0];
  const plan = planPlatform(desired, p.sites.map((s) => s.slug), observed, active);
  if (down.length) say(`skipping hosts that are down: ${down.join(', ')}`);
  if (o.dryRun) return { plan, skippedHosts: down, applied: [] };

  const spec = (name: string): HostSpec => p.topology.hosts.find((h) => h.name === name) as HostSpec;
  const applied: string[] = [];
  const prepares = plan.steps.filter((s) => s.kind === 'prepare');
  await Promise.all(prepares.map((s) => prepareHost(p, spec(s.host), o.hostOf(s.host))));
  // The database tier first: a site's settings.php points at a database that must exist.
  if (p.topology.dbVip) {
    await reconcileDbCluster(p, o.hostOf, say);
    await ensureSiteDatabases(p, o.hostOf);
  }
  for (const step of plan.steps) {
    if (step.kind === 'prepare') continue;
    say(describeStep(step));
    await runStep(p, step, desired, o.hostOf, spec);
    applied.push(describeStep(step));
  }
  return { plan, skippedHosts: down, applied };
}

async function runStep(p: Platform, step: Step, desired: Map<string, ConfigSet[]>, hostOf: (n: string) => Host, spec: (n: string) => HostSpec): Promise<void> {
  const host = hostOf(step.host);
  switch (step.kind) {
    case 'drain':
      return setWebRotation(p, hostOf, step.host, false);
    case 'undrain':
      return setWebRotation(p, hostOf, step.host, true);
    case 'remove-site':
      return removeSiteFromHost(host, step.slug);
    case 'apply': {
      const set = desired.get(step.host)?.find((s) => s.daemon === step.daemon);
      if (!set) throw vardError('VARD_ERR_INTERNAL', [`no ${step.daemon} set for ${step.host}`]);
      const driver = DRIVERS[set.daemon];
      // Apache is verified through every site it serves, so a vhost that breaks a site rolls back.
      const verified =
        set.daemon === 'apache2'
          ? { ...driver, ready: async (h: Host) => { await driver.ready(h); await verifyWebSites(p, spec(step.host), h); } }
          : driver;
      await applyConfigSet(host, set, verified);
      return;
    }
    case 'prepare':
      return;
  }
}
