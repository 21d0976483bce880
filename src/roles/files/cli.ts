import type { Command } from 'commander';
import { vardError } from '../../errors/index.ts';
import type { RoleCliDeps } from '../contract.ts';
import { hasFilesTier } from './render.ts';
import { filesAlerts, filesStatus, formatFilesStatus } from './status.ts';

/** `vard files status`: the files tier. */
export function registerFilesCommands(program: Command, d: RoleCliDeps): void {
  const files = program.command('files').description('the files tier: a GlusterFS volume (replica 3, arbiter 1) mounted on every web server');

  files
    .command('status')
    .description('peers, bricks online, entries waiting to be healed, mounts; exit 13 when unhealthy')
    .addHelpText('after', '\nExamples:\n  vard files status\n  vard files status --json')
    .action(async () => {
      await d.withPlatform(false, async (ctx) => {
        if (!hasFilesTier(ctx.platform)) throw vardError('VARD_ERR_USAGE', [`platform ${ctx.platform.name} has no files tier (three hosts with the role "files")`]);
        const s = await filesStatus(ctx.platform, ctx.hostOf);
        const alerts = filesAlerts(s);
        d.emit({ ...s, healthy: alerts.length === 0, alerts }, () => formatFilesStatus(s, alerts));
        if (alerts.length) process.exitCode = 13;
      });
    });
}
