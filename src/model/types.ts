/**
 * The desired state of a platform: its topology (hosts, roles, addresses) and its sites.
 * Plain data, no behaviour; validated by `validate.ts` before anything renders from it.
 */

/** Roles a host can carry. Later tiers (db, dns, mail, search, files, backup) join this list. */
export const ROLES = ['lb', 'web'] as const;
export type Role = (typeof ROLES)[number];

export interface HostSpec {
  /** Short host name, unique in the topology (`lb1`, `web2`). */
  readonly name: string;
  readonly roles: readonly Role[];
  /** Address on the private segment, where backends and the LB peers talk. */
  readonly privateAddress: string;
  /** Address on the public segment; load balancers only. */
  readonly publicAddress?: string;
}

export interface Topology {
  /** Which preset or file it came from, for headers and status. */
  readonly source: string;
  readonly hosts: readonly HostSpec[];
  /** The public virtual address of the web service, held by the active load balancer. */
  readonly publicVip: string;
  /** Prefix length of the public and private segments. */
  readonly publicPrefix: number;
  readonly privatePrefix: number;
}

export const DRUPAL_MAJORS = [7, 10] as const;
export type DrupalMajor = (typeof DRUPAL_MAJORS)[number];

export interface Site {
  /** Fully qualified host name the site answers to, lower case. */
  readonly domain: string;
  /** Stable identifier derived from the domain: names pools, backends, users, directories. */
  readonly slug: string;
  readonly customer: string;
  readonly drupal: DrupalMajor;
  /** The site's own port on every web server [S11]. */
  readonly port: number;
  /** The Unix user its PHP-FPM pool runs as. */
  readonly unixUser: string;
  readonly createdAt: string;
}

export interface Platform {
  readonly name: string;
  readonly topology: Topology;
  readonly sites: readonly Site[];
}

export function hostsWithRole(t: Topology, role: Role): HostSpec[] {
  return t.hosts.filter((h) => h.roles.includes(role));
}
