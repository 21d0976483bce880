/**
 * The database tier [S12]: MariaDB primary/replica with GTID and semi-synchronous replication,
 * promoted by Pacemaker (`ocf:heartbeat:mariadb` behind a thin wrapper) with a third quorum vote
 * (the `quorum` role); one database and user per site, dumped before it is dropped.
 * Decisions: docs/designs/0001-database-tier.md.
 */
import { applyConfigSet } from '../../apply/config-set.ts';
import { vardError } from '../../errors/index.ts';
import { writeIfChanged } from '../../host/index.ts';
import { hostsWithRole, type DbClusterSecrets, type HostSpec, type Platform, type SiteDatabase } from '../../model/index.ts';
import type { RoleContext, RoleModule, SecretPort } from '../contract.ts';
import { registerDbCommands } from './cli.ts';
import { CLUSTER_ACCEPTS, DB_PATHS, DB_PORT, DB_ROLE, dbConfigSets, dbHosts, dbVip, QUORUM_ROLE, REJOIN_PORT } from './render.ts';
import { currentPrimary, initDatadirs, noDatadirYet, prepareClusterHost, upClusterHosts, waitForPrimary } from './cluster.ts';
import { DB_DAEMONS, mariadbDriver } from './drivers.ts';
import { ensureReplicaRejoined, switchover } from './operations.ts';
import packages from './packages.json' with { type: 'json' };
import { dumpAndDropSiteDatabase, ensureSiteDatabases } from './sites.ts';
import { makeCa, makeHostCert, makeTotemKey, type Pem } from './tls.ts';
import { dbAlerts, dbStatus } from './status.ts';

export { currentPrimary, dbVipHolders, parseCrmMon, type ClusterView } from './cluster.ts';
export { cibConfigurationDiffers, mergeCibConfiguration, parseXml, scrubCib, serializeXml } from './cib.ts';
export { DB_DAEMONS, QUORUM_DAEMONS } from './drivers.ts';
export { siteDatabaseSql } from './sites.ts';
export { dbAlerts, dbStatus, formatDbStatus, type DbAlert, type DbStatus } from './status.ts';
export { rejoin, siteChecksums, switchover, waitReplicaHealthy } from './operations.ts';
export { query, scalar, sqlId, sqlString } from './sql.ts';
export { DB_ROLE, QUORUM_ROLE, dbVip } from './render.ts';

/** The secret names this role keeps in the state store. */
export const REPL_SECRET = 'db:replication';
export const TOTEM_KEY_SECRET = 'db:totem-key';
export const TLS_CA_SECRET = 'db:tls-ca';
export function tlsHostSecretName(host: string): string {
  return `db:tls:${host}`;
}
export function siteDbSecretName(domain: string): string {
  return `site:${domain}:db`;
}

function hasTier(p: Platform): boolean {
  return dbVip(p.topology) !== undefined;
}

/** The platform's CA and every db host's pair, when all of them exist. */
function tlsOf(p: Platform, secrets: SecretPort): DbClusterSecrets['tls'] {
  const ca = secrets.get(TLS_CA_SECRET);
  if (!ca) return undefined;
  const hosts: Record<string, Pem> = {};
  for (const h of dbHosts(p.topology)) {
    const pair = secrets.get(tlsHostSecretName(h.name));
    if (!pair) return undefined;
    hosts[h.name] = JSON.parse(pair) as Pem;
  }
  return { ca: (JSON.parse(ca) as Pem).cert, hosts };
}

/** This db host's key pair and the CA, readable by root only: what the rebuild stream authenticates with. */
async function installTls(ctx: RoleContext, spec: HostSpec): Promise<void> {
  const tls = ctx.platform.dbSecrets?.tls;
  const pair = tls?.hosts[spec.name];
  if (!tls || !pair) return;
  const h = ctx.hostOf(spec.name);
  await h.mkdir(DB_PATHS.tls);
  await h.run(['chmod', '700', DB_PATHS.tls]);
  await writeIfChanged(h, `${DB_PATHS.tls}/ca.pem`, tls.ca, 0o600);
  await writeIfChanged(h, `${DB_PATHS.tls}/host.pem`, pair.cert, 0o600);
  await writeIfChanged(h, `${DB_PATHS.tls}/host.key`, pair.key, 0o600);
}

export const dbRole: RoleModule = {
  id: DB_ROLE,
  summary: 'database: MariaDB primary/replica (GTID, semi-sync) promoted by Pacemaker',
  packages,
  topology: {
    privateBlock: 171,
    // Just below the db hosts' block (field notes §1.6).
    vipOffset: 170,
    rules(shape) {
      const out: { path: string; message: string }[] = [];
      const dbs = shape.hosts.filter((h) => h.roles.includes(DB_ROLE)).length;
      const quorum = shape.hosts.filter((h) => h.roles.includes(QUORUM_ROLE)).length;
      // The promotion rules (one replica, semi-sync) and the quorum arithmetic are written for a pair.
      if (dbs !== 0 && dbs !== 2) out.push({ path: 'hosts', message: `${dbs} hosts have the role "${DB_ROLE}"; the database tier takes exactly two (primary and replica)` });
      if (dbs === 2 && quorum !== 1) out.push({ path: 'hosts', message: `a database pair needs exactly one host with the role "${QUORUM_ROLE}" (the third vote that prevents two primaries)` });
      shape.hosts.forEach((h, i) => {
        if (h.roles.includes(QUORUM_ROLE) && h.roles.includes(DB_ROLE)) out.push({ path: `hosts.${i}.roles`, message: `a host cannot be both "${DB_ROLE}" and its own third vote "${QUORUM_ROLE}"` });
      });
      return out;
    },
  },
  reference: [
    { name: 'db1', roles: [DB_ROLE] },
    { name: 'db2', roles: [DB_ROLE] },
    // The cluster's third vote: without it a cut between db1 and db2 leaves two quorate halves.
    { name: 'dbq', roles: [QUORUM_ROLE] },
  ],
  // The pair and its third vote, plus a balancer and two web servers: writes from more than one client host.
  testTopology: {
    source: 'test:db',
    hosts: [
      { name: 'lb1', roles: ['lb'] },
      { name: 'web1', roles: ['web'] },
      { name: 'web2', roles: ['web'] },
      { name: 'db1', roles: [DB_ROLE] },
      { name: 'db2', roles: [DB_ROLE] },
      { name: 'dbq', roles: [QUORUM_ROLE] },
    ],
  },
  daemons: DB_DAEMONS,
  render: (p, host) => dbConfigSets(p, host),
  // The replica first, the primary last and only after a switchover (handover).
  rollout: { kind: 'active-last' },
  active: (ctx) => currentPrimary(ctx.platform, ctx.hostOf).catch(() => undefined),
  async handover(ctx, host) {
    if ((await currentPrimary(ctx.platform, ctx.hostOf).catch(() => undefined)) !== host) return;
    await switchover(ctx.platform, ctx.hostOf, ctx.say);
  },
  async prepareHost(ctx, host) {
    await prepareClusterHost(host, ctx.hostOf(host.name));
    await installTls(ctx, host);
  },
  accepts: (p) =>
    hasTier(p)
      ? [
          { proto: 'tcp', ports: [DB_PORT], from: ['web', DB_ROLE], why: 'MariaDB: the sites on the web servers, replication between the database hosts' },
          CLUSTER_ACCEPTS,
          { proto: 'tcp', ports: [REJOIN_PORT], from: [DB_ROLE], why: 'a replica rebuilt from the primary (mutual TLS)' },
        ]
      : [],
  async bootstrap(ctx) {
    const p = ctx.platform;
    if (!hasTier(p)) return;
    // One GTID history for both servers: installed once, with every db host there to copy it to.
    const up = await upClusterHosts(p, ctx.hostOf);
    if (!dbHosts(p.topology).every((d) => up.some((u) => u.name === d.name))) return;
    if (!(await noDatadirYet(p, ctx.hostOf))) return;
    // The install and the private server read my.cnf from `current`: the mariadb set is staged
    // now, ahead of its step (which then finds it in place). No server starts: that is Pacemaker's.
    for (const h of dbHosts(p.topology)) {
      const set = dbConfigSets(p, h).find((s) => s.daemon === 'mariadb');
      if (set) await applyConfigSet(ctx.hostOf(h.name), set, mariadbDriver);
    }
    await initDatadirs(p, ctx.hostOf, ctx.say);
  },
  async converge(ctx) {
    if (!hasTier(ctx.platform)) return;
    await waitForPrimary(ctx.platform, ctx.hostOf);
    await ensureSiteDatabases(ctx.platform, ctx.hostOf);
  },
  async onHostRevived(ctx, host) {
    // A database host that was the primary may carry a transaction nobody acknowledged; if it
    // cannot resume replication on its own it is rebuilt from the primary (vard db rejoin).
    if (!hostsWithRole(ctx.platform.topology, DB_ROLE).some((h) => h.name === host)) return;
    const how = await ensureReplicaRejoined(ctx.platform, ctx.hostOf, host, ctx.say);
    ctx.say(`${host} is a replica again (${how})`);
  },

  withSecrets(p: Platform, secrets: SecretPort): Platform {
    const vip = dbVip(p.topology);
    if (!vip) return p;
    const databases: Record<string, SiteDatabase> = {};
    for (const s of p.sites) {
      const password = secrets.get(siteDbSecretName(s.domain));
      // The names recorded when the site was created: unique among the sites, unlike names derived here.
      if (password) databases[s.slug] = { name: s.dbName, user: s.dbUser, password, host: vip, port: DB_PORT };
    }
    const replicationPassword = secrets.get(REPL_SECRET);
    const totemKey = secrets.get(TOTEM_KEY_SECRET);
    const tls = tlsOf(p, secrets);
    return { ...p, databases, ...(replicationPassword ? { dbSecrets: { replicationPassword, ...(totemKey ? { totemKey } : {}), ...(tls ? { tls } : {}) } } : {}) };
  },
  onTopology(p, secrets) {
    // The cluster's own secret exists before anything renders the cluster configuration; sites
    // recorded before the platform had a database tier get theirs now.
    if (!hasTier(p)) return;
    secrets.ensure(REPL_SECRET);
    secrets.ensure(TOTEM_KEY_SECRET, makeTotemKey);
    const ca = secrets.ensure(TLS_CA_SECRET, () => makeCa(p.name));
    for (const h of dbHosts(p.topology)) secrets.ensure(tlsHostSecretName(h.name), () => makeHostCert(ca, h.name));
    for (const s of p.sites) secrets.ensure(siteDbSecretName(s.domain));
  },
  onSiteCreate(p, site, secrets) {
    if (hasTier(p)) secrets.ensure(siteDbSecretName(site.domain));
  },
  async finalizeSite(ctx, site) {
    const db = ctx.platform.databases?.[site.slug];
    if (!db || !hasTier(ctx.platform)) return undefined;
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const r = await dumpAndDropSiteDatabase(ctx.platform, ctx.hostOf, site.domain, db, stamp);
    return { kind: 'database dump', host: r.dumpHost, path: r.dumpPath, bytes: r.bytes };
  },
  onSiteForgotten(site, secrets) {
    secrets.remove(siteDbSecretName(site.domain));
  },

  async status(ctx) {
    if (!hasTier(ctx.platform)) return { healthy: true, summary: 'no database tier', alerts: [] };
    const s = await dbStatus(ctx.platform, ctx.hostOf);
    const alerts = dbAlerts(s);
    return {
      healthy: alerts.length === 0,
      summary: `primary ${s.primary ?? 'NONE'}, database address ${s.vip} on ${s.vipHolders.join(', ') || 'no host'}`,
      alerts: alerts.map((a) => `[${a.severity}] ${a.summary}`),
      details: { primary: s.primary, vipHolders: s.vipHolders, cluster: s.cluster ? { quorate: s.cluster.quorate, online: s.cluster.online } : undefined, lagTransactions: s.lagTransactions },
    };
  },
  cli: registerDbCommands,
  api(app, deps) {
    app.get('/v1/db/status', { schema: { tags: ['platform'], summary: 'The database tier: primary, replicas, lag, alerts (operator staff only)', security: [{ bearer: [] }] } }, async (req) => {
      deps.requireStaff(req);
      const ctx = deps.platform();
      if (!ctx || !hasTier(ctx.platform)) throw vardError('VARD_ERR_DB_NO_TIER', [ctx?.platform.name ?? 'this server']);
      const s = await dbStatus(ctx.platform, ctx.hostOf);
      const alerts = dbAlerts(s);
      return { ...s, healthy: alerts.length === 0, alerts };
    });
  },
};
