import type { FastifyInstance } from 'fastify';
import { vardError } from '../errors/index.ts';
import { emailNotifier, httpSiteProbe, webhookNotifier, type Desk, type IncidentMonitor, type Notifier } from '../desk/index.ts';
import { startSupportListener, type Mailer, type SupportListener } from '../mail/index.ts';
import { buildApp, type AppDeps } from './app.ts';

export interface ServerOptions {
  readonly desk: Desk;
  /** `host:port` for the API. */
  readonly listen: string;
  /** `host:port` for the support SMTP listener; undefined runs none. */
  readonly smtpListen?: string;
  readonly smtpMaxBytes?: number;
  /** Mailer for replies and on-call mail (the desk's own, usually). */
  readonly mailer?: Mailer;
  /** On-call e-mail addresses besides staff users flagged on-call. */
  readonly oncallEmails?: readonly string[];
  readonly webhookUrl?: string;
  /**
   * Probe every site through this public address (the lab's VIP) every `intervalMs`. `path`
   * defaults to `/user/login`: a page no cache answers, so a dead PHP shows at once.
   */
  readonly probe?: { readonly address: string; readonly port?: number; readonly path?: string; readonly intervalMs?: number; readonly threshold?: number };
  readonly logger?: boolean;
  /** The platform beside this server, for `/v1/status` and the roles' routes. */
  readonly platform?: AppDeps['platform'];
}

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly apiAddress: string;
  readonly smtp: SupportListener | undefined;
  readonly monitor: IncidentMonitor;
  close(): Promise<void>;
}

export function parseHostPort(s: string, defaultPort: number): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d{1,5}))?$/.exec(s.trim());
  const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
  if (!m || port > 65535) throw vardError('VARD_ERR_USAGE', [`"${s}" is not host[:port]`]);
  return { host: (m[1] ?? m[2])!, port };
}

/**
 * `vard serve`: the API, the support mail listener and the observation loop in one process.
 * Messages left half-filed by a previous run are filed at start.
 */
export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const { desk } = o;
  const notifiers: Notifier[] = [];
  if (o.mailer) notifiers.push(emailNotifier(o.mailer, desk.ctx.supportAddress, () => [...new Set([...(o.oncallEmails ?? []), ...desk.people.oncallEmails()])]));
  if (o.webhookUrl) notifiers.push(webhookNotifier(o.webhookUrl));
  const monitor = desk.monitor({ threshold: o.probe?.threshold ?? 3, notifiers });

  await desk.inbox.processPending();
  const app = await buildApp({ desk, logger: o.logger, ...(o.platform ? { platform: o.platform } : {}) });
  const api = parseHostPort(o.listen, 8080);
  let apiAddress: string;
  try {
    apiAddress = await app.listen({ host: api.host, port: api.port });
  } catch (e) {
    throw vardError('VARD_ERR_API_LISTEN_FAILED', [o.listen, (e as Error).message], { cause: e });
  }
  let smtp: SupportListener | undefined;
  if (o.smtpListen) {
    const s = parseHostPort(o.smtpListen, 2525);
    try {
      smtp = await startSupportListener({ host: s.host, port: s.port, maxBytes: o.smtpMaxBytes, recipients: [desk.ctx.supportAddress], onMessage: (raw, env) => desk.inbox.receive(raw, env) });
    } catch (e) {
      await app.close();
      throw e;
    }
  }

  let timer: NodeJS.Timeout | undefined;
  let running = false;
  if (o.probe) {
    const probe = o.probe;
    const tick = async (): Promise<void> => {
      if (running) return; // never overlap rounds
      running = true;
      try {
        for (const site of desk.ctx.sites()) {
          const r = await httpSiteProbe({ address: probe.address, port: probe.port, path: probe.path ?? '/user/login', domain: site.domain })();
          await monitor.record(r);
        }
      } finally {
        running = false;
      }
    };
    timer = setInterval(() => void tick().catch((e: unknown) => app.log.error(e)), probe.intervalMs ?? 30_000);
    void tick().catch((e: unknown) => app.log.error(e));
  }

  return {
    app,
    apiAddress,
    smtp,
    monitor,
    async close() {
      if (timer) clearInterval(timer);
      await smtp?.close();
      await app.close();
      await monitor.settle();
    },
  };
}
