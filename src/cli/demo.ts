import type { Command } from 'commander';
import { checkLabName, labDown, labStatus, labUp, reapStaleLabs } from '../lab/index.ts';
import { openPlatform } from '../platform/context.ts';
import { onLabUp } from '../platform/hooks.ts';
import { progress } from './context.ts';
import { resolveShape } from './lab.ts';
import type { Globals } from './main.ts';

/**
 * `vard demo` (what `npm start` runs): the reference platform in a lab on this machine with one
 * demo site, serving until Ctrl-C, which tears everything down again.
 */
export function registerDemoCommand(program: Command, globals: Globals): void {
  program
    .command('demo')
    .description('bring the reference platform up in a lab with a demo site; Ctrl-C tears it down')
    .option('--topology <preset|file>', 'reference, single, or a topology YAML file', 'reference')
    .option('--domain <domain>', 'the demo site', 'demo.vard.test')
    .action(async (o: { topology: string; domain: string }) => {
      const g = globals();
      checkLabName(g.lab);
      const shape = resolveShape(o.topology);
      const t0 = Date.now();
      let down: Promise<void> | undefined;
      const teardown = (why: string): Promise<void> =>
        (down ??= (async () => {
          progress(`\n${why}: tearing the lab down`);
          await labDown(g.lab, { progress }).catch((e: unknown) => progress(`teardown failed: ${(e as Error).message}`));
        })());
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', () => void teardown('Ctrl-C').then(resolve));
        process.once('SIGTERM', () => void teardown('SIGTERM').then(resolve));
      });
      try {
        await reapStaleLabs({ progress });
        const lab = await labUp({ name: g.lab, shape, progress });
        await onLabUp(g, lab, progress);
        const ctx = openPlatform(g, progress, lab);
        try {
          progress(`creating the demo site ${o.domain}`);
          await ctx.service.createSite({ domain: o.domain, customer: 'demo' });
        } finally {
          ctx.close();
        }
        const s = await labStatus(lab);
        const secs = ((Date.now() - t0) / 1000).toFixed(1);
        process.stdout.write(
          [
            '',
            `Vard is up (${secs} s): lab "${g.lab}", ${s.hosts.length} hosts, ${s.vipHolders[0] ?? 'no load balancer'} active.`,
            `The public address, the only way in [S10]: ${s.publicVip}`,
            '',
            `  curl -i -H 'Host: ${o.domain}' http://${s.publicVip}/`,
            `  or add "${s.publicVip} ${o.domain}" to /etc/hosts and open http://${o.domain}/`,
            '',
            'In another terminal:',
            `  npx vard --lab ${g.lab} status            which load balancer is active, daemons per host`,
            `  npx vard --lab ${g.lab} site create shop.example.com`,
            `  npx vard --lab ${g.lab} lab kill lb1      a failure drill (then: lab revive lb1)`,
            '',
            'Ctrl-C stops Vard and tears the lab down.',
            '',
          ].join('\n'),
        );
      } catch (e) {
        await teardown('start-up failed');
        throw e;
      }
      // A pending promise alone does not keep Node running; this timer does, until a signal.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await stopped;
      clearInterval(keepAlive);
    });
}
