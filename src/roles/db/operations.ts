/**
 * Planned operations on the database cluster: a switchover (Pacemaker demotes and promotes, Vard
 * only raises the target's promotion score), rebuilding a replica from the primary (rejoin), and
 * table checksums to prove two servers hold the same data.
 */
import { waitFor } from '../../daemon/index.ts';
import { isVardError, vardError } from '../../errors/index.ts';
import type { Host } from '../../host/index.ts';
import type { HostSpec, Platform } from '../../model/index.ts';
import { DB_CLONE, DB_PATHS, DB_RESOURCE, dbHosts, REJOIN_PORT } from './render.ts';
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
 * The receiving end of a rebuild, on the replica: a mutual-TLS listener on its private address
 * that only the primary's address may reach, which only a peer holding the platform CA's
 * certificate for the primary's name can complete, writing what arrives to a file (0600). A
 * connection that delivers nothing (a stranger refused at the handshake) is not the stream: it
 * listens again until the deadline. Then the file's sha256 and socat's exit code are written.
 * Fixed text; every value arrives as a positional parameter.
 */
const RECEIVER = [
  'umask 077',
  'echo $$ > "$7.pid"',
  'end=$(( $(date +%s) + $8 ))',
  'rc=1',
  'while [ "$(date +%s)" -lt "$end" ]; do',
  '  rm -f "$6"',
  '  timeout "$(( end - $(date +%s) ))" socat -u OPENSSL-LISTEN:"$1",bind="$2",range="$3"/32,reuseaddr,cert="$5/host.pem",key="$5/host.key",cafile="$5/ca.pem",verify=1,commonname="$4" CREATE:"$6"',
  '  rc=$?',
  '  [ -s "$6" ] && break',
  '  echo "vard-recv: a connection delivered nothing; listening again" >&2',
  'done',
  'sha256sum "$6" 2>/dev/null | cut -d" " -f1 > "$7.sha256"',
  'echo "$rc" > "$7"',
].join('\n');

/**
 * The sending end, on the primary: the backup stream, hashed as it leaves (tee into sha256sum
 * through a fifo) and sent over mutual TLS to the replica's name from the primary's own address.
 */
const SENDER = [
  'set -o pipefail',
  'umask 077',
  'fifo=$(mktemp -u /run/vard/rejoin-send.XXXXXX)',
  'mkfifo "$fifo"',
  'sha256sum < "$fifo" | cut -d" " -f1 > "$8" &',
  'sum=$!',
  'mariadb-backup --defaults-file="$1" --backup --stream=xbstream --user=root --socket="$2" --target-dir=/tmp 2>>/var/log/vard/backup.log \\',
  '  | tee "$fifo" \\',
  '  | socat -u STDIN OPENSSL:"$3":"$4",bind="$6",retry=50,interval=0.2,cert="$7/host.pem",key="$7/host.key",cafile="$7/ca.pem",verify=1,commonname="$5"',
  'rc=$?',
  'wait "$sum"',
  'rm -f "$fifo"',
  'exit $rc',
].join('\n');

/** Where a rebuild's stream lands on the replica, and its receiver's markers. */
const REJOIN_FILES = { stream: `${DB_PATHS.mysqlHome}/rejoin.xbstream`, done: `${DB_PATHS.mysqlHome}/.rejoin-done`, sentSum: '/run/vard/rejoin-sent.sha256' } as const;

async function stopReceiver(h: Host): Promise<void> {
  // Finished by itself: its PID may already be another process's.
  if (await h.exists(REJOIN_FILES.done)) return;
  const pid = (await h.readFile(`${REJOIN_FILES.done}.pid`))?.toString('utf8').trim();
  // The receiver's own session (setsid): the shell, its socat and timeout.
  if (pid && /^\d+$/.test(pid)) await h.run(['kill', '-TERM', '--', `-${pid}`], { allowFail: true });
}

/**
 * Rebuilds `name` as a replica of the current primary: Pacemaker keeps its instance stopped (a
 * ban), the datadir is replaced by a `mariadb-backup` stream from the primary, the replication
 * position is taken from the backup, and the ban is lifted so Pacemaker starts it as a replica.
 * The robust answer to an old primary that carries a transaction nobody acknowledged (field notes
 * §3.4): whatever it had, it now has exactly the primary's data.
 *
 * The stream is the one transfer between two platform hosts Vard sets up itself (everything else
 * goes through Vard's own transport): mutual TLS with the platform's CA, each end pinned to the
 * other db host's name, the listener open to the primary's address only; the bytes are hashed on
 * both ends and compared before anything is unpacked. A rebuild that fails after the datadir was
 * removed leaves the instance banned: MariaDB never starts on what did not arrive intact.
 */
export async function rejoin(p: Platform, hostOf: HostOf, name: string, say: Say): Promise<{ durationMs: number; gtid: string }> {
  if (!dbHosts(p.topology).some((h) => h.name === name)) throw vardError('VARD_ERR_DB_REJOIN', [name, 'not a database host']);
  const primary = await currentPrimary(p, hostOf);
  if (primary === name) throw vardError('VARD_ERR_DB_REJOIN', [name, 'it is the primary']);
  const tls = p.dbSecrets?.tls;
  if (!tls?.hosts[name] || !tls.hosts[primary]) throw vardError('VARD_ERR_DB_REJOIN', [name, 'no TLS certificates for the database hosts in the state store yet']);
  const h = hostOf(name);
  const ph = hostOf(primary);
  const spec = p.topology.hosts.find((x) => x.name === name) as HostSpec;
  const pspec = p.topology.hosts.find((x) => x.name === primary) as HostSpec;
  const t0 = Date.now();
  let datadirGone = false;
  say(`rejoin ${name}: stopping its database (cluster ban)`);
  await onQuorateNode(p, hostOf, ['crm_resource', '--ban', '--resource', DB_CLONE, '--node', name, '--force']);
  try {
    await waitFor({ daemon: 'mariadb stop', host: name }, async () => !(await h.exists(DB_PATHS.pidFile)) && (await scalar(h, 'SELECT 1', { allowFail: true })) === undefined, { timeoutMs: 60_000, intervalMs: 200 });
    say(`rejoin ${name}: streaming a backup from ${primary} (mutual TLS)`);
    datadirGone = true;
    await h.remove(DB_PATHS.datadir, { recursive: true });
    await h.mkdir(DB_PATHS.datadir);
    const port = String(REJOIN_PORT);
    for (const f of [REJOIN_FILES.stream, REJOIN_FILES.done, `${REJOIN_FILES.done}.sha256`, `${REJOIN_FILES.done}.pid`]) await h.remove(f);
    await ph.remove(REJOIN_FILES.sentSum);
    await h.run([
      'sh', '-c', 'setsid sh -c "$0" vard-recv "$@" </dev/null >>/var/log/vard/rejoin.log 2>&1 &',
      RECEIVER, port, spec.privateAddress, pspec.privateAddress, primary, DB_PATHS.tls, REJOIN_FILES.stream, REJOIN_FILES.done, '900',
    ]);
    try {
      await waitFor({ daemon: 'backup receiver', host: name }, async () => (await h.run(['ss', '-Hltn', `sport = :${port}`], { allowFail: true })).stdout.includes(port), { timeoutMs: 10_000, intervalMs: 50 });
      const send = await ph.run(
        ['bash', '-c', SENDER, 'vard-send', DB_PATHS.myCnf, DB_PATHS.socket, spec.privateAddress, port, name, pspec.privateAddress, DB_PATHS.tls, REJOIN_FILES.sentSum],
        { allowFail: true, timeoutMs: 600_000 },
      );
      if (send.exitCode !== 0) throw vardError('VARD_ERR_DB_REJOIN', [name, `sending the backup from ${primary} failed (exit ${send.exitCode}): ${send.stderr.slice(-500)}`]);
      await waitFor({ daemon: 'backup receiver', host: name }, () => h.exists(REJOIN_FILES.done), { timeoutMs: 120_000, intervalMs: 100 });
    } finally {
      await stopReceiver(h);
    }
    const rc = (await h.readFile(REJOIN_FILES.done))?.toString('utf8').trim();
    const got = (await h.readFile(`${REJOIN_FILES.done}.sha256`))?.toString('utf8').trim() ?? '';
    const sent = (await ph.readFile(REJOIN_FILES.sentSum))?.toString('utf8').trim() ?? '';
    if (rc !== '0' || !/^[0-9a-f]{64}$/.test(sent) || got !== sent) {
      throw vardError('VARD_ERR_DB_REJOIN', [name, `the backup did not arrive intact (receiver exit ${rc ?? 'none'}, sha256 sent ${sent || 'none'}, received ${got || 'none'})`]);
    }
    await h.run(['sh', '-c', 'mbstream -x -C "$1" < "$2"', 'vard-unpack', DB_PATHS.datadir, REJOIN_FILES.stream], { timeoutMs: 600_000 });
    await h.remove(REJOIN_FILES.stream);
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
    for (const f of [REJOIN_FILES.done, `${REJOIN_FILES.done}.sha256`, `${REJOIN_FILES.done}.pid`]) await h.remove(f);
    datadirGone = false;
    return { durationMs: Date.now() - t0, gtid };
  } catch (e) {
    if (datadirGone) say(`rejoin ${name}: failed; its database stays stopped (banned) until \`vard db rejoin ${name}\` succeeds`);
    throw e;
  } finally {
    await h.remove(REJOIN_FILES.stream).catch(() => undefined);
    if (!datadirGone) {
      say(`rejoin ${name}: handing it back to Pacemaker`);
      await onQuorateNode(p, hostOf, ['crm_resource', '--clear', '--resource', DB_CLONE, '--node', name]).catch(() => undefined);
      await onQuorateNode(p, hostOf, ['crm_resource', '--cleanup', '--resource', DB_CLONE, '--node', name]).catch(() => undefined);
    }
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
