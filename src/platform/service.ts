import { isVardError, vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import { newSite, type Platform, type Site, type SiteRequest, type Topology } from '../model/index.ts';
import type { PlatformStore } from '../store/index.ts';
import { reconcilePlatform, type ReconcileReport } from './reconcile.ts';

export interface PlatformDeps {
  readonly store: PlatformStore;
  readonly hostOf: (name: string) => Host;
  readonly now: () => Date;
  readonly progress?: (msg: string) => void;
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
  }

  reconcile(dryRun = false): Promise<ReconcileReport> {
    return reconcilePlatform(this.platform(), { hostOf: this.d.hostOf, dryRun, ...(this.d.progress ? { progress: this.d.progress } : {}) });
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
    const site = newSite(req, p.sites, this.d.now());
    this.d.store.addSite(site);
    try {
      return { site, created: true, report: await this.reconcile() };
    } catch (e) {
      this.d.store.removeSite(site.domain);
      try {
        await this.reconcile();
      } catch (e2) {
        this.d.progress?.(`converging back after the failed create also failed: ${isVardError(e2) ? e2.message : String(e2)}`);
      }
      throw e;
    }
  }

  async deleteSite(domain: string): Promise<{ site: Site; report: ReconcileReport }> {
    const site = this.d.store.site(domain);
    if (!site) throw vardError('VARD_ERR_SITE_NOT_FOUND', [domain]);
    this.d.store.removeSite(domain);
    return { site, report: await this.reconcile() };
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
