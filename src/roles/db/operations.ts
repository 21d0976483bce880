/**
 * Planned operations on the database cluster: a switchover (Pacemaker demotes and promotes, Vard
 * only raises the target's promotion score), rebuilding a replica from the primary (rejoin), and
 * table checksums to prove two servers hold the same data.
 */
import { waitFor } from '../../daemon/index.ts';
import { isVardError, vardError } from '../../errors/index.ts';
import type { Host } from '../../host/index.ts';
import type { Platform } from '../../model/index.ts';
import { DB_CLONE, DB_PATHS, DB_RESOURCE, dbHosts } from './render.ts';
import { clusterView, currentPrimary, dbVipHolders, isWritable, type HostOf } from './cluster.ts';
import { query, scalar, slaveStatus, sqlQuoteExisting, sqlString } from './sql.ts';

type Say = (m: string) => void;

/** Runs a cluster command on the first cluster host that answers with quorum. */
async function onQuorateNode(p: Platform, hostOf: HostOf, argv: readonly string[]): Promise<void> {
  const view = await clusterView(p, hostOf);
  if (!view?.quorate) throw vardError('VARD_ERR_DB_CLUSTER', [view?.via ?? 'every node', 'no quorate Pacemaker node answers']);
  await hostOf(view.via).run(argv, { timeoutMs: 30_000 });
}

/** True when `replica` replicates from `primary` with both threads running and nothing left to apply. */
async function replicaCaughtUp(primary: Host, replica: Host): Promise<boolean> {
  const s = await slaveStatus(replica);
  if (!s || s.Slave_IO_Running !== 'Yes' || s.Slave_SQL_Running !== 'Yes') return false;
  const pos = await scalar(primary, 'SELECT @@gtid_binlog_pos', { allowFail: true });
  if (!pos || !/^[0-9,-]+$/.test(pos)) return false;
  // MASTER_GTID_WAIT follows what the SQL thread applied (gtid_slave_pos); a server that wrote the
  // newest transactions itself (the old primary of an idle cluster) has them in its own binlog
  // instead, and would wait forever.
  if ((await scalar(replica, 'SELECT @@gtid_current_pos', { allowFail: true })) === pos) return true;
  return (await scalar(replica, `SELECT MASTER_GTID_WAIT(${sqlString(pos)}, 0.5)`, { allowFail: true })) === '0';
}

export interface SwitchoverResult {
  readonly from: string;
  readonly to: string;
  /** From the request to Pacemaker until the new primary is writable and holds the VIP. */
  readonly durationMs: number;
}

/**
 * Moves the primary role to the replica (or to `to`). Refuses unless the target replicates and has
 * caught up, so no acknowledged write is left behind. Pacemaker demotes the old primary (its
 * pre-demote notification sets read_only and ends client sessions), promotes the target once the
 * target has applied everything it received, moves the VIP, and repoints the old primary.
 */
export async function switchover(p: Platform, hostOf: HostOf, say: Say, to?: string): Promise<SwitchoverResult> {
  const from = await currentPrimary(p, hostOf);
  const target = to ?? dbHosts(p.topology).find((h) => h.name !== from)?.name;
  if (!target || !dbHosts(p.topology).some((h) => h.name === target)) throw vardError('VARD_ERR_DB_SWITCHOVER', [to ?? '(none)', 'not a database host']);
  if (target === from) throw vardError('VARD_ERR_DB_SWITCHOVER', [target, 'it is already the primary']);
  const tHost = hostOf(target);
  const fHost = hostOf(from);
  try {
    await waitFor({ daemon: 'replica catch-up', host: target }, () => replicaCaughtUp(fHost, tHost), { timeoutMs: 15_000, intervalMs: 200 });
  } catch (e) {
    throw vardError('VARD_ERR_DB_SWITCHOVER', [target, `it is not a healthy, caught-up replica of ${from} (${isVardError(e) ? e.message : String(e)})`], { cause: e });
  }
  say(`switchover: ${from} → ${target}`);
  const t0 = Date.now();
  await onQuorateNode(p, hostOf, ['crm_attribute', `--promotion=${DB_RESOURCE}`, '--node', target, '--update', '1000']);
  try {
    await waitFor({ daemon: 'switchover', host: target }, async () => (await isWritable(tHost)) && (await dbVipHolders(p, hostOf)).join() === target, { timeoutMs: 60_000, intervalMs: 50 });
  } catch (e) {
    throw vardError('VARD_ERR_DB_SWITCHOVER', [target, isVardError(e) ? e.message : String(e)], { cause: e });
  }
  const durationMs = Date.now() - t0;
  // Back to the agent's usual score, so a later failure elects by GTID as always.
  await onQuorateNode(p, hostOf, ['crm_attribute', `--promotion=${DB_RESOURCE}`, '--node', target, '--update', '100']).catch(() => undefined);
  await waitFor({ daemon: 'old primary as replica', host: from }, () => replicaCaughtUp(tHost, fHost), { timeoutMs: 60_000, intervalMs: 200 }).catch((e: unknown) => {
    say(`switchover: ${from} has not rejoined as a replica yet (${isVardError(e) ? e.message : String(e)}); see \`vard db status\``);
  });
  say(`switchover: ${target} is primary (writable after ${durationMs} ms)`);
  return { from, to: target, durationMs };
}

/**
 * Rebuilds `name` as a replica of the current primary: Pacemaker keeps its instance stopped (a
 * ban), the datadir is replaced by a `mariadb-backup` stream from the primary, the replication
 * position is taken from the backup, and the ban is lifted so Pacemaker starts it as a replica.
 * The robust answer to an old primary that carries a transaction nobody acknowledged (field notes
 * §3.4): whatever it had, it now has exactly the primary's data.
 */
export async function rejoin(p: Platform, hostOf: HostOf, name: string, say: Say): Promise<{ durationMs: number; gtid: string }> {
  if (!dbHosts(p.topology).some((h) => h.name === name)) throw vardError('VARD_ERR_DB_REJOIN', [name, 'not a database host']);
  const primary = await currentPrimary(p, hostOf);
  if (primary === name) throw vardError('VARD_ERR_DB_REJOIN', [name, 'it is the primary']);
  const h = hostOf(name);
  const ph = hostOf(primary);
  const spec = p.topology.hosts.find((x) => x.name === name);
  const t0 = Date.now();
  say(`rejoin ${name}: stopping its database (cluster ban)`);
  await onQuorateNode(p, hostOf, ['crm_resource', '--ban', '--resource', DB_CLONE, '--node', name, '--force']);
  try {
    await waitFor({ daemon: 'mariadb stop', host: name }, async () => !(await h.exists(DB_PATHS.pidFile)) && (await scalar(h, 'SELECT 1', { allowFail: true })) === undefined, { timeoutMs: 60_000, intervalMs: 200 });
    say(`rejoin ${name}: streaming a backup from ${primary}`);
    await h.remove(DB_PATHS.datadir, { recursive: true });
    await h.mkdir(DB_PATHS.datadir);
    const port = '4444';
    const done = `${DB_PATHS.mysqlHome}/.rejoin-done`;
    await h.remove(done);
    // Fixed scripts; addresses and paths arrive as positional parameters.
    await h.run([
      'sh', '-c', 'setsid sh -c \'socat -u TCP-LISTEN:"$1",bind="$2",reuseaddr STDOUT | mbstream -x -C "$3"; echo $? > "$4"\' vard-recv "$@" </dev/null >>/var/log/vard/rejoin.log 2>&1 &',
      'vard-recv', port, spec?.privateAddress ?? '', DB_PATHS.datadir, done,
    ]);
    await waitFor({ daemon: 'backup receiver', host: name }, async () => (await h.run(['ss', '-Hltn', `sport = :${port}`], { allowFail: true })).stdout.includes(port), { timeoutMs: 10_000, intervalMs: 50 });
    const send = await ph.run(
      [
        'sh', '-c', 'mariadb-backup --defaults-file="$1" --backup --stream=xbstream --user=root --socket="$2" --target-dir=/tmp 2>>/var/log/vard/backup.log | socat -u STDIN TCP:"$3":"$4"',
        'vard-send', DB_PATHS.myCnf, DB_PATHS.socket, spec?.privateAddress ?? '', port,
      ],
      { allowFail: true, timeoutMs: 600_000 },
    );
    await waitFor({ daemon: 'backup receiver', host: name }, () => h.exists(done), { timeoutMs: 120_000, intervalMs: 100 });
    const rc = (await h.readFile(done))?.toString('utf8').trim();
    if (send.exitCode !== 0 || rc !== '0') throw vardError('VARD_ERR_DB_REJOIN', [name, `backup stream failed (sender exit ${send.exitCode}, receiver ${rc}): ${send.stderr.slice(-500)}`]);
    await h.run(['mariadb-backup', '--prepare', `--target-dir=${DB_PATHS.datadir}`], { timeoutMs: 600_000 });
    await h.run(['chown', '-R', 'mysql:mysql', DB_PATHS.datadir]);
    // `binlog.000003\t1234\t0-2-57`: the primary's position at the backup's consistent point.
    const info = ((await h.readFile(`${DB_PATHS.datadir}/xtrabackup_binlog_info`)) ?? (await h.readFile(`${DB_PATHS.datadir}/mariadb_backup_binlog_info`)))?.toString('utf8') ?? '';
    const gtid = info.trim().split(/\s+/)[2] ?? '';
    if (!/^[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*$/.test(gtid)) throw vardError('VARD_ERR_DB_REJOIN', [name, `no GTID position in the backup (${JSON.stringify(info.slice(0, 200))})`]);
    say(`rejoin ${name}: restored at ${gtid}`);
    await startMaintenance(h);
    try {
      await query(h, `RESET MASTER; RESET SLAVE ALL; SET GLOBAL gtid_slave_pos = ${sqlString(gtid)};`);
    } finally {
      await stopMaintenance(h);
    }
    await h.writeFile(`${DB_PATHS.mysqlHome}/.vard-initialized`, `${new Date().toISOString()} rebuilt from ${primary} at ${gtid}\n`);
    await h.remove(done);
    return { durationMs: Date.now() - t0, gtid };
  } finally {
    say(`rejoin ${name}: handing it back to Pacemaker`);
    await onQuorateNode(p, hostOf, ['crm_resource', '--clear', '--resource', DB_CLONE, '--node', name]).catch(() => undefined);
    await onQuorateNode(p, hostOf, ['crm_resource', '--cleanup', '--resource', DB_CLONE, '--node', name]).catch(() => undefined);
  }
}

async function startMaintenance(h: Host): Promise<void> {
  await h.run(['sh', '-c', 'setsid "$@" </dev/null >>/var/log/vard/mariadb-maintenance.log 2>&1 &', 'vard-mariadb', 'mariadbd', `--defaults-file=${DB_PATHS.myCnf}`, '--skip-networking', '--skip-slave-start']);
  await waitFor({ daemon: 'mariadb (maintenance)', host: h.name }, async () => (await scalar(h, 'SELECT 1', { allowFail: true })) === '1', { timeoutMs: 60_000, intervalMs: 200 });
}

async function stopMaintenance(h: Host): Promise<void> {
  await h.run(['mariadb-admin', `--socket=${DB_PATHS.socket}`, '--user=root', 'shutdown'], { allowFail: true, timeoutMs: 60_000 });
  await waitFor({ daemon: 'mariadb (maintenance)', host: h.name }, async () => !(await h.exists(DB_PATHS.pidFile)), { timeoutMs: 60_000, intervalMs: 200 });
}

/** Waits until `name` replicates from the primary and has caught up. */
export async function waitReplicaHealthy(p: Platform, hostOf: HostOf, name: string, timeoutMs = 60_000): Promise<void> {
  const primary = await currentPrimary(p, hostOf);
  await waitFor({ daemon: 'replica', host: name }, () => replicaCaughtUp(hostOf(primary), hostOf(name)), { timeoutMs, intervalMs: 250 });
}

/**
 * After a db host came back (revive): if it does not become a healthy replica on its own — an old
 * primary with a transaction the new primary never saw cannot resume replication — rebuild it.
 */
export async function ensureReplicaRejoined(p: Platform, hostOf: HostOf, name: string, say: Say, waitMs = 30_000): Promise<'primary' | 'healthy' | 'rebuilt'> {
  if ((await currentPrimary(p, hostOf)) === name) return 'primary';
  try {
    await waitReplicaHealthy(p, hostOf, name, waitMs);
    return 'healthy';
  } catch (e) {
    if (!isVardError(e, 'VARD_ERR_NOT_READY')) throw e;
  }
  say(`${name} did not resume replication by itself; rebuilding it from the primary`);
  await rejoin(p, hostOf, name, say);
  await waitReplicaHealthy(p, hostOf, name, 120_000);
  return 'rebuilt';
}

/** `CHECKSUM TABLE` of every table in the site databases, as `db.table → checksum`. */
export async function siteChecksums(h: Host): Promise<Record<string, string>> {
  const tables = (await query(h, "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'site\\_%' ORDER BY 1, 2")) ?? [];
  if (!tables.length) return {};
  const list = tables.map(([d, t]) => `${sqlQuoteExisting(d as string)}.${sqlQuoteExisting(t as string)}`).join(', ');
  const rows = (await query(h, `CHECKSUM TABLE ${list} EXTENDED`)) ?? [];
  return Object.fromEntries(rows.map((r) => [r[0] as string, r[1] as string]));
}
