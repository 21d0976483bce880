import type { Command } from 'commander';
import { startServer, type RunningServer, type ServerOptions } from '../api/index.ts';
import { openDesk, staffActor } from '../desk/index.ts';
import { isVardError } from '../errors/index.ts';
import { checkLabName, labDown, labStatus, labUp, reapStaleLabs } from '../lab/index.ts';
import { openDb, PlatformStore, type Db } from '../store/index.ts';
import { openPlatform } from '../platform/context.ts';
import { onLabUp } from '../platform/hooks.ts';
import { progress, type Globals } from './context.ts';
import { resolveShape } from './lab.ts';

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
    .option('--listen <host:port>', 'the API (and service desk) address', '127.0.0.1:8080')
    .option('--smtp-listen <host:port>', 'the support mail listener', '127.0.0.1:2525')
    .action(async (o: { topology: string; domain: string; listen: string; smtpListen: string }) => {
      const g = globals();
      checkLabName(g.lab);
      const shape = resolveShape(o.topology);
      const t0 = Date.now();
      let down: Promise<void> | undefined;
      let server: RunningServer | undefined;
      let db: Db | undefined;
      let closePlatform = (): void => undefined;
      const teardown = (why: string): Promise<void> =>
        (down ??= (async () => {
          progress(`\n${why}: stopping the API and tearing the lab down`);
          await server?.close().catch(() => undefined);
          db?.close();
          closePlatform();
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
        // The API's platform routes (/v1/status, /v1/db/status) read the platform through this.
        const live = openPlatform(g, undefined, lab);
        closePlatform = () => live.close();
        const api = await startDesk(g.state, o, s.publicVip, () => ({ platform: live.service.platform(), hostOf: (n: string) => lab.host(n), say: () => undefined }));
        server = api.server;
        db = api.db;
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
            ...(server
              ? [
                  `The service desk API: ${server.apiAddress} (OpenAPI at ${server.apiAddress}/openapi.json)`,
                  `  curl -H 'Authorization: Bearer ${api.token}' ${server.apiAddress}/v1/sites`,
                  `  curl -H 'Authorization: Bearer ${api.token}' ${server.apiAddress}/v1/status`,
                  ...(server.smtp ? [`Support mail is taken on ${server.smtp.address}:${server.smtp.port}; every site is probed through ${s.publicVip} every 10 s.`] : []),
                  '',
                ]
              : [`The API did not start: ${api.why}`, '']),
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

/**
 * The service side next to the demo platform: the API, the support mail listener and the probe
 * loop that opens incidents, with a demo customer and an operator token to try the API with.
 * A busy port leaves the platform running and says why.
 */
async function startDesk(
  state: string,
  o: { listen: string; smtpListen: string },
  vip: string,
  platformView: ServerOptions['platform'],
): Promise<{ server?: RunningServer; db?: Db; token?: string; why?: string }> {
  const db = openDb(state);
  try {
    const platform = new PlatformStore(db);
    const desk = openDesk({ db, sites: () => platform.sites() });
    const actor = staffActor('vard demo');
    if (!desk.people.customer('demo')) desk.addCustomer(actor, { slug: 'demo', name: 'Demo customer', contractStart: new Date().toISOString().slice(0, 10) });
    const email = 'operator@demo.vard.test';
    try {
      await desk.people.addUser(actor, { email, name: 'Demo operator', role: 'staff' });
    } catch (e) {
      if (!isVardError(e)) throw e; // already there from an earlier run
    }
    const { token } = desk.people.createToken(actor, email, 'demo');
    const server = await startServer({ desk, listen: o.listen, smtpListen: o.smtpListen, probe: { address: vip, intervalMs: 10_000 }, platform: platformView });
    return { server, db, token };
  } catch (e) {
    db.close();
    if (isVardError(e)) return { why: e.message };
    throw e;
  }
}
