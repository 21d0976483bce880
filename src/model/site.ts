import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { dbNameForSlug, dbUserForSlug, domainProblems, firstFreeName, isSlugLike, slugForDomain, unixUserForSlug } from './names.ts';
import { DRUPAL_MAJORS, type DrupalMajor, type Site } from './types.ts';

export interface SiteRequest {
  readonly domain: string;
  readonly customer?: string;
  readonly drupal?: string | number;
}

/**
 * The names already owned by sites, by kind. Each kind is its own namespace on the hosts (a slug
 * names a pool, a vhost and the balancers' backends; the others a Unix account, a database, a
 * database account, a port), so a name is only taken within its kind.
 */
export interface TakenNames {
  readonly slugs: Iterable<string>;
  readonly unixUsers: Iterable<string>;
  readonly dbNames: Iterable<string>;
  readonly dbUsers: Iterable<string>;
  readonly ports: Iterable<number>;
}

export function takenNames(sites: readonly Site[]): TakenNames {
  return {
    slugs: sites.map((s) => s.slug),
    unixUsers: sites.map((s) => s.unixUser),
    dbNames: sites.map((s) => s.dbName),
    dbUsers: sites.map((s) => s.dbUser),
    ports: sites.map((s) => s.port),
  };
}

/**
 * One port per site on every web server [S11]. The first block is where sites have always been
 * (existing sites keep their ports, and a freed one there is reused); the second lets the
 * reference platform take well over 1,000 sites while skipping 9000-9999, where node exporters
 * and PHP-FPM's default TCP listener live on many hosts. Both stay below Linux's ephemeral range.
 */
export const SITE_PORT_BLOCKS: readonly (readonly [number, number])[] = [
  [8081, 8999],
  [10000, 19999],
];
/** The first port handed to a site. */
export const FIRST_SITE_PORT = 8081;
const SITE_PORT_COUNT = SITE_PORT_BLOCKS.reduce((n, [lo, hi]) => n + hi - lo + 1, 0);

function freePort(taken: ReadonlySet<number>): number | undefined {
  for (const [lo, hi] of SITE_PORT_BLOCKS) for (let p = lo; p <= hi; p++) if (!taken.has(p)) return p;
  return undefined;
}

/**
 * Validates a create request against the existing sites and returns the new site's record.
 * Reports every problem at once (VARD_ERR_SITE_INVALID), or VARD_ERR_SITE_EXISTS for a duplicate
 * domain. Every name it derives is one no site owns yet (`taken`, the store's record; by default
 * the names of `existing`): a legitimate domain whose usual name is taken, by a lookalike domain
 * or one crafted to match, gets the next distinct name rather than a refusal or a shared account.
 */
export function newSite(req: SiteRequest, existing: readonly Site[], now: Date, taken: TakenNames = takenNames(existing)): Site {
  const problems: Problem[] = [];
  const domain = req.domain.trim();
  for (const m of domainProblems(domain)) problems.push({ path: 'domain', message: m });
  const customer = req.customer ?? 'default';
  if (!isSlugLike(customer)) {
    problems.push({ path: 'customer', message: `"${customer}" must be 1-40 lowercase letters, digits or hyphens, starting with a letter` });
  }
  const drupalNum = req.drupal === undefined ? 10 : Number(req.drupal);
  if (!DRUPAL_MAJORS.includes(drupalNum as DrupalMajor)) {
    problems.push({ path: 'drupal', message: `Drupal major "${String(req.drupal)}" is not supported; choose one of ${DRUPAL_MAJORS.join(', ')}` });
  }
  if (problems.length) throw vardError('VARD_ERR_SITE_INVALID', [formatProblems(problems)], { details: { problems } });

  const clash = existing.find((s) => s.domain === domain);
  if (clash) throw vardError('VARD_ERR_SITE_EXISTS', [clash.domain, clash.customer]);
  const port = freePort(new Set(taken.ports));
  if (port === undefined) {
    const ranges = SITE_PORT_BLOCKS.map(([lo, hi]) => `${lo}-${hi}`).join(', ');
    const problem = { path: 'port', message: `all ${SITE_PORT_COUNT} site ports (${ranges}) are taken; delete a site to free one` };
    throw vardError('VARD_ERR_SITE_INVALID', [formatProblems([problem])], { details: { problems: [problem] } });
  }
  const slug = firstFreeName((n) => slugForDomain(domain, n), new Set(taken.slugs));
  return {
    domain,
    slug,
    customer,
    drupal: drupalNum as DrupalMajor,
    port,
    unixUser: firstFreeName((n) => unixUserForSlug(slug, n), new Set(taken.unixUsers)),
    dbName: firstFreeName((n) => dbNameForSlug(slug, n), new Set(taken.dbNames)),
    dbUser: firstFreeName((n) => dbUserForSlug(slug, n), new Set(taken.dbUsers)),
    createdAt: now.toISOString(),
  };
}
