/**
 * The desired state of a platform: its topology (hosts, roles, addresses) and its sites.
 * Plain data, no behaviour; validated by `validate.ts` before anything renders from it.
 */

/** A role's id (`web`); which ids exist is the role registry's to say (src/roles/registry.ts). */
export type Role = string;

export interface HostSpec {
  /** Short host name, unique in the topology (`lb1`, `web2`). */
  readonly name: string;
  readonly roles: readonly Role[];
  /** Address on the private segment, where backends and the LB peers talk. */
  readonly privateAddress: string;
  /** Address on the public segment; load balancers only. */
  readonly publicAddress?: string;
  /**
   * How Vard reaches a real server (an inventory platform, `src/inventory`); absent on lab hosts,
   * which the lab reaches itself. The host key is pinned in the state store, not here.
   */
  readonly ssh?: SshEndpoint;
}

/** sshd's port unless an inventory names another. */
export const DEFAULT_SSH_PORT = 22;

/** Where Vard logs in to a real server. */
export interface SshEndpoint {
  /** Address Vard connects to: the private address, or a management address when Vard sits outside. */
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /**
   * Like OpenSSH's ProxyCommand, as an argv whose stdin/stdout carry the connection (a bastion:
   * `[ssh, -W, 10.20.0.21:22, bastion]`); absent for a direct TCP connection.
   */
  readonly proxy?: readonly string[];
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
  /**
   * Stable private addresses of roles that ask for one (the database's, held by its primary), by
   * role id; absent when no role does.
   */
  readonly vips?: Readonly<Record<string, string>>;
  /**
   * Real servers only (an inventory): the operator's addresses (IPv4 CIDRs) that may reach every
   * host's SSH port, which the firewall would otherwise drop and so lock Vard out. Absent in a lab.
   */
  readonly operator?: { readonly sshFrom: readonly string[] };
}

export const DRUPAL_MAJORS = [7, 10] as const;
export type DrupalMajor = (typeof DRUPAL_MAJORS)[number];

export interface Site {
  /** Fully qualified host name the site answers to, lower case. */
  readonly domain: string;
  /** Stable identifier derived from the domain: names pools, vhosts, backends, directories. */
  readonly slug: string;
  readonly customer: string;
  readonly drupal: DrupalMajor;
  /** The site's own port on every web server [S11]. */
  readonly port: number;
  /** The Unix user its PHP-FPM pool runs as. */
  readonly unixUser: string;
  /**
   * Its database and database account. Recorded when the site is created, like every name above,
   * rather than derived when read: derived names can collide, recorded ones are kept unique.
   */
  readonly dbName: string;
  readonly dbUser: string;
  readonly createdAt: string;
}

/**
 * How a site reaches its database. Kept apart from `Site` because it carries a secret: a Site is
 * printed by `site list`/`show`/`--json`, this only by `vard site credentials`.
 */
export interface SiteDatabase {
  readonly name: string;
  readonly user: string;
  readonly password: string;
  /** The database VIP: the current primary, whichever host that is. */
  readonly host: string;
  readonly port: number;
}

/** The table every site database has, where the site's `db-check.php` proves a write reaches the primary. */
export const DB_CHECK_TABLE = 'vard_db_check';

/** Secrets of the database cluster itself, generated once per platform. */
export interface DbClusterSecrets {
  /** Password of `vard_repl`: replication between the pair and the resource agent's local admin. */
  readonly replicationPassword: string;
  /** Corosync's `totem.keyfile`: the cluster traffic's key (aes256, sha256). */
  readonly totemKey?: string;
  /** Mutual TLS between the db hosts (a replica's rebuild stream): the platform's CA, each db host's key pair, PEM. */
  readonly tls?: { readonly ca: string; readonly hosts: Readonly<Record<string, { readonly cert: string; readonly key: string }>> };
}

export interface Platform {
  readonly name: string;
  readonly topology: Topology;
  readonly sites: readonly Site[];
  /** Per-site database credentials, by slug; empty or absent without a db tier. */
  readonly databases?: Readonly<Record<string, SiteDatabase>>;
  /** Absent until the db tier has been given its secrets (PlatformStore does so with the topology). */
  readonly dbSecrets?: DbClusterSecrets;
}

export function hostsWithRole(t: Topology, role: Role): HostSpec[] {
  return t.hosts.filter((h) => h.roles.includes(role));
}

/** What a role says about addressing and the shape of a topology; pure data and rules. */
export interface RoleTopology {
  /** Offset of its hosts' addresses in the private half of a lab /24 (.128-.254), in host order. */
  readonly privateBlock: number;
  /** Its hosts also sit on the public segment (the load balancers). */
  readonly publicLeg?: boolean;
  /** Offset of a virtual address on the private segment that the role's active host holds. */
  readonly vipOffset?: number;
  /** Whole-topology rules (how many hosts, which companions); every problem with its path. */
  rules?(shape: { readonly hosts: readonly { readonly name: string; readonly roles: readonly string[] }[] }): { path: string; message: string }[];
}

/** The roles a topology may use, as the registry lists them. */
export type RoleCatalog = readonly { readonly id: string; readonly topology: RoleTopology; readonly everyHost?: boolean }[];
