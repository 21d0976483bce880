// Database tier benchmark (issue 3): replication lag under a steady write load, unplanned-failover
// outage and lost acknowledged writes (must be 0). Builds its own lab (`bdb`), always tears it down.
// Run: npm run bench:db   (numbers are relative: 2 shared vCPUs, see the field notes §4)
import { currentPrimary, query } from '../src/roles/db/index.ts';
import { labDown, labKill, labUp } from '../src/lab/index.ts';
import { PRESETS } from '../src/roles/registry.ts';
import { openPlatform } from '../src/platform/context.ts';
import { onLabUp } from '../src/platform/hooks.ts';
import { startWriter } from '../test/integration/helpers/db.ts';

const NAME = 'bdb';
const say = (m: string) => process.stderr.write(`[bench:db] ${m}\n`);
const g = { lab: NAME, state: `/tmp/vard-bench-${NAME}.db`, json: false };

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

await labDown(NAME).catch(() => undefined);
const t0 = Date.now();
const lab = await labUp({ name: NAME, shape: PRESETS.reference! });
try {
  await onLabUp(g, lab, () => undefined);
  const upMs = Date.now() - t0;
  const ctx = openPlatform(g, undefined, lab);
  await ctx.service.createSite({ domain: 'bench.example.com' });
  const p = ctx.service.platform();
  const creds = ctx.service.credentials('bench.example.com');
  const hostOf = (n: string) => lab.host(n);
  const primary = await currentPrimary(p, hostOf);
  const replica = primary === 'db1' ? 'db2' : 'db1';
  await query(hostOf(primary), 'CREATE TABLE w (id INT PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB; CREATE TABLE f (id INT PRIMARY KEY, at DATETIME(6) NOT NULL) ENGINE=InnoDB', { database: creds.name });

  // 1. Lag: a steady writer (a commit every 10 ms) through the VIP; the replica is sampled for the
  // newest id it has applied. An id's lag = first sample that shows it − its acknowledgement.
  say('lag under a steady write load (15 s)');
  const w = startWriter(lab, 'web1', creds, 'w', 10);
  const samples: [number, number][] = [];
  const until = Date.now() + 15_000;
  while (Date.now() < until) {
    const row = await query(hostOf(replica), 'SELECT COALESCE(MAX(id), 0) FROM w', { database: creds.name });
    samples.push([Date.now(), Number(row?.[0]?.[0] ?? 0)]);
    await new Promise((r) => setTimeout(r, 20));
  }
  const lagRep = await w.stop();
  const lags: number[] = [];
  let k = 0;
  for (const [ackAt, id] of lagRep.ackTimes) {
    while (k < samples.length && ((samples[k]?.[1] ?? 0) < id || (samples[k]?.[0] ?? 0) < ackAt - 1000)) k++;
    const seen = samples[k];
    if (!seen) break;
    lags.push(Math.max(0, seen[0] - ackAt));
  }

  // 2. Unplanned failover under continuous commits.
  say('unplanned failover: kill the primary under continuous commits');
  const f = startWriter(lab, 'web2', creds, 'f', 10);
  while (f.ackCount() < 100) await new Promise((r) => setTimeout(r, 50));
  const tKill = Date.now();
  await labKill(lab, primary);
  const atKill = f.ackCount();
  while (!(f.ackCount() > atKill + 50 && f.lastAckAt() > tKill)) {
    if (Date.now() - tKill > 120_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const fr = await f.stop();
  const newPrimary = await currentPrimary(p, hostOf);
  const have = new Set(((await query(hostOf(newPrimary), 'SELECT id FROM f', { database: creds.name })) ?? []).map((r) => Number(r[0])));
  const lost = fr.acked.filter((id) => !have.has(id)).length;
  ctx.close();
  const out = {
    labUpWithDbMs: upMs,
    lag: { writes: lagRep.acked.length, samples: samples.length, p50Ms: pct(lags, 50), p99Ms: pct(lags, 99), maxMs: Math.max(...lags) },
    failover: { killed: primary, promoted: newPrimary, ackedWrites: fr.acked.length, lostAckedWrites: lost, outageMs: fr.longestGapMs },
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  process.stdout.write(
    `replication lag under load: p50 ${out.lag.p50Ms} ms, p99 ${out.lag.p99Ms} ms, max ${out.lag.maxMs} ms (${out.lag.writes} commits)\n` +
      `unplanned failover: outage ${out.failover.outageMs} ms, lost acknowledged writes ${lost} of ${fr.acked.length}\n` +
      `lab up with the db tier: ${upMs} ms\n`,
  );
  if (lost !== 0) process.exitCode = 1;
} finally {
  await labDown(NAME);
}
