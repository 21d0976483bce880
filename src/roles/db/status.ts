/**
 * Observing the database tier: who is primary, how each replica replicates, how far behind it is
 * (seconds and GTID positions), whether semi-synchronous replication is on. `dbAlerts` turns an
 * observation into alerts the service side can open incidents from.
 */
import { isVardError } from '../../errors/index.ts';
import type { Platform } from '../../model/index.ts';
import { dbHosts, dbVip } from './render.ts';
import { clusterView, dbVipHolders, type ClusterView, type HostOf } from './cluster.ts';
import { query, slaveStatus } from './sql.ts';

export interface DbHostStatus {
  readonly name: string;
  readonly address: string;
  readonly up: boolean;
  /** MariaDB answers on its socket. */
  readonly running: boolean;
  readonly role: 'primary' | 'replica' | 'stopped' | 'unknown';
  readonly readOnly: boolean | undefined;
  readonly gtidBinlogPos: string | undefined;
  readonly gtidCurrentPos: string | undefined;
  readonly gtidSlavePos: string | undefined;
  /** Primary side of semi-sync: Rpl_semi_sync_master_status and its connected semi-sync replicas. */
  readonly semiSyncMaster: { readonly enabled: boolean; readonly status: boolean; readonly clients: number } | undefined;
  readonly replication?: {
    readonly source: string;
    readonly ioRunning: string;
    readonly sqlRunning: string;
    readonly secondsBehind: number | undefined;
    readonly gtidIoPos: string;
    readonly lastError: string;
    readonly semiSyncSlave: boolean;
  };
}

export interface DbStatus {
  readonly vip: string;
  readonly primary: string | undefined;
  readonly vipHolders: readonly string[];
  readonly writable: readonly string[];
  readonly hosts: readonly DbHostStatus[];
  readonly cluster: ClusterView | undefined;
  /** Transactions the primary has that the replica has not applied yet, per replica (by GTID sequence). */
  readonly lagTransactions: Readonly<Record<string, number>>;
}

function seqOf(gtid: string | undefined): number | undefined {
  // `0-1-42` (one domain, as Vard configures); several domains would be comma separated.
  const m = /^\d+-\d+-(\d+)$/.exec((gtid ?? '').split(',')[0]?.trim() ?? '');
  return m ? Number(m[1]) : undefined;
}

async function hostStatus(p: Platform, hostOf: HostOf, name: string, address: string): Promise<DbHostStatus> {
  const h = hostOf(name);
  const base = { name, address };
  let rows: string[][] | undefined;
  try {
    rows = await query(
      h,
      `SELECT @@read_only, @@gtid_binlog_pos, @@gtid_current_pos, @@gtid_slave_pos, @@rpl_semi_sync_master_enabled, @@rpl_semi_sync_slave_enabled;
       SHOW GLOBAL STATUS WHERE Variable_name IN ('Rpl_semi_sync_master_status', 'Rpl_semi_sync_master_clients', 'Rpl_semi_sync_slave_status');`,
      { allowFail: true, timeoutMs: 8000 },
    );
  } catch (e) {
    if (isVardError(e, 'VARD_ERR_HOST_DOWN')) {
      return { ...base, up: false, running: false, role: 'unknown', readOnly: undefined, gtidBinlogPos: undefined, gtidCurrentPos: undefined, gtidSlavePos: undefined, semiSyncMaster: undefined };
    }
    throw e;
  }
  if (!rows?.length) {
    return { ...base, up: true, running: false, role: 'stopped', readOnly: undefined, gtidBinlogPos: undefined, gtidCurrentPos: undefined, gtidSlavePos: undefined, semiSyncMaster: undefined };
  }
  // Two result sets in batch mode: one row of variables, then Variable_name/Value rows.
  const [vars, ...statusRows] = rows;
  const st = Object.fromEntries(statusRows.map((r) => [r[0], r[1]]));
  const readOnly = vars?.[0] === '1';
  const s = await slaveStatus(h);
  const replication = s
    ? {
        source: s.Master_Host ?? '',
        ioRunning: s.Slave_IO_Running ?? '',
        sqlRunning: s.Slave_SQL_Running ?? '',
        secondsBehind: s.Seconds_Behind_Master && s.Seconds_Behind_Master !== 'NULL' ? Number(s.Seconds_Behind_Master) : undefined,
        gtidIoPos: s.Gtid_IO_Pos ?? '',
        lastError: [s.Last_IO_Error, s.Last_SQL_Error].filter((x) => x && x.trim()).join('; '),
        semiSyncSlave: st.Rpl_semi_sync_slave_status === 'ON',
      }
    : undefined;
  return {
    ...base,
    up: true,
    running: true,
    role: readOnly ? 'replica' : 'primary',
    readOnly,
    gtidBinlogPos: vars?.[1] ?? '',
    gtidCurrentPos: vars?.[2] ?? '',
    gtidSlavePos: vars?.[3] ?? '',
    semiSyncMaster: { enabled: vars?.[4] === '1', status: st.Rpl_semi_sync_master_status === 'ON', clients: Number(st.Rpl_semi_sync_master_clients ?? 0) },
    ...(replication ? { replication } : {}),
  };
}

export async function dbStatus(p: Platform, hostOf: HostOf): Promise<DbStatus> {
  const hosts = await Promise.all(dbHosts(p.topology).map((h) => hostStatus(p, hostOf, h.name, h.privateAddress)));
  const writable = hosts.filter((h) => h.role === 'primary').map((h) => h.name);
  const vipHolders = await dbVipHolders(p, hostOf);
  const primary = writable.length === 1 ? writable[0] : undefined;
  const pHost = hosts.find((h) => h.name === primary);
  const lagTransactions: Record<string, number> = {};
  for (const h of hosts) {
    if (h.role !== 'replica' || !pHost) continue;
    const a = seqOf(pHost.gtidBinlogPos);
    const b = seqOf(h.gtidCurrentPos);
    if (a !== undefined && b !== undefined) lagTransactions[h.name] = Math.max(0, a - b);
  }
  const cluster = await clusterView(p, hostOf).catch(() => undefined);
  return { vip: dbVip(p.topology) ?? '', primary, vipHolders, writable, hosts, cluster, lagTransactions };
}

export type AlertSeverity = 'critical' | 'warning';

/** One thing wrong with the tier, in a shape the desk can open an incident from. */
export interface DbAlert {
  /** Stable key: the same problem yields the same key on every observation (dedup). */
  readonly key: string;
  readonly severity: AlertSeverity;
  readonly host: string | undefined;
  readonly summary: string;
}

export interface AlertThresholds {
  /** A replica further behind than this is lagging. @default 30 */
  readonly maxLagSeconds?: number;
  /** …or this many transactions behind. @default 1000 */
  readonly maxLagTransactions?: number;
}

/** Pure: an observation → alerts. An empty list means healthy. */
export function dbAlerts(s: DbStatus, t: AlertThresholds = {}): DbAlert[] {
  const maxLag = t.maxLagSeconds ?? 30;
  const maxTx = t.maxLagTransactions ?? 1000;
  const out: DbAlert[] = [];
  if (s.writable.length > 1) out.push({ key: 'db:split-brain', severity: 'critical', host: undefined, summary: `more than one writable primary: ${s.writable.join(', ')}` });
  if (s.writable.length === 0) out.push({ key: 'db:no-primary', severity: 'critical', host: undefined, summary: 'no writable primary: sites cannot write' });
  if (s.primary && !(s.vipHolders.length === 1 && s.vipHolders[0] === s.primary)) {
    out.push({ key: 'db:vip', severity: 'critical', host: s.primary, summary: `the database address ${s.vip} is on ${s.vipHolders.join(', ') || 'no host'}, the primary is ${s.primary}` });
  }
  for (const b of s.cluster?.bans ?? []) {
    out.push({ key: `db:${b.node}:banned`, severity: 'critical', host: b.node, summary: `${b.node} is banned from running the database (${b.id}), as a rejoin that did not finish leaves it; rebuild it with \`vard db rejoin ${b.node}\`` });
  }
  for (const h of s.hosts) {
    if (!h.up) out.push({ key: `db:${h.name}:down`, severity: 'warning', host: h.name, summary: `${h.name} is down` });
    else if (!h.running) out.push({ key: `db:${h.name}:stopped`, severity: 'warning', host: h.name, summary: `MariaDB on ${h.name} is not running` });
    if (h.role === 'primary' && h.name === s.primary && h.semiSyncMaster && !h.semiSyncMaster.status) {
      out.push({ key: `db:${h.name}:semi-sync-off`, severity: 'critical', host: h.name, summary: `semi-synchronous replication is OFF on the primary ${h.name}: acknowledged writes exist on one server only` });
    }
    if (h.role !== 'replica') continue;
    const r = h.replication;
    if (!r) {
      out.push({ key: `db:${h.name}:not-replicating`, severity: 'critical', host: h.name, summary: `${h.name} is read-only but replicates from no one` });
      continue;
    }
    if (r.ioRunning !== 'Yes' || r.sqlRunning !== 'Yes') {
      out.push({ key: `db:${h.name}:replication-stopped`, severity: 'critical', host: h.name, summary: `replication on ${h.name} has stopped (IO ${r.ioRunning}, SQL ${r.sqlRunning})${r.lastError ? `: ${r.lastError}` : ''}` });
    }
    if (s.primary && r.source && r.source !== s.primary && r.source !== s.hosts.find((x) => x.name === s.primary)?.address) {
      out.push({ key: `db:${h.name}:wrong-source`, severity: 'critical', host: h.name, summary: `${h.name} replicates from ${r.source}, not from the primary ${s.primary}` });
    }
    const tx = s.lagTransactions[h.name];
    if ((r.secondsBehind !== undefined && r.secondsBehind > maxLag) || (tx !== undefined && tx > maxTx)) {
      out.push({ key: `db:${h.name}:lag`, severity: 'warning', host: h.name, summary: `${h.name} lags ${r.secondsBehind ?? '?'} s / ${tx ?? '?'} transactions behind the primary` });
    }
  }
  return out;
}

export function formatDbStatus(s: DbStatus, alerts: readonly DbAlert[]): string {
  const L = [`database address ${s.vip}: primary ${s.primary ?? (s.writable.length > 1 ? `SPLIT: ${s.writable.join(', ')}` : 'NONE')}, VIP on ${s.vipHolders.join(', ') || 'no host'}`];
  if (s.cluster) {
    L.push(`pacemaker (via ${s.cluster.via}): ${s.cluster.quorate ? 'quorate' : 'NO QUORUM'}, online ${s.cluster.online.join(', ')}, promoted ${s.cluster.promoted.join(', ') || '-'}`);
  } else L.push('pacemaker: no node answered');
  for (const h of s.hosts) {
    const head = `  ${h.name.padEnd(6)} ${h.address.padEnd(15)} ${!h.up ? 'DOWN' : h.role.padEnd(8)}`;
    if (!h.running) {
      L.push(head);
      continue;
    }
    const parts = [`gtid binlog ${h.gtidBinlogPos || '-'} current ${h.gtidCurrentPos || '-'}`];
    if (h.role === 'primary' && h.semiSyncMaster) parts.push(`semi-sync ${h.semiSyncMaster.status ? 'ON' : 'OFF'} (${h.semiSyncMaster.clients} replica${h.semiSyncMaster.clients === 1 ? '' : 's'})`);
    if (h.replication) {
      const r = h.replication;
      parts.push(
        `from ${r.source}: io ${r.ioRunning} sql ${r.sqlRunning}, lag ${r.secondsBehind ?? '?'} s / ${s.lagTransactions[h.name] ?? '?'} trx, io pos ${r.gtidIoPos}, semi-sync ${r.semiSyncSlave ? 'ON' : 'OFF'}${r.lastError ? `, error: ${r.lastError}` : ''}`,
      );
    }
    L.push(`${head} ${parts.join('; ')}`);
  }
  L.push(alerts.length ? `ALERTS:\n${alerts.map((a) => `  [${a.severity}] ${a.summary}`).join('\n')}` : 'healthy');
  return L.join('\n');
}
