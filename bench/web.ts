// `npm run bench`: throughput and latency of the web tier in a lab, and the LB failover outage.
// Numbers are relative (two shared cores run the client, the proxies and the web servers alike);
// compare them within one run, never assert them in tests.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { labKill, labRevive } from '../src/lab/index.ts';
import { PRESETS } from '../src/roles/registry.ts';
import { onHostRevived } from '../src/platform/hooks.ts';
import { prober, startPlatform, until, watchAddress } from '../test/integration/helpers/platform.ts';

const run = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const SITE = 'bench.example.com';

interface WrkResult {
  readonly rps: number;
  readonly p50ms: number;
  readonly p99ms: number;
  readonly non2xx: number;
  readonly errors: number;
}

function ms(v: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(v.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === 'us' ? n / 1000 : m[2] === 's' ? n * 1000 : n;
}

/** Parses wrk's `--latency` report: "Requests/sec: 1234.56", "50%  1.23ms", "99%  10.1ms". */
function parseWrk(out: string): WrkResult {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out)?.[1] ?? '';
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)?.[1] ?? '';
  const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const e = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = e ? Number(e[1]) + Number(e[2]) + Number(e[3]) + Number(e[4]) : 0;
  return { rps, p50ms: ms(p50), p99ms: ms(p99), non2xx, errors };
}

async function wrk(prefix: string[], url: string, headers: string[]): Promise<WrkResult> {
  const args = [...prefix, 'wrk', '-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', ...headers.flatMap((h) => ['-H', h]), url];
  const { stdout } = await run(args[0]!, args.slice(1), { maxBuffer: 1 << 20 });
  return parseWrk(stdout);
}

function line(name: string, r: WrkResult): string {
  return `${name.padEnd(58)} ${r.rps.toFixed(0).padStart(8)} req/s   p50 ${r.p50ms.toFixed(2).padStart(7)} ms   p99 ${r.p99ms.toFixed(2).padStart(7)} ms   errors ${r.errors + r.non2xx}`;
}

async function main(): Promise<void> {
  const say = (m: string) => process.stderr.write(`[bench] ${m}\n`);
  say('bringing up the reference lab "bweb"');
  const P = await startPlatform('bweb', PRESETS.reference!);
  try {
    const created = await P.cli(['site', 'create', SITE]);
    if (created.code !== 0) throw new Error(created.stderr);
    const web1 = P.lab.topology.hosts.find((h) => h.name === 'web1')!;
    const port = P.ctx.service.site(SITE).port;
    const results: Record<string, WrkResult> = {};
    say(`wrk -t2 -c${CONNECTIONS} -d${SECONDS}s per path`);
    results.cached = await wrk([], `http://${P.vip}/`, [`Host: ${SITE}`]);
    results.php = await wrk([], `http://${P.vip}/`, [`Host: ${SITE}`, 'Cookie: SESSbench=1']);
    results.direct = await wrk(['ip', 'netns', 'exec', P.lab.nsName('lb1')], `http://${web1.privateAddress}:${port}/`, [`Host: ${SITE}`]);

    say('failover: probing every 2 ms, then killing the active load balancer');
    const w = watchAddress({ lb1: P.lab.nsName('lb1'), lb2: P.lab.nsName('lb2') }, P.vip);
    const probe = prober(P.vip, SITE, { intervalMs: 2, timeoutMs: 250 });
    await new Promise((r) => setTimeout(r, 1000));
    const active = w.holders()[0] ?? 'lb1';
    const other = active === 'lb1' ? 'lb2' : 'lb1';
    await labKill(P.lab, active);
    await until(`${other} to take the address`, async () => w.holders().includes(other), 20_000);
    await new Promise((r) => setTimeout(r, 1500));
    const rep = await probe.stop();
    w.stop();
    const outage = rep.outages.reduce((a, o) => a + (o.toMs - o.fromMs), 0);
    await labRevive(P.lab, active);
    await onHostRevived(P.g, P.lab, active, () => undefined);

    const out = [
      '',
      `Vard web tier benchmark — lab bweb (reference topology), ${SECONDS} s per run, ${CONNECTIONS} connections, ${new Date().toISOString()}`,
      line('cached page: Internet → VIP → HAProxy → Varnish hit', results.cached),
      line('uncached PHP: Internet → VIP → HAProxy → 3 × Apache+FPM', results.php),
      line('same PHP page straight from web1 (client on lb1)', results.direct),
      `${'LB failover outage (kill of the active LB, probe every 2 ms)'.padEnd(58)} ${String(outage).padStart(8)} ms     ${rep.requests} probes, ${rep.failures} failed`,
      '',
    ];
    process.stdout.write(out.join('\n'));
    if (process.env.BENCH_JSON) process.stdout.write(`${JSON.stringify({ ...results, failoverOutageMs: outage, probes: rep.requests }, null, 2)}\n`);
  } finally {
    await P.teardown();
  }
}

await main();
