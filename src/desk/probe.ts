import { request } from 'node:http';
import { systemClock, type Clock } from '../calendar/index.ts';
import type { ProbeResult } from './incident-rules.ts';

export interface SiteProbeTarget {
  /** The public address to connect to (the load balancers' VIP in the lab). */
  readonly address: string;
  /** @default 80 */
  readonly port?: number;
  /** The site's domain, sent as the Host header. */
  readonly domain: string;
  /** @default 3000 */
  readonly timeoutMs?: number;
  /** @default '/' */
  readonly path?: string;
  /** Stamps the result's `at`. @default systemClock */
  readonly clock?: Clock;
}

/**
 * A real HTTP probe through the public address: GET http://<address>/ with `Host: <domain>`.
 * Up means an HTTP answer below 500 (a Drupal site may redirect or refuse anonymous users, that
 * is still up); down means 5xx (HAProxy answers 503 with no backend), a refused connection or a
 * timeout. Never throws.
 */
export function httpSiteProbe(t: SiteProbeTarget): () => Promise<ProbeResult> {
  const timeoutMs = t.timeoutMs ?? 3_000;
  const clock = t.clock ?? systemClock;
  return () =>
    new Promise<ProbeResult>((resolve) => {
      const started = Date.now();
      const at = clock.now();
      const done = (ok: boolean, detail: string): void => resolve({ site: t.domain, ok, at, detail: `${detail} in ${Date.now() - started} ms` });
      const req = request(
        { host: t.address, port: t.port ?? 80, path: t.path ?? '/', method: 'GET', headers: { host: t.domain, 'user-agent': 'vard-probe', connection: 'close' }, timeout: timeoutMs },
        (res) => {
          res.resume();
          const code = res.statusCode ?? 0;
          res.on('end', () => done(code > 0 && code < 500, `HTTP ${code}`));
          res.on('error', (e) => done(false, `response error: ${e.message}`));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (e) => done(false, (e as NodeJS.ErrnoException).code ? `${(e as NodeJS.ErrnoException).code}: ${e.message}` : e.message));
      req.end();
    });
}
