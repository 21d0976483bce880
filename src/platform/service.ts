import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dumpAndDropSiteDatabase } from '../db/index.ts';
import { isVardError, vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import { newSite, type Platform, type Site, type SiteDatabase, type SiteRequest, type Topology } from '../model/index.ts';
import { REPL_SECRET, siteDbSecretName, withFileLock, type PlatformStore } from '../store/index.ts';
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
}

export interface DeleteResult {
  readonly site: Site;
  readonly report: ReconcileReport;
  /** The final dump of the site's database, when it had one. */
  readonly dump?: { readonly path: string; readonly bytes: number; readonly takenOn: string };
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

  platform(): Platform {
    const p = this.d.store.platform();
    if (!p) throw vardError('VARD_ERR_PLATFORM_MISSING', ['the state store']);
    return p;
  }

  setTopology(name: string, t: Topology): void {
    this.d.store.setTopology(name, t, this.d.now());
    // The cluster's own secret exists before anything renders the cluster configuration.
    if (t.dbVip) {
      this.d.store.ensureSecret(REPL_SECRET, this.d.now());
      // Sites recorded before the platform had a database tier get theirs now.
      for (const s of this.d.store.sites()) this.d.store.ensureSecret(siteDbSecretName(s.domain), this.d.now());
    }
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
    const run = () => reconcilePlatform(this.platform(), { hostOf: this.d.hostOf, dryRun, ...(this.d.progress ? { progress: this.d.progress } : {}) });
    if (!this.d.lockPath || dryRun) return run();
    return withFileLock(this.d.lockPath, run, { onWait: (pid) => this.d.progress?.(`waiting for another vard (pid ${pid}) to finish converging`) });
  }

  /**
   * Validates, records and applies a new site. Asking again for an existing site with the same
   * settings changes nothing; the same domain for another customer or Drupal major is refused.
   * If applying fails, the site is taken out of the desired state again and the platform is
   * converged back, so a failed create leaves nothing behind.
   */
  async createSite(req: SiteRequest): Promise<CreateResult> {
    const p = this.platform();
    const existing = p.sites.find((s) => s.domain === req.domain.trim());
    if (existing) {
      const sameCustomer = (req.customer ?? 'default') === existing.customer;
      const sameMajor = req.drupal === undefined || Number(req.drupal) === existing.drupal;
      if (!sameCustomer || !sameMajor) throw vardError('VARD_ERR_SITE_EXISTS', [existing.domain, existing.customer]);
      return { site: existing, created: false, report: await this.reconcile() };
    }
    const site = this.d.store.addNewSite((current) => newSite(req, current, this.d.now()));
    if (p.topology.dbVip) this.d.store.ensureSecret(siteDbSecretName(site.domain), this.d.now());
    try {
      return { site, created: true, report: await this.reconcile() };
    } catch (e) {
      const withSite = this.platform();
      this.d.store.removeSite(site.domain);
      // Its database (if made) goes through the same finalizer as a delete: dumped, then dropped.
      await this.dropDatabase(site, withSite).catch(() => undefined);
      this.d.store.removeSecret(siteDbSecretName(site.domain));
      try {
        await this.reconcile();
      } catch (e2) {
        this.d.progress?.(`converging back after the failed create also failed: ${isVardError(e2) ? e2.message : String(e2)}`);
      }
      throw e;
    }
  }

  /**
   * Deletes a site. Its database goes first, through a finalizer: a final dump, copied to the
   * operator's dump directory, then DROP. If the dump fails, nothing is deleted (VARD_ERR_DB_DUMP).
   */
  async deleteSite(domain: string): Promise<DeleteResult> {
    const site = this.d.store.site(domain);
    if (!site) throw vardError('VARD_ERR_SITE_NOT_FOUND', [domain]);
    const dump = await this.dropDatabase(site, this.platform());
    this.d.store.removeSite(domain);
    this.d.store.removeSecret(siteDbSecretName(domain));
    return { site, report: await this.reconcile(), ...(dump ? { dump } : {}) };
  }

  private async dropDatabase(site: Site, p: Platform): Promise<DeleteResult['dump']> {
    const db = p.databases?.[site.slug];
    if (!db) return undefined;
    const stamp = this.d.now().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const r = await dumpAndDropSiteDatabase(p, this.d.hostOf, site.domain, db, stamp);
    const remote = this.d.hostOf(r.dumpHost);
    const bytes = await remote.readFile(r.dumpPath);
    if (!bytes || !this.d.dumpDir) return { path: `${r.dumpHost}:${r.dumpPath}`, bytes: r.bytes, takenOn: r.dumpHost };
    mkdirSync(this.d.dumpDir, { recursive: true, mode: 0o700 });
    const local = join(this.d.dumpDir, `${site.domain}-${stamp}.sql`);
    writeFileSync(local, bytes, { mode: 0o600 });
    chmodSync(local, 0o600);
    await remote.remove(r.dumpPath);
    this.d.progress?.(`final dump of ${db.name} (${bytes.length} bytes) kept at ${local}`);
    return { path: local, bytes: bytes.length, takenOn: r.dumpHost };
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
