// `npm run bench:sites`: how the platform scales with its number of sites (issue 9, line 8). Builds
// the reference platform in its own lab (`bsites`), fills it to 1, 100 and 1,000 sites, and at each
// level times real `vard site create` runs and `vard apply` (nothing to do, and after a hand edit
// on one web server); at the end, the memory of every daemon on every host. The bulk of the sites
// is recorded in the store and converged once: only the timed creates go through the CLI.
// Numbers are relative (two shared cores run every host); the targets below are printed, never
// asserted by a test. BENCH_LEVELS=1,100 and BENCH_RUNS=3 make a shorter run; VARD_TEST_TRANSPORT=ssh
// runs it with Vard reaching every host over SSH only (issue 10: SSH against namespace entry).
import { performance } from 'node:perf_hooks';
import { newSite, type Site } from '../src/model/index.ts';
import type { Host } from '../src/host/index.ts';
import { openDb, PlatformStore } from '../src/store/index.ts';
import type { SecretPort } from '../src/roles/contract.ts';
import { PRESETS, ROLES } from '../src/roles/registry.ts';
import { openPlatform } from '../src/platform/context.ts';
import { startPlatform, type TestPlatform } from '../test/integration/helpers/platform.ts';

const LEVELS = (process.env.BENCH_LEVELS ?? '1,100,1000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** The 1,000th create should cost about what the first did: within this factor of it. */
const CREATE_GROWTH_TARGET = 1.5;
const say = (m: string) => process.stderr.write(`[bench:sites ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

function stats(ms: readonly number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
  const f = (x: number) => (x / 1000).toFixed(2);
  return `min ${f(s[0] ?? NaN)} s  p50 ${f(q(0.5))} s  max ${f(s[s.length - 1] ?? NaN)} s  (n=${s.length}: ${s.map(f).join(' ')})`;
}

function median(ms: readonly number[]): number {
  const s = [...ms].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

const domainOf = (i: number) => `s${String(i).padStart(4, '0')}.bench.example.com`;

/** Records sites `from`..`to` (1-based) in the store as `vard site create` would, then converges once. */
async function bulkFill(P: TestPlatform, store: PlatformStore, to: number): Promise<void> {
  const have = store.sites().length;
  if (have >= to) return;
  const secrets: SecretPort = { ensure: (n, make) => store.ensureSecret(n, new Date(), make), get: (n) => store.secret(n), remove: (n) => store.removeSecret(n) };
  const p = P.ctx.service.platform();
  for (let i = have + 1; i <= to; i++) {
    const site: Site = store.addNewSite((current, taken) => newSite({ domain: domainOf(i) }, current, new Date(), taken));
    for (const r of ROLES) r.onSiteCreate?.(p, site, secrets);
  }
  const t0 = performance.now();
  say(`recorded sites ${have + 1}-${to}; converging once`);
  await P.ctx.service.reconcile();
  say(`converged ${to} sites in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

/** Creates a site through the service in this process and says how long each part of the converge took. */
async function profileCreate(P: TestPlatform, domain: string): Promise<string> {
  const marks: [string, number][] = [];
  const t0 = performance.now();
  const ctx = openPlatform(P.g, (m) => marks.push([m, performance.now()]), P.lab);
  try {
    await ctx.service.createSite({ domain });
  } finally {
    ctx.close();
  }
  const end = performance.now();
  const parts: string[] = [];
  let prev: [string, number] = ['render, observe, prepare hosts', t0];
  for (const m of [...marks, ['end', end] as [string, number]]) {
    parts.push(`${prev[0].replace(/^.*?: /, (x) => x)} ${((m[1] - prev[1]) / 1000).toFixed(2)} s`);
    prev = m;
  }
  return `total ${((end - t0) / 1000).toFixed(2)} s\n                ${parts.join('\n                ')}`;
}

async function timedCli(P: TestPlatform, args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await P.cli(args);
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`vard ${args.join(' ')} failed (${r.code}): ${r.stderr.slice(-2000)}`);
  return ms;
}

interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  readonly name: string;
  readonly rssKb: number;
  readonly pssKb: number;
}

/** Every process of a lab host with its parent and memory, from the host's own /proc. */
async function processes(h: Host): Promise<ProcInfo[]> {
  const out: ProcInfo[] = [];
  for (const name of await h.list('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = (await h.readFile(`/proc/${name}/status`).catch(() => undefined))?.toString('utf8');
    if (!status) continue;
    const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
    const rollup = (await h.readFile(`/proc/${name}/smaps_rollup`).catch(() => undefined))?.toString('utf8') ?? '';
    out.push({ pid: Number(name), ppid: field('PPid'), name: /^Name:\s+(\S+)/m.exec(status)?.[1] ?? '?', rssKb: field('VmRSS'), pssKb: Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) });
  }
  return out;
}

/** Memory per daemon on one host: the process recorded in /run/vard/<daemon>.pid and all its descendants. */
async function daemonMemory(h: Host): Promise<{ daemon: string; procs: number; rssMb: number; pssMb: number }[]> {
  const procs = await processes(h);
  const children = new Map<number, number[]>();
  for (const p of procs) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p.pid]);
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const rows = [];
  for (const f of await h.list('/run/vard')) {
    if (!f.endsWith('.pid')) continue;
    const root = Number((await h.readFile(`/run/vard/${f}`))?.toString('utf8').trim());
    if (!byPid.has(root)) continue;
    const tree: number[] = [];
    for (const stack = [root]; stack.length; ) {
      const pid = stack.pop()!;
      tree.push(pid);
      stack.push(...(children.get(pid) ?? []));
    }
    const mine = tree.map((pid) => byPid.get(pid)!).filter(Boolean);
    rows.push({
      daemon: f.slice(0, -4),
      procs: mine.length,
      rssMb: mine.reduce((a, p) => a + p.rssKb, 0) / 1024,
      pssMb: mine.reduce((a, p) => a + p.pssKb, 0) / 1024,
    });
  }
  // Daemons started by another (MariaDB by Pacemaker's resource agent, reparented to init): by name.
  const claimed = new Set<number>();
  for (const f of await h.list('/run/vard')) {
    if (!f.endsWith('.pid')) continue;
    const root = Number((await h.readFile(`/run/vard/${f}`))?.toString('utf8').trim());
    for (const stack = [root]; stack.length; ) {
      const pid = stack.pop()!;
      claimed.add(pid);
      stack.push(...(children.get(pid) ?? []));
    }
  }
  const others = new Map<string, ProcInfo[]>();
  for (const p of procs) {
    if (claimed.has(p.pid) || p.rssKb === 0 || p.pid === 1 || ['sh', 'sleep', 'nsenter', 'find', 'cat'].includes(p.name)) continue;
    others.set(p.name, [...(others.get(p.name) ?? []), p]);
  }
  for (const [name, mine] of others) {
    rows.push({ daemon: `(${name})`, procs: mine.length, rssMb: mine.reduce((a, p) => a + p.rssKb, 0) / 1024, pssMb: mine.reduce((a, p) => a + p.pssKb, 0) / 1024 });
  }
  return rows.sort((a, b) => (a.daemon < b.daemon ? -1 : 1));
}

async function main(): Promise<void> {
  say('bringing up the reference lab "bsites"');
  const tUp = performance.now();
  const P = await startPlatform('bsites', PRESETS.reference!);
  const upMs = performance.now() - tUp;
  say(`lab up (transport ${P.lab.transport}) and converged in ${(upMs / 1000).toFixed(1)} s`);
  const db = openDb(P.g.state);
  const store = new PlatformStore(db);
  const lines: string[] = [];
  const creates = new Map<number, number[]>();
  let reached = 0;
  try {
    for (const level of LEVELS) {
      // The timed creates end at `level` sites (the first ones at 1 go from 1 to RUNS).
      const first = Math.max(1, level - RUNS + 1);
      await bulkFill(P, store, first - 1);
      const times: number[] = [];
      for (let i = first; i < first + RUNS; i++) {
        const ms = await timedCli(P, ['site', 'create', domainOf(i)]);
        times.push(ms);
        say(`vard site create ${domainOf(i)} (site ${i}): ${(ms / 1000).toFixed(2)} s`);
        reached = i;
      }
      creates.set(level, times);
      const noop: number[] = [];
      for (let k = 0; k < Math.min(RUNS, 3); k++) noop.push(await timedCli(P, ['apply']));
      const changed: number[] = [];
      const webs = P.lab.topology.hosts.filter((h) => h.roles.includes('web')).map((h) => h.name);
      for (let k = 0; k < Math.min(RUNS, 3); k++) {
        // A hand edit of one site's vhost on one web server: that host's Apache set is re-staged,
        // checked, reloaded and verified, drained meanwhile.
        const w = P.lab.host(webs[k % webs.length]!);
        const slug = store.sites()[0]!.slug;
        const path = `/etc/vard/apache2/current/sites/${slug}.conf`;
        const cur = (await w.readFile(path))?.toString('utf8') ?? '';
        await w.writeFile(path, `${cur}# hand edit ${k}\n`);
        changed.push(await timedCli(P, ['apply']));
      }
      // Where a create's time goes: one more create in this process, each progress line stamped.
      const profiled = await profileCreate(P, domainOf(first + RUNS));
      reached = first + RUNS;
      lines.push(
        `at ${String(level).padStart(4)} sites  vard site create        ${stats(times)}  [sites ${first}-${first + RUNS - 1}]`,
        `              vard apply (no-op)      ${stats(noop)}`,
        `              vard apply (one edit)   ${stats(changed)}`,
        `              where create ${first + RUNS} went (in process): ${profiled}`,
      );
      say(lines.slice(-3).join('\n'));
    }
    // Steady state: the PHP workers the last verify started have passed their idle timeout.
    await new Promise((r) => setTimeout(r, 15_000));
    const memory: string[] = [];
    for (const h of P.lab.topology.hosts) {
      for (const r of await daemonMemory(P.lab.host(h.name))) {
        memory.push(`  ${h.name.padEnd(5)} ${r.daemon.padEnd(12)} ${String(r.procs).padStart(4)} processes  RSS ${r.rssMb.toFixed(1).padStart(8)} MiB  PSS ${r.pssMb.toFixed(1).padStart(8)} MiB`);
      }
    }
    const lo = creates.get(LEVELS[0]!);
    const hi = creates.get(LEVELS[LEVELS.length - 1]!);
    const growth = lo && hi ? median(hi) / median(lo) : NaN;
    process.stdout.write(
      [
        '',
        `Vard site-count benchmark — lab bsites (reference topology, transport ${P.lab.transport}), ${RUNS} runs per level, ${new Date().toISOString()}`,
        `lab up and first converge: ${(upMs / 1000).toFixed(1)} s`,
        ...lines,
        `create at ${LEVELS[LEVELS.length - 1]} vs at ${LEVELS[0]} sites (medians): ×${growth.toFixed(2)} (target ≤ ×${CREATE_GROWTH_TARGET}: ${growth <= CREATE_GROWTH_TARGET ? 'met' : 'NOT met'})`,
        `daemon memory at ${reached} sites (RSS sums count shared pages once per process; PSS shares them out):`,
        ...memory,
        '',
      ].join('\n'),
    );
  } finally {
    db.close();
    await P.teardown();
  }
}

await main();
