/**
 * The database tier (issue 3): MariaDB primary/replica with GTID and semi-synchronous replication,
 * promoted by Pacemaker (`ocf:heartbeat:mariadb` behind a thin wrapper) with a third quorum vote;
 * one database and user per site. Decisions: docs/designs/0001-database-tier.md.
 */
export {
  clusterView,
  currentPrimary,
  dbVipHolders,
  isWritable,
  parseCrmMon,
  reconcileDbCluster,
  upClusterHosts,
  waitForPrimary,
  bootstrapSql,
  type ClusterView,
  type HostOf,
} from './cluster.ts';
export { dumpAndDropSiteDatabase, ensureSiteDatabases, siteDatabaseSql, type DropResult } from './sites.ts';
export { dbAlerts, dbStatus, formatDbStatus, type AlertThresholds, type DbAlert, type DbHostStatus, type DbStatus } from './status.ts';
export { ensureReplicaRejoined, rejoin, siteChecksums, switchover, waitReplicaHealthy, type SwitchoverResult } from './operations.ts';
export { parseVertical, query, scalar, slaveStatus, sqlId, sqlString } from './sql.ts';
