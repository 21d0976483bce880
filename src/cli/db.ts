import type { Command } from 'commander';
import { dbAlerts, dbStatus, formatDbStatus, rejoin, switchover, waitReplicaHealthy } from '../db/index.ts';
import { vardError } from '../errors/index.ts';
import { openPlatform } from '../platform/context.ts';
import { emit, progress } from './context.ts';
import type { Globals } from './main.ts';

/** `vard db status|switchover|rejoin`: the database tier (issue 3). */
export function registerDbCommands(program: Command, globals: Globals): void {
  const db = program.command('db').description('the database tier: primary/replica MariaDB managed by Pacemaker');

  db.command('status')
    .description('primary, replica state, lag (seconds, transactions, GTID positions), semi-sync; exit 13 when unhealthy')
    .option('--max-lag <seconds>', 'a replica further behind than this is reported as lagging', '30')
    .action(async (o: { maxLag: string }) => {
      const g = globals();
      const ctx = openPlatform(g);
      try {
        const p = ctx.service.platform();
        if (!p.topology.dbVip) throw vardError('VARD_ERR_DB_NO_TIER', [p.name]);
        const s = await dbStatus(p, (n) => ctx.lab.host(n));
        const alerts = dbAlerts(s, { maxLagSeconds: Number(o.maxLag) });
        emit(g, { ...s, healthy: alerts.length === 0, alerts }, () => formatDbStatus(s, alerts));
        // Scripts and monitors read the exit code: 0 healthy, 13 unhealthy (the output says why).
        if (alerts.length) process.exitCode = 13;
      } finally {
        ctx.close();
      }
    });

  db.command('switchover')
    .description('planned move of the primary role to the replica (or --to HOST), with no acknowledged write lost')
    .option('--to <host>', 'the db host to promote')
    .action(async (o: { to?: string }) => {
      const g = globals();
      const ctx = openPlatform(g, progress);
      try {
        const p = ctx.service.platform();
        if (!p.topology.dbVip) throw vardError('VARD_ERR_DB_NO_TIER', [p.name]);
        const r = await switchover(p, (n) => ctx.lab.host(n), progress, o.to);
        emit(g, r, () => `primary moved ${r.from} → ${r.to}; writable again after ${r.durationMs} ms`);
      } finally {
        ctx.close();
      }
    });

  db.command('rejoin <host>')
    .description('rebuild a db host as a replica of the current primary (mariadb-backup stream), e.g. an old primary after a failover')
    .action(async (host: string) => {
      const g = globals();
      const ctx = openPlatform(g, progress);
      try {
        const p = ctx.service.platform();
        if (!p.topology.dbVip) throw vardError('VARD_ERR_DB_NO_TIER', [p.name]);
        const hostOf = (n: string) => ctx.lab.host(n);
        const r = await rejoin(p, hostOf, host, progress);
        await waitReplicaHealthy(p, hostOf, host, 120_000);
        emit(g, { host, ...r }, () => `${host} rebuilt at ${r.gtid} in ${r.durationMs} ms and replicating`);
      } finally {
        ctx.close();
      }
    });
}
