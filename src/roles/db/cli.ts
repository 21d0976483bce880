import type { Command } from 'commander';
import { vardError } from '../../errors/index.ts';
import type { RoleCliDeps, RoleContext } from '../contract.ts';
import { dbVip } from './render.ts';
import { rejoin, switchover, waitReplicaHealthy } from './operations.ts';
import { dbAlerts, dbStatus, formatDbStatus } from './status.ts';

function requireTier(ctx: RoleContext): void {
  if (!dbVip(ctx.platform.topology)) throw vardError('VARD_ERR_DB_NO_TIER', [ctx.platform.name]);
}

/** `vard db status|switchover|rejoin`: the database tier. */
export function registerDbCommands(program: Command, d: RoleCliDeps): void {
  const db = program.command('db').description('the database tier: primary/replica MariaDB managed by Pacemaker');

  db.command('status')
    .description('primary, replica state, lag (seconds, transactions, GTID positions), semi-sync; exit 13 when unhealthy')
    .option('--max-lag <seconds>', 'a replica further behind than this is reported as lagging', '30')
    .addHelpText('after', '\nExamples:\n  vard db status\n  vard db status --json --max-lag 5')
    .action(async (o: { maxLag: string }) => {
      const maxLag = Number(o.maxLag);
      if (!Number.isFinite(maxLag) || maxLag < 0 || maxLag > 86_400) throw vardError('VARD_ERR_USAGE', [`--max-lag must be a number of seconds from 0 to 86400, not "${o.maxLag}"`]);
      await d.withPlatform(false, async (ctx) => {
        requireTier(ctx);
        const s = await dbStatus(ctx.platform, ctx.hostOf);
        const alerts = dbAlerts(s, { maxLagSeconds: maxLag });
        d.emit({ ...s, healthy: alerts.length === 0, alerts }, () => formatDbStatus(s, alerts));
        // Scripts and monitors read the exit code: 0 healthy, 13 unhealthy (the output says why).
        if (alerts.length) process.exitCode = 13;
      });
    });

  db.command('switchover')
    .description('planned move of the primary role to the replica (or --to HOST), with no acknowledged write lost')
    .option('--to <host>', 'the db host to promote')
    .addHelpText('after', '\nExamples:\n  vard db switchover\n  vard db switchover --to db2')
    .action(async (o: { to?: string }) => {
      await d.withPlatform(true, async (ctx) => {
        requireTier(ctx);
        const r = await switchover(ctx.platform, ctx.hostOf, ctx.say, o.to);
        d.emit(r, () => `primary moved ${r.from} → ${r.to}; writable again after ${r.durationMs} ms`);
      });
    });

  db.command('rejoin <host>')
    .description('rebuild a db host as a replica of the current primary (mariadb-backup stream), e.g. an old primary after a failover')
    .addHelpText('after', '\nExample:\n  vard db rejoin db1')
    .action(async (host: string) => {
      await d.withPlatform(true, async (ctx) => {
        requireTier(ctx);
        const r = await rejoin(ctx.platform, ctx.hostOf, host, ctx.say);
        await waitReplicaHealthy(ctx.platform, ctx.hostOf, host, 120_000);
        d.emit({ host, ...r }, () => `${host} rebuilt at ${r.gtid} in ${r.durationMs} ms and replicating`);
      });
    });
}
