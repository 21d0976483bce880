import { execFileSync, spawn } from 'node:child_process';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GlobalOptions } from '../../../src/cli/context.ts';
import { labDown, labUp, reapStaleLabs, type LabHandle, type LabTransport } from '../../../src/lab/index.ts';
import type { TopologyShape } from '../../../src/model/index.ts';
import { openPlatform, type PlatformContext } from '../../../src/platform/context.ts';
import { onLabUp } from '../../../src/platform/hooks.ts';

export interface TestPlatform {
  readonly lab: LabHandle;
  readonly g: GlobalOptions;
  readonly ctx: PlatformContext;
  readonly vip: string;
  /** Runs the real `vard` CLI with this platform's lab and state; resolves with its exit code and output. */
  cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  teardown(): Promise<void>;
}

const BIN = new URL('../../../bin/vard.mjs', import.meta.url).pathname;

/**
 * One lab per test file: built once, shared by its tests, always torn down. `VARD_TEST_LAB_SUFFIX`
 * (a letter or two) renames the lab, so two checkouts can run the same test file at once.
 * `transport: 'ssh'` builds the lab in SSH mode: Vard (the context, the CLI) reaches every host
 * over SSH only; `VARD_TEST_TRANSPORT=ssh` puts every test file in that mode.
 */
export async function startPlatform(base: string, shape: TopologyShape, o: { transport?: LabTransport } = {}): Promise<TestPlatform> {
  const name = `${base}${process.env.VARD_TEST_LAB_SUFFIX ?? ''}`;
  const dir = mkdtempSync(join(tmpdir(), `vard-${name}-`));
  const g: GlobalOptions = { lab: name, state: join(dir, 'state.db'), json: false };
  // Only a stale lab (its owner gone) is cleared; a live one of the same name belongs to
  // another run and makes labUp fail with VARD_ERR_LAB_EXISTS instead of being torn down.
  await reapStaleLabs();
  const log = (m: string) => process.env.VARD_TEST_VERBOSE && process.stderr.write(`  [${name}] ${m}\n`);
  const envTransport = process.env.VARD_TEST_TRANSPORT;
  const transport: LabTransport = envTransport === 'ssh' || envTransport === 'netns' ? envTransport : (o.transport ?? 'netns');
  const lab = await labUp({ name, shape, transport, progress: log });
  let ctx: PlatformContext | undefined;
  try {
    await onLabUp(g, lab, log);
    ctx = openPlatform(g, log, lab);
  } catch (e) {
    await labDown(name).catch(() => undefined);
    throw e;
  }
  const c = ctx;
  return {
    lab,
    g,
    ctx: c,
    vip: lab.topology.publicVip,
    cli: (args) => runCli(['--lab', name, '--state', g.state, ...args]),
    async teardown() {
      c.close();
      await lab.close();
      await labDown(name);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function runCli(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTP request from the root namespace ("the Internet"); status 0 when nothing answered. */
export function httpGet(address: string, host: string, path = '/', o: { method?: string; headers?: Record<string, string>; timeoutMs?: number; port?: number } = {}): Promise<HttpResult> {
  return new Promise((resolve) => {
    const req = request(
      { host: address, port: o.port ?? 80, path, method: o.method ?? 'GET', headers: { Host: host, Connection: 'close', ...o.headers }, timeout: o.timeoutMs ?? 2000, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end();
  });
}

export interface HammerReport {
  ok: number;
  failed: number;
  failures: string[];
  servedBy: Record<string, number>;
  /** Longest time without a successful response, in ms. */
  longestGapMs: number;
}

/**
 * A steady client: `concurrency` sequential request loops against one site until `stop()`,
 * bounded by `maxMs` and `maxRequests`. Every non-200 or error is counted with its time.
 */
export function hammer(address: string, host: string, o: { path?: string; concurrency?: number; maxMs?: number; maxRequests?: number; headers?: Record<string, string>; timeoutMs?: number } = {}) {
  const report: HammerReport = { ok: 0, failed: 0, failures: [], servedBy: {}, longestGapMs: 0 };
  let running = true;
  const started = Date.now();
  let lastOk = started;
  const maxMs = o.maxMs ?? 120_000;
  const maxRequests = o.maxRequests ?? 200_000;
  const loop = async () => {
    while (running && Date.now() - started < maxMs && report.ok + report.failed < maxRequests) {
      const t = Date.now();
      const r = await httpGet(address, host, o.path ?? '/', { ...(o.headers ? { headers: o.headers } : {}), timeoutMs: o.timeoutMs ?? 3000 });
      if (r.status === 200) {
        report.ok++;
        const now = Date.now();
        report.longestGapMs = Math.max(report.longestGapMs, now - lastOk);
        lastOk = now;
        const by = String(r.headers['x-served-by'] ?? '?');
        report.servedBy[by] = (report.servedBy[by] ?? 0) + 1;
      } else {
        report.failed++;
        if (report.failures.length < 20) report.failures.push(`+${t - started}ms status ${r.status}`);
      }
    }
  };
  const loops = Array.from({ length: o.concurrency ?? 4 }, loop);
  return {
    report,
    async stop(): Promise<HammerReport> {
      running = false;
      await Promise.all(loops);
      return report;
    },
  };
}

export async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (await probe().catch(() => false)) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface OutageReport {
  requests: number;
  failures: number;
  /** Whether the last request before stop() succeeded. */
  lastOk: boolean;
  /** Each run of consecutive failures: from the first failed request's start to the next success. */
  outages: { fromMs: number; toMs: number }[];
}

/** A fast prober: one request at a time with a short timeout, a few ms apart, until stop(). */
export function prober(address: string, host: string, o: { intervalMs?: number; timeoutMs?: number; maxMs?: number } = {}) {
  const rep: OutageReport = { requests: 0, failures: 0, lastOk: false, outages: [] };
  let running = true;
  const t0 = Date.now();
  const done = (async () => {
    let failingSince: number | undefined;
    while (running && Date.now() - t0 < (o.maxMs ?? 120_000)) {
      const start = Date.now() - t0;
      const r = await httpGet(address, host, '/', { timeoutMs: o.timeoutMs ?? 300 });
      rep.requests++;
      rep.lastOk = r.status === 200;
      if (r.status === 200) {
        if (failingSince !== undefined) rep.outages.push({ fromMs: failingSince, toMs: Date.now() - t0 });
        failingSince = undefined;
      } else {
        rep.failures++;
        failingSince ??= start;
      }
      await new Promise((res) => setTimeout(res, o.intervalMs ?? 5));
    }
    if (failingSince !== undefined) rep.outages.push({ fromMs: failingSince, toMs: Date.now() - t0 });
  })();
  return {
    report: rep,
    elapsedMs: () => Date.now() - t0,
    async stop(): Promise<OutageReport> {
      running = false;
      await done;
      return rep;
    },
  };
}

/**
 * Watches which hosts carry an address, event by event (`ip monitor address` in each host's
 * network namespace), and records every interval in which more than one held it.
 */
export function watchAddress(namespaces: Record<string, string>, address: string) {
  const holds: Record<string, boolean> = {};
  const overlaps: { atMs: number; holders: string[] }[] = [];
  const events: string[] = [];
  const t0 = Date.now();
  const children = Object.entries(namespaces).map(([host, ns]) => {
    const initial = spawnSyncText(['ip', '-n', ns, '-o', '-4', 'addr', 'show']);
    holds[host] = initial.includes(` ${address}/`);
    const child = spawn('ip', ['-n', ns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
    onLines(child.stdout, (line) => {
      if (!line.includes(` ${address}/`)) return;
      holds[host] = !line.startsWith('Deleted');
      events.push(`+${Date.now() - t0}ms ${host} ${holds[host] ? 'took' : 'dropped'} ${address}`);
      const holders = Object.keys(holds).filter((h) => holds[h]);
      if (holders.length > 1) overlaps.push({ atMs: Date.now() - t0, holders });
    });
    return child;
  });
  return {
    holders: () => Object.keys(holds).filter((h) => holds[h]),
    overlaps,
    events,
    elapsedMs: () => Date.now() - t0,
    stop(): void {
      for (const c of children) c.kill('SIGTERM');
    },
  };
}

function spawnSyncText(argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
}

/** Calls `fn` with each complete line a stream yields. */
export function onLines(stream: NodeJS.ReadableStream, fn: (line: string) => void): void {
  let buf = '';
  stream.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      fn(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
}
