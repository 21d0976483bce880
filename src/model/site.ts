import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { domainProblems, isSlugLike, slugForDomain, unixUserForSlug } from './names.ts';
import { DRUPAL_MAJORS, type DrupalMajor, type Site } from './types.ts';

export interface SiteRequest {
  readonly domain: string;
  readonly customer?: string;
  readonly drupal?: string | number;
}

/** The first port handed to a site; one port per site on every web server [S11]. */
export const FIRST_SITE_PORT = 8081;
const LAST_SITE_PORT = 8999;

/**
 * Validates a create request against the existing sites and returns the new site's record.
 * Reports every problem at once (VARD_ERR_SITE_INVALID), or VARD_ERR_SITE_EXISTS for a duplicate.
 */
export function newSite(req: SiteRequest, existing: readonly Site[], now: Date): Site {
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

  const slug = slugForDomain(domain);
  const clash = existing.find((s) => s.domain === domain || s.slug === slug);
  if (clash) throw vardError('VARD_ERR_SITE_EXISTS', [clash.domain, clash.customer]);
  const used = new Set(existing.map((s) => s.port));
  let port = FIRST_SITE_PORT;
  while (used.has(port)) port++;
  if (port > LAST_SITE_PORT) throw vardError('VARD_ERR_SITE_INVALID', [formatProblems([{ path: 'port', message: 'no free site port left' }])]);
  return {
    domain,
    slug,
    customer,
    drupal: drupalNum as DrupalMajor,
    port,
    unixUser: unixUserForSlug(slug),
    createdAt: now.toISOString(),
  };
}
