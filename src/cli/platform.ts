import type { Command } from 'commander';
import { changingSteps, describeStep } from '../platform/plan.ts';
import { lbContribution } from '../platform/reconcile.ts';
import { openPlatform, type PlatformContext } from '../platform/context.ts';
import { formatStatus, platformStatus } from '../platform/status.ts';
import type { Site } from '../model/index.ts';
import { emit, progress, type GlobalOptions, type Globals } from './context.ts';

/** Opens the platform for one command and always closes the state store again. */
async function withPlatform<T>(g: GlobalOptions, withProgress: boolean, fn: (ctx: PlatformContext) => Promise<T> | T): Promise<T> {
  const ctx = openPlatform(g, withProgress ? progress : undefined);
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}

function siteLine(s: Site): string {
  return `${s.domain.padEnd(32)} ${s.customer.padEnd(14)} drupal ${String(s.drupal).padEnd(3)} port ${s.port}  user ${s.unixUser}`;
}

/** `vard site …`, `vard status`, `vard apply`, `vard demo`. */
export function registerPlatformCommands(program: Command, globals: Globals): void {
  const site = program.command('site').description('create, list, show and delete Drupal sites');

  site
    .command('create <domain>')
    .description('create a site: its own port and PHP-FPM pool on every web server, routed through the load balancers')
    .option('--customer <slug>', 'the customer the site belongs to', 'default')
    .option('--drupal <major>', 'Drupal major version (7 or 10)', '10')
    .action(async (domain: string, o: { customer: string; drupal: string }) => {
      const g = globals();
      await withPlatform(g, true, async (ctx) => {
        const r = await ctx.service.createSite({ domain, customer: o.customer, drupal: o.drupal });
        const vip = ctx.service.platform().topology.publicVip;
        emit(g, { ...r.site, created: r.created, steps: r.report.applied }, () =>
          [
            r.created ? `created ${r.site.domain}` : `${r.site.domain} already exists; nothing duplicated`,
            siteLine(r.site),
            `try: curl -H 'Host: ${r.site.domain}' http://${vip}/`,
          ].join('\n'),
        );
      });
    });

  site
    .command('list')
    .description('list the sites')
    .action(async () => {
      const g = globals();
      await withPlatform(g, false, async (ctx) => {
        const sites = ctx.service.sites();
        emit(g, sites, () => (sites.length ? sites.map(siteLine).join('\n') : 'no sites'));
      });
    });

  site
    .command('show <domain>')
    .description('show one site')
    .action(async (domain: string) => {
      const g = globals();
      await withPlatform(g, false, async (ctx) => {
        const s = ctx.service.site(domain);
        const p = ctx.service.platform();
        const webs = (lbContribution(p).http ?? []).filter((x) => x.domain === s.domain).flatMap((x) => x.servers.map((w) => `${w.host} ${w.address}:${w.port}`));
        emit(g, { ...s, publicAddress: p.topology.publicVip, backends: webs }, () =>
          [siteLine(s), `public address ${p.topology.publicVip} (Host: ${s.domain})`, `backends: ${webs.join(', ')}`, `created ${s.createdAt}`].join('\n'),
        );
      });
    });

  site
    .command('credentials <domain>')
    .description("show the site's database credentials, password included (the only command that prints it)")
    .action((domain: string) => {
      const g = globals();
      const ctx = openPlatform(g);
      try {
        const c = ctx.service.credentials(domain);
        emit(g, { domain, ...c }, () =>
          [`database ${c.name}`, `user     ${c.user}`, `password ${c.password}`, `host     ${c.host}:${c.port} (the primary, whichever host that is)`].join('\n'),
        );
      } finally {
        ctx.close();
      }
    });

  site
    .command('delete <domain>')
    .description('delete a site: a final dump of its database, then the database, routing, pool, vhost, user and files')
    .action(async (domain: string) => {
      const g = globals();
      await withPlatform(g, true, async (ctx) => {
        const r = await ctx.service.deleteSite(domain);
        emit(g, { deleted: r.site.domain, steps: r.report.applied, kept: r.kept }, () =>
          [`deleted ${r.site.domain}`, ...r.kept.map((k) => `kept before deleting: ${k.kind} at ${k.path} (${k.bytes} bytes)`)].join('\n'),
        );
      });
    });

  program
    .command('apply')
    .description('converge every host to the desired state (rolling, one web server at a time)')
    .option('--dry-run', 'print the plan and change nothing')
    .addHelpText('after', '\nExamples:\n  vard apply --dry-run     what would change, host by host, in rollout order\n  vard apply               converge (one process at a time per platform)')
    .action(async (o: { dryRun?: boolean }) => {
      const g = globals();
      await withPlatform(g, true, async (ctx) => {
        const r = await ctx.service.reconcile(Boolean(o.dryRun));
        const steps = changingSteps(r.plan).map(describeStep);
        emit(g, { dryRun: Boolean(o.dryRun), steps, skippedHosts: r.skippedHosts }, () =>
          steps.length ? `${o.dryRun ? 'plan' : 'applied'}:\n${steps.map((s) => `  ${s}`).join('\n')}` : 'everything is in sync',
        );
      });
    });

  program
    .command('status')
    .description("hosts, daemons (running, config in sync), each role's health, and which load balancer holds the public address")
    .addHelpText('after', '\nExamples:\n  vard status\n  vard --json status | jq .roles')
    .action(async () => {
      const g = globals();
      await withPlatform(g, false, async (ctx) => {
        const s = await platformStatus(ctx.service.platform(), ctx.hostOf);
        emit(g, s, () => formatStatus(s));
      });
    });
}
