import { basename } from 'node:path';
import { formatProblems, isVardError, vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import { newSite, shapeProblems, type Platform, type Site, type SiteDatabase, type SiteRequest, type Topology } from '../model/index.ts';
import type { RoleContext, SecretPort, SiteArtifact } from '../roles/contract.ts';
import { ROLE_CATALOG, ROLES } from '../roles/registry.ts';
import { withFileLock, writePrivateFile, type PlatformStore } from '../store/index.ts';
import { reconcilePlatform, type ReconcileReport } from './reconcile.ts';

export interface PlatformDeps {
  readonly store: PlatformStore;
  readonly hostOf: (name: string) => Host;
  readonly now: () => Date;
  readonly progress?: (msg: string) => void;
  /** Where final database dumps of deleted sites are kept (operator side). */
  readonly dumpDir?: string;
  /** A lock file that serialises converging this platform across vard processes. */
  readonly lockPath?: string;
  /**
   * Runs before every converge that changes something (not a dry run), under the lock: real
   * servers are checked and get their packages here (context.ts, bootstrap.ts). Throwing stops
   * the converge before any host is touched by it.
   */
  readonly beforeConverge?: (p: Platform) => Promise<void>;
}

export interface DeleteResult {
  readonly site: Site;
  readonly report: ReconcileReport;
  /** What the roles' finalizers kept before deleting (the final database dump), on the operator side. */
  readonly kept: readonly KeptArtifact[];
}

export interface KeptArtifact {
  readonly kind: string;
  /** Local path on the operator side, or `host:path` when it could not be fetched. */
  readonly path: string;
  readonly bytes: number;
  readonly takenOn: string;
}

export interface CreateResult {
  readonly site: Site;
  /** False when the site already existed with the same settings: nothing was duplicated. */
  readonly created: boolean;
  readonly report: ReconcileReport;
}

/** The operations behind `vard site …` and `vard apply`: change the desired state, then converge. */
export class PlatformService {
  private readonly d: PlatformDeps;
  constructor(d: PlatformDeps) {
    this.d = d;
  }

  /**
   * The desired state: the stored topology and sites, checked against the role registry (a host
   * with a role no module provides is an error naming its path), with each role's secrets added.
   */
  platform(): Platform {
    const stored = this.d.store.platform();
    if (!stored) throw vardError('VARD_ERR_PLATFORM_MISSING', ['the state store']);
    const problems = shapeProblems(stored.topology, ROLE_CATALOG).map((x) => ({ ...x, path: `topology.${x.path}` }));
    if (problems.length) throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems(problems)], { details: { problems } });
    const secrets = this.secrets();
    return ROLES.reduce((p, r) => r.withSecrets?.(p, secrets) ?? p, stored);
  }

  private secrets(): SecretPort {
    const store = this.d.store;
    return { ensure: (n, make) => store.ensureSecret(n, this.d.now(), make), get: (n) => store.secret(n), remove: (n) => store.removeSecret(n) };
  }

  private roleContext(p: Platform): RoleContext {
    return { platform: p, hostOf: this.d.hostOf, say: this.d.progress ?? (() => undefined) };
  }

  setTopology(name: string, t: Topology): void {
    const problems = shapeProblems(t, ROLE_CATALOG);
    if (problems.length) throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems(problems)], { details: { problems } });
    this.d.store.setTopology(name, t, this.d.now());
    const p = this.platform();
    for (const r of ROLES) r.onTopology?.(p, this.secrets());
  }

  /** The site's database credentials, password included: only for `vard site credentials`. */
  credentials(domain: string): SiteDatabase {
    const s = this.site(domain);
    const db = this.platform().databases?.[s.slug];
    if (!db) throw vardError('VARD_ERR_DB_NO_TIER', [this.platform().name]);
    return db;
  }

  /** Converges the hosts; one process at a time per platform, each reading the desired state afresh. */
  reconcile(dryRun = false): Promise<ReconcileReport> {
    return dryRun ? this.converge(true) : this.locked(() => this.converge());
  }

  /**
   * Runs `fn` holding the platform's convergence lock. Everything inside converges with
   * `converge`, never `reconcile`: the lock file is not re-entrant and would wait for itself.
   */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.d.lockPath) return fn();
    return withFileLock(this.d.lockPath, fn, { onWait: (pid) => this.d.progress?.(`waiting for another vard (pid ${pid}) to finish converging`) });
  }

  private async converge(dryRun = false): Promise<ReconcileReport> {
    const p = this.platform();
    if (!dryRun) await this.d.beforeConverge?.(p);
    return reconcilePlatform(p, { hostOf: this.d.hostOf, dryRun, ...(this.d.progress ? { progress: this.d.progress } : {}) });
  }

  /**
   * Validates, records and applies a new site. Asking again for an existing site with the same
   * settings changes nothing; the same domain for another customer or Drupal major is refused.
   * If applying fails, the site is taken out of the desired state again and the platform is
   * converged back, so a failed create leaves nothing behind. All of it under the convergence
   * lock: no other `vard` converges a half-made site, or undoes one while this undoes it.
   */
  createSite(req: SiteRequest): Promise<CreateResult> {
    return this.locked(async () => {
      const p = this.platform();
      const existing = p.sites.find((s) => s.domain === req.domain.trim());
      if (existing) {
        const sameCustomer = (req.customer ?? 'default') === existing.customer;
        const sameMajor = req.drupal === undefined || Number(req.drupal) === existing.drupal;
        if (!sameCustomer || !sameMajor) throw vardError('VARD_ERR_SITE_EXISTS', [existing.domain, existing.customer]);
        return { site: existing, created: false, report: await this.converge() };
      }
      const site = this.d.store.addNewSite((current, taken) => newSite(req, current, this.d.now(), taken));
      for (const r of ROLES) r.onSiteCreate?.(p, site, this.secrets());
      try {
        return { site, created: true, report: await this.converge() };
      } catch (e) {
        const withSite = this.platform();
        this.d.store.removeSite(site.domain);
        // What was made for it goes through the same finalizers as a delete (a database: dumped, then dropped).
        await this.finalize(site, withSite).catch(() => undefined);
        for (const r of ROLES) r.onSiteForgotten?.(site, this.secrets());
        try {
          await this.converge();
        } catch (e2) {
          this.d.progress?.(`converging back after the failed create also failed: ${isVardError(e2) ? e2.message : String(e2)}`);
        }
        throw e;
      }
    });
  }

  /**
   * Deletes a site. Each role's finalizer runs first (the database: a final dump, copied to the
   * operator's dump directory, then DROP); if one fails, the site stays (VARD_ERR_DB_DUMP…).
   * Under the convergence lock throughout, like a create.
   */
  deleteSite(domain: string): Promise<DeleteResult> {
    return this.locked(async () => {
      const site = this.d.store.site(domain);
      if (!site) throw vardError('VARD_ERR_SITE_NOT_FOUND', [domain]);
      const kept = await this.finalize(site, this.platform());
      this.d.store.removeSite(domain);
      for (const r of ROLES) r.onSiteForgotten?.(site, this.secrets());
      return { site, report: await this.converge(), kept };
    });
  }

  private async finalize(site: Site, p: Platform): Promise<KeptArtifact[]> {
    const kept: KeptArtifact[] = [];
    for (const r of ROLES) {
      const a = await r.finalizeSite?.(this.roleContext(p), site);
      if (a) kept.push(await this.fetchArtifact(site, a));
    }
    return kept;
  }

  /** Copies what a finalizer kept on a host to the operator's side (0600 in a 0700 directory), then removes it there. */
  private async fetchArtifact(site: Site, a: SiteArtifact): Promise<KeptArtifact> {
    const remote = this.d.hostOf(a.host);
    const bytes = await remote.readFile(a.path);
    if (!bytes || !this.d.dumpDir) return { kind: a.kind, path: `${a.host}:${a.path}`, bytes: a.bytes, takenOn: a.host };
    const local = writePrivateFile(this.d.dumpDir, `${site.domain}-${basename(a.path)}`, bytes);
    await remote.remove(a.path);
    this.d.progress?.(`${a.kind} of ${site.domain} (${bytes.length} bytes) kept at ${local}`);
    return { kind: a.kind, path: local, bytes: bytes.length, takenOn: a.host };
  }

  sites(): Site[] {
    return this.d.store.sites();
  }

  site(domain: string): Site {
    const s = this.d.store.site(domain);
    if (!s) throw vardError('VARD_ERR_SITE_NOT_FOUND', [domain]);
    return s;
  }
}
