/**
 * The database cluster's effects beyond its config sets: preparing db and quorum hosts, the first
 * datadir, and reading who is primary. Promotion itself is never done here: Pacemaker decides and
 * runs the resource agent (render.ts); Vard only starts the cluster (drivers.ts), asks it for
 * planned moves and reports. Decisions: docs/designs/0001-database-tier.md.
 */
import { waitFor } from '../../daemon/index.ts';
import { isVardError, vardError } from '../../errors/index.ts';
import { addressHolders, hostIsUp, writeIfChanged, type Host } from '../../host/index.ts';
import type { HostSpec, Platform } from '../../model/index.ts';
import { clusterHosts, DB_CLONE, DB_PATHS, DB_PRIVATE_IF, dbHosts, dbVip, privateNetMask, REPL_USER, vardAgentScript } from './render.ts';
import { query, scalar, sqlString } from './sql.ts';

export type { HostOf } from '../contract.ts';
import type { HostOf } from '../contract.ts';
type Say = (m: string) => void;

const PCMK_DIRS = ['cib', 'pengine', 'blackbox', 'cores'] as const;
const INIT_MARKER = `${DB_PATHS.mysqlHome}/.vard-initialized`;

/** The cluster hosts that answer right now. */
export async function upClusterHosts(p: Platform, hostOf: HostOf): Promise<HostSpec[]> {
  const hosts = clusterHosts(p.topology);
  const up = await Promise.all(hosts.map(async (h) => ((await hostIsUp(hostOf(h.name))) ? h : undefined)));
  return up.filter((h): h is HostSpec => h !== undefined);
}

/** Binds a persistent directory over a path a daemon hard-codes, once per boot (the mount lives in the host's mount namespace). */
async function bindOnce(host: Host, from: string, onto: string): Promise<void> {
  if ((await host.run(['mountpoint', '-q', onto], { allowFail: true })).exitCode === 0) return;
  await host.run(['mount', '--bind', from, onto]);
}

/**
 * Everything a db or quorum host needs before its cluster daemons start: state directories under
 * /srv (which survives a reboot) bound over the paths Corosync and Pacemaker hard-code, and the
 * resource agent. The daemons' own configuration comes as config sets (drivers.ts). Idempotent;
 * run on every reconcile.
 */
export async function prepareClusterHost(spec: HostSpec, host: Host): Promise<void> {
  const st = DB_PATHS.clusterState;
  await host.mkdir(`${st}/corosync`);
  for (const d of PCMK_DIRS) await host.mkdir(`${st}/pacemaker/${d}`);
  await host.run(['chown', '-R', 'hacluster:haclient', `${st}/pacemaker`]);
  await host.run(['chmod', '750', ...PCMK_DIRS.map((d) => `${st}/pacemaker/${d}`)]);
  await bindOnce(host, `${st}/corosync`, '/var/lib/corosync');
  for (const d of PCMK_DIRS) await bindOnce(host, `${st}/pacemaker/${d}`, `/var/lib/pacemaker/${d}`);
  // crmsh and the agents expect these; a fresh /run has none of them.
  for (const d of ['/var/log/pacemaker', '/var/log/corosync', '/var/log/crmsh', '/run/resource-agents']) await host.mkdir(d);
  await host.run(['chown', 'hacluster:haclient', '/var/log/pacemaker']);
  // The lab's hosts share /usr: every host writes the same bytes, so this is idempotent across labs.
  await writeIfChanged(host, DB_PATHS.agent, vardAgentScript(), 0o755);
  if (spec.roles.includes('db')) {
    for (const d of ['/run/mysqld', '/var/log/mysql', DB_PATHS.mysqlHome, DB_PATHS.dumps]) await host.mkdir(d);
    await host.run(['chown', 'mysql:mysql', '/run/mysqld', '/var/log/mysql', DB_PATHS.mysqlHome]);
    await host.run(['chmod', '700', DB_PATHS.dumps]);
  }
}

/** Starts mariadbd outside Pacemaker, without networking, for bootstrap and rebuild steps only. */
async function startPrivateServer(host: Host): Promise<void> {
  await host.run([
    'sh', '-c', 'setsid "$@" </dev/null >>/var/log/vard/mariadb-maintenance.log 2>&1 &', 'vard-mariadb',
    'mariadbd', `--defaults-file=${DB_PATHS.myCnf}`, '--skip-networking', '--skip-slave-start', '--read-only=0',
  ]);
  await waitFor({ daemon: 'mariadb (maintenance)', host: host.name }, async () => (await scalar(host, 'SELECT 1', { allowFail: true })) === '1', {
    timeoutMs: 60_000,
    intervalMs: 200,
    detail: async () => (await host.readFile(DB_PATHS.errorLog))?.toString('utf8').slice(-1500) ?? '',
  });
}

async function stopPrivateServer(host: Host): Promise<void> {
  await host.run(['mariadb-admin', `--socket=${DB_PATHS.socket}`, '--user=root', 'shutdown'], { allowFail: true, timeoutMs: 60_000 });
  await waitFor({ daemon: 'mariadb (maintenance)', host: host.name }, async () => !(await host.exists(DB_PATHS.pidFile)), { timeoutMs: 60_000, intervalMs: 200 });
}

/**
 * The statements every datadir starts with: the replication account, as a local administrator
 * for the resource agent (socket) and as a replication login from the private segment.
 */
export function bootstrapSql(p: Platform): string {
  const pw = p.dbSecrets?.replicationPassword;
  if (!pw) throw vardError('VARD_ERR_INTERNAL', ['the database cluster has no replication secret yet']);
  const net = sqlString(privateNetMask(p.topology));
  const user = sqlString(REPL_USER);
  return [
    `CREATE USER IF NOT EXISTS ${user}@'localhost' IDENTIFIED BY ${sqlString(pw)};`,
    `GRANT ALL PRIVILEGES ON *.* TO ${user}@'localhost';`,
    `CREATE USER IF NOT EXISTS ${user}@${net} IDENTIFIED BY ${sqlString(pw)};`,
    `GRANT REPLICATION SLAVE, REPLICATION SLAVE ADMIN, BINLOG MONITOR, SLAVE MONITOR ON *.* TO ${user}@${net};`,
    '',
  ].join('\n');
}

/**
 * The first datadir: installed and bootstrapped on the first db host, then copied byte for byte to
 * the second, so both start from one GTID history (two separate installs would be two diverged
 * histories, and the agent's first-primary election needs a GTID on every node).
 */
/**
 * True when no db host has a datadir yet: the tier was never brought up. When only one lost its
 * datadir, `vard db rejoin` rebuilds it from the primary instead.
 */
export async function noDatadirYet(p: Platform, hostOf: HostOf): Promise<boolean> {
  const done = await Promise.all(dbHosts(p.topology).map(async (h) => hostOf(h.name).exists(INIT_MARKER)));
  return done.length > 0 && !done.some(Boolean);
}

export async function initDatadirs(p: Platform, hostOf: HostOf, say: Say): Promise<void> {
  const [first, ...rest] = dbHosts(p.topology);
  if (!first || !(await noDatadirYet(p, hostOf))) return;
  const h1 = hostOf(first.name);
  say(`database: installing the first datadir on ${first.name}`);
  await h1.remove(DB_PATHS.datadir, { recursive: true });
  await h1.run(
    ['mariadb-install-db', `--defaults-file=${DB_PATHS.myCnf}`, '--skip-test-db', '--auth-root-authentication-method=socket', '--user=mysql'],
    { timeoutMs: 120_000 },
  );
  await startPrivateServer(h1);
  try {
    await query(h1, bootstrapSql(p));
  } finally {
    await stopPrivateServer(h1);
  }
  const seed = `${DB_PATHS.mysqlHome}/seed.tar.gz`;
  await h1.run(['tar', '-C', DB_PATHS.mysqlHome, '-czf', seed, 'data'], { timeoutMs: 120_000 });
  const bytes = await h1.readFile(seed);
  if (!bytes) throw vardError('VARD_ERR_DB_CLUSTER', [first.name, 'the seed archive vanished']);
  for (const other of rest) {
    say(`database: copying the first datadir to ${other.name}`);
    const h = hostOf(other.name);
    await h.remove(DB_PATHS.datadir, { recursive: true });
    await h.writeFile(seed, bytes, { mode: 0o600 });
    await h.run(['tar', '-C', DB_PATHS.mysqlHome, '--same-owner', '-xzf', seed], { timeoutMs: 120_000 });
    await h.remove(seed);
    // gtid_current_pos counts only binlog events of this server's own id; the copied history is
    // the first host's, so without a slave position this server would report no GTID at all and
    // the agent could never elect a first primary.
    await startPrivateServer(h);
    try {
      await query(h, 'SET GLOBAL gtid_slave_pos = @@gtid_binlog_pos;');
    } finally {
      await stopPrivateServer(h);
    }
    await h.writeFile(INIT_MARKER, `${new Date().toISOString()} copied from ${first.name}\n`);
  }
  await h1.remove(seed);
  await h1.writeFile(INIT_MARKER, `${new Date().toISOString()} installed\n`);
}

export interface ClusterView {
  /** The node that answered. */
  readonly via: string;
  readonly quorate: boolean;
  readonly dc: string | undefined;
  readonly online: readonly string[];
  readonly promoted: readonly string[];
  readonly unpromoted: readonly string[];
  readonly vipOn: readonly string[];
  /** Failed actions Pacemaker reports (`<failure … />`), as short text. */
  readonly failures: readonly string[];
  /**
   * Nodes a `crm_resource --ban` keeps the database off (`cli-ban-db-clone-on-db2`): left by a
   * rejoin that stopped half-way on purpose, so MariaDB never starts on unverified data.
   */
  readonly bans: readonly { readonly node: string; readonly id: string }[];
}

/**
 * Pacemaker's own view (`crm_mon -1 --output-as=xml`), parsed for the few facts Vard uses. Sample:
 * ```
 * <current_dc present="true" … name="db1" id="1" with_quorum="true" …/>
 * <node name="db1" id="1" online="true" standby="false" …/>
 * <resource id="db" resource_agent="ocf:vard:mariadb" role="Promoted" active="true" …><node name="db1" id="1" cached="true"/></resource>
 * <resource id="db-vip" resource_agent="ocf:heartbeat:IPaddr2" role="Started" …><node name="db1" id="1" cached="true"/></resource>
 * ```
 */
export function parseCrmMon(xml: string, via: string): ClusterView {
  const dc = /<current_dc [^>]*present="true"[^>]*name="([^"]+)"/.exec(xml)?.[1];
  const quorate = /<current_dc [^>]*with_quorum="true"/.test(xml);
  const online: string[] = [];
  const nodesBlock = /<nodes>([\s\S]*?)<\/nodes>/.exec(xml)?.[1] ?? '';
  for (const m of nodesBlock.matchAll(/<node name="([^"]+)"[^>]*online="true"/g)) if (m[1]) online.push(m[1]);
  const promoted: string[] = [];
  const unpromoted: string[] = [];
  const vipOn: string[] = [];
  // A stopped instance is self-closing (`<resource … role="Stopped" …/>`): it must not swallow the next element.
  for (const m of xml.matchAll(/<resource id="([^"]+)"[^>]*?role="([^"]+)"[^>]*?(?:\/>|>([\s\S]*?)<\/resource>)/g)) {
    const [, id, role, body] = m;
    const nodes = [...(body ?? '').matchAll(/<node name="([^"]+)"/g)].map((n) => n[1] as string);
    if (id === 'db' && role === 'Promoted') promoted.push(...nodes);
    else if (id === 'db' && role === 'Unpromoted') unpromoted.push(...nodes);
    else if (id === 'db-vip' && role === 'Started') vipOn.push(...nodes);
  }
  const failures = [...xml.matchAll(/<failure ([^>]*)\/>/g)].map((m) => {
    const a = (k: string) => new RegExp(`${k}="([^"]*)"`).exec(m[1] ?? '')?.[1] ?? '';
    return `${a('op_key')} on ${a('node')}: ${a('exitreason') || a('status')}`;
  });
  // `<ban id="cli-ban-db-clone-on-db2" resource="db-clone" node="db2" weight="-1000000" …/>` (crm_mon --include=bans)
  const bans = [...xml.matchAll(/<ban ([^>]*)\/>/g)].flatMap((m) => {
    const a = (k: string) => new RegExp(`\\b${k}="([^"]*)"`).exec(m[1] ?? '')?.[1] ?? '';
    // Vard's own location rules show here too (`db-clone-not-on-dbq`); only `crm_resource --ban`'s are bans.
    return a('resource') === DB_CLONE && a('node') && a('id').startsWith('cli-ban-') ? [{ node: a('node'), id: a('id') }] : [];
  });
  return { via, quorate, dc, online, promoted, unpromoted, vipOn, failures, bans };
}

/** Asks the first answering db host's Pacemaker for its view; undefined when none answers. */
export async function clusterView(p: Platform, hostOf: HostOf, prefer?: readonly string[]): Promise<ClusterView | undefined> {
  const names = prefer ?? clusterHosts(p.topology).map((h) => h.name);
  for (const n of names) {
    try {
      const r = await hostOf(n).run(['crm_mon', '-1', '--output-as=xml', '--include=bans'], { allowFail: true, timeoutMs: 15_000 });
      if (r.exitCode === 0 && r.stdout.includes('<pacemaker-result')) {
        const v = parseCrmMon(r.stdout, n);
        // A node cut off from the others answers too, without quorum: prefer a quorate view.
        if (v.quorate || n === names[names.length - 1]) return v;
      }
    } catch (e) {
      if (!isVardError(e, 'VARD_ERR_HOST_DOWN')) throw e;
    }
  }
  return undefined;
}

/** Which db hosts carry the database VIP on their private leg. */
export async function dbVipHolders(p: Platform, hostOf: HostOf): Promise<string[]> {
  const vip = dbVip(p.topology);
  return vip ? addressHolders(dbHosts(p.topology).map((h) => h.name), hostOf, DB_PRIVATE_IF, vip) : [];
}

/** Whether the server on a host accepts writes (running, `read_only` off). */
export async function isWritable(host: Host): Promise<boolean> {
  return (await scalar(host, 'SELECT @@read_only', { allowFail: true, timeoutMs: 5000 })) === '0';
}

/**
 * The primary as the servers themselves say: the one db host whose MariaDB is writable and which
 * holds the VIP. Throws VARD_ERR_DB_NO_PRIMARY when there is none (or, never expected, two).
 */
export async function currentPrimary(p: Platform, hostOf: HostOf): Promise<string> {
  const writable: string[] = [];
  for (const h of dbHosts(p.topology)) {
    try {
      if (await isWritable(hostOf(h.name))) writable.push(h.name);
    } catch (e) {
      if (!isVardError(e, 'VARD_ERR_HOST_DOWN')) throw e;
    }
  }
  if (writable.length !== 1) throw vardError('VARD_ERR_DB_NO_PRIMARY', [writable.length ? `more than one writable server: ${writable.join(', ')}` : 'no writable server']);
  return writable[0] as string;
}

/** Waits until exactly one writable primary holds the VIP; returns it. */
export async function waitForPrimary(p: Platform, hostOf: HostOf, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const primary = await currentPrimary(p, hostOf);
      const vip = await dbVipHolders(p, hostOf);
      if (vip.length === 1 && vip[0] === primary) return primary;
      last = `primary ${primary}, VIP on ${vip.join(', ') || 'no host'}`;
    } catch (e) {
      if (!isVardError(e, 'VARD_ERR_DB_NO_PRIMARY')) throw e;
      last = e.message;
    }
    if (Date.now() > deadline) {
      const view = await clusterView(p, hostOf).catch(() => undefined);
      throw vardError('VARD_ERR_NOT_READY', ['the database primary', dbHosts(p.topology).map((h) => h.name).join('/'), timeoutMs, `${last}; pacemaker: ${JSON.stringify(view)}`]);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
