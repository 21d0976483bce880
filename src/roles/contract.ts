/**
 * The role contract: everything particular to one kind of host lives in `src/roles/<role>/` behind
 * this interface, and the core (model validation, render, plan, apply, observe, status, the lab,
 * the CLI and the API) iterates the registry (`src/roles/registry.ts`) and never names a role.
 *
 * Optional members are capabilities: a role that routes nothing has no `lbServices`, a role with
 * no per-site state has no site hooks. Each member's comment states what holds after a failure.
 */
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import type { DaemonDriver } from '../daemon/index.ts';
import type { Host } from '../host/index.ts';
import type { HostSpec, Platform, RoleTopology, Site, TopologyShape } from '../model/index.ts';
import type { ConfigSet } from '../render/index.ts';

export type HostOf = (name: string) => Host;
export type Say = (msg: string) => void;

/** What a role's effects get: the desired state, the hosts, and a progress line. */
export interface RoleContext {
  readonly platform: Platform;
  readonly hostOf: HostOf;
  readonly say: Say;
}

/**
 * How a role's hosts take a change:
 * - `one-at-a-time`: each host alone; with `drain`, the balancers stop sending it new requests
 *   first and take it back after (web servers);
 * - `active-last`: one at a time, the host `active()` names last (the load balancer holding the
 *   public address; the database primary), with `handover()` called first when the role has one;
 * - `all-at-once`: every host in one go (stateless helpers).
 */
export type Rollout =
  | { readonly kind: 'one-at-a-time'; readonly drain: boolean }
  | { readonly kind: 'active-last' }
  | { readonly kind: 'all-at-once' };

/** A server behind the load balancers: a host of the contributing role on its private address. */
export interface LbServer {
  readonly host: string;
  readonly address: string;
  readonly port: number;
}

/**
 * An HTTP service the load balancers route by Host header: cacheable requests through the cache,
 * the rest straight to the servers [S8]. The backend is named `be_<role>_<id>`.
 */
export interface HttpService {
  readonly role: string;
  /** A config identifier: [a-z0-9_-]. */
  readonly id: string;
  readonly domain: string;
  readonly servers: readonly LbServer[];
  /** A path every server answers 200 on for this service's Host. */
  readonly healthPath: string;
}

/** A TCP port on the public address passed to the servers (mail, later). */
export interface TcpService {
  readonly role: string;
  readonly id: string;
  readonly port: number;
  readonly servers: readonly LbServer[];
  /** Send to the first server only while it is up (active/passive services). */
  readonly activeBackup?: boolean;
}

export interface LbContribution {
  readonly http?: readonly HttpService[];
  readonly tcp?: readonly TcpService[];
}

/**
 * Traffic a host accepts because of a role it carries; everything else is dropped. `from` names
 * the roles whose hosts may send (each one's private and public addresses and the role's VIP),
 * `public`: anyone, to the platform's public address only, or `addresses`: IPv4 CIDRs outside
 * the platform (the operator's, for SSH to real servers). Loopback is always open.
 */
export interface FirewallRule {
  readonly proto: 'tcp' | 'udp' | 'vrrp';
  readonly ports?: readonly number[];
  readonly from: readonly string[] | 'public' | { readonly addresses: readonly string[] };
  /** Why it is open: a comment in the rendered ruleset. */
  readonly why: string;
}

/** Something a finalizer kept before it deleted a site's state: fetched by the core to the operator side. */
export interface SiteArtifact {
  readonly kind: string;
  readonly host: string;
  readonly path: string;
  readonly bytes: number;
}

/** The narrow view of the state store's secrets a role may use: generate-once and forget. */
export interface SecretPort {
  /** The secret, created now when missing: by `make` (key material), or as a random password. */
  ensure(name: string, make?: () => string): string;
  get(name: string): string | undefined;
  remove(name: string): void;
}

/** A role's health, as `vard status` and the API show it. */
export interface RoleStatus {
  readonly healthy: boolean;
  /** One line for people. */
  readonly summary: string;
  /** Problems, one line each (empty when healthy). */
  readonly alerts: readonly string[];
  readonly details?: unknown;
}

/** Opens the platform for one CLI command (injected, so a role never imports the CLI or the core). */
export interface RoleCliDeps {
  readonly globals: () => { readonly json: boolean };
  /** Runs `fn` with the platform open and closes it after, whatever happens. */
  withPlatform<T>(progress: boolean, fn: (ctx: RoleContext) => Promise<T>): Promise<T>;
  emit(data: unknown, text: () => string): void;
  progress: Say;
}

export interface RoleApiDeps {
  /** The platform and its hosts, or undefined when this server runs without one. */
  readonly platform: () => RoleContext | undefined;
  /** Throws unless the request's actor is operator staff. */
  readonly requireStaff: (req: unknown) => void;
}

export interface RoleModule {
  /** The name hosts carry in a topology (`web`). */
  readonly id: string;
  readonly summary: string;
  /** Debian packages its daemons and tools come from (also in `packages.json`, read by setup). */
  readonly packages: readonly string[];
  /** Addressing and topology rules; pure. */
  readonly topology: RoleTopology;
  /** Its hosts in the reference platform, in order. */
  readonly reference: TopologyShape['hosts'];
  /** The smallest topology whose integration test exercises this role. */
  readonly testTopology: TopologyShape;
  /**
   * Every host carries it without naming it in the topology (the firewall): the core renders,
   * observes and prepares it on each host, and a topology that lists it is refused.
   */
  readonly everyHost?: boolean;

  /** One driver per daemon name its config sets use. */
  readonly daemons: Readonly<Record<string, DaemonDriver>>;
  /**
   * Pure: every config set `host` must hold for this role, in bring-up order. `accepts` is what
   * the roles on this host accept from the network (their `accepts`, and the ports of the
   * services the balancers route to here), merged by the core.
   */
  render(p: Platform, host: HostSpec, lb: LbContribution, accepts: readonly FirewallRule[]): ConfigSet[];
  readonly rollout: Rollout;
  /** For `active-last`: the host that serves now (undefined when none does). */
  active?(ctx: RoleContext): Promise<string | undefined>;
  /** For `active-last`: move the service off `host` before it changes (a database switchover). */
  handover?(ctx: RoleContext, host: string): Promise<void>;
  /** Further proof after a config set is live on a host (every site answers); throwing rolls the set back. */
  verify?(ctx: RoleContext, host: HostSpec, set: ConfigSet): Promise<void>;

  /** Idempotent, every run, before any config set: users, directories, support files. */
  prepareHost?(ctx: RoleContext, host: HostSpec): Promise<void>;
  /** Once per run after prepare and before the config sets: one-time bring-up (first datadir). */
  bootstrap?(ctx: RoleContext): Promise<void>;
  /** After the config sets: what needs the daemons running (a primary elected, site databases). */
  converge?(ctx: RoleContext): Promise<void>;
  /** After a host came back (lab revive): role-specific repair, e.g. rejoining a replica. */
  onHostRevived?(ctx: RoleContext, host: string): Promise<void>;

  /** What this role asks of the load balancers. */
  lbServices?(p: Platform): LbContribution;
  /**
   * What a host of this role accepts from the network, beyond the ports of its `lbServices`
   * (opened to the balancers by the core). Pure.
   */
  accepts?(p: Platform, host: HostSpec, lb: LbContribution): FirewallRule[];
  /**
   * A role that balances: it holds the platform's public address and routes to the services the
   * other roles contribute. `setRotation` takes a server out of rotation in every backend it
   * serves in (or back); `holders` names the hosts holding the public address (two = split brain).
   */
  balancer?: {
    setRotation(ctx: RoleContext, host: string, inRotation: boolean, lb: LbContribution): Promise<void>;
    holders(ctx: RoleContext): Promise<string[]>;
  };

  /** Extends the platform read from the store (the site databases' credentials from their secrets). */
  withSecrets?(p: Platform, secrets: SecretPort): Platform;
  /** The topology was recorded: create the secrets the role's renderers need. */
  onTopology?(p: Platform, secrets: SecretPort): void;
  /** A site was recorded (before converging): its secrets. */
  onSiteCreate?(p: Platform, site: Site, secrets: SecretPort): void;
  /**
   * Before a site leaves the desired state: keep what must not be lost (a final dump), then delete
   * the role's per-site state. Throwing keeps the site: nothing is deleted.
   */
  finalizeSite?(ctx: RoleContext, site: Site): Promise<SiteArtifact | undefined>;
  /** The site is gone from the desired state: drop its secrets. */
  onSiteForgotten?(site: Site, secrets: SecretPort): void;
  /** Slugs of the per-site leftovers on a host (site trees); those not desired are removed last. */
  siteResidue?(host: Host): Promise<string[]>;
  removeSiteResidue?(host: Host, slug: string): Promise<void>;

  /** The role's health beyond its daemons running. */
  status?(ctx: RoleContext): Promise<RoleStatus>;
  /** `vard <role> …` commands. */
  cli?(program: Command, deps: RoleCliDeps): void;
  /** `/v1/<role>/…` routes. */
  api?(app: FastifyInstance, deps: RoleApiDeps): void;
}
