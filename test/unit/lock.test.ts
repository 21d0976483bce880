import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { withFileLock } from '../../src/store/index.ts';

test('two holders of the platform lock run one after the other', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vard-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.db.lock');
  const events: string[] = [];
  const job = (name: string) =>
    withFileLock(path, async () => {
      events.push(`${name} in`);
      await new Promise((r) => setTimeout(r, 300));
      events.push(`${name} out`);
    });
  await Promise.all([job('a'), job('b')]);
  assert.deepEqual(events, ['a in', 'a out', 'b in', 'b out']);
  assert.equal(existsSync(path), false, 'released');
});

test('a lock left by a process that is gone is taken over; a failing holder still releases it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vard-lock-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'state.db.lock');
  const gone = spawnSync('true').pid!; // exited: its PID names no live process (barring reuse within ms)
  writeFileSync(path, `${gone}\n`);
  assert.equal(await withFileLock(path, async () => 'ran', { timeoutMs: 2000 }), 'ran');
  await assert.rejects(withFileLock(path, async () => { throw new Error('boom'); }), /boom/);
  assert.equal(existsSync(path), false);
});

/**
 * Child processes that all find the same stale lock at the same moment, each holding the lock for
 * a while and logging when it goes in and out: at most one may be inside at any time.
 */
test('processes racing for one stale lock: never two holders at once', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vard-lock-race-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lockModule = new URL('../../src/store/lock.ts', import.meta.url).pathname;
  const child = [
    `import { appendFileSync, existsSync } from 'node:fs';`,
    `import { withFileLock } from ${JSON.stringify(lockModule)};`,
    `const [path, log, go] = process.argv.slice(-3);`,
    `process.stdout.write('ready\\n');`,
    // Spinning rather than a timer: every child leaves the barrier within a millisecond or so.
    `while (!existsSync(go)) {}`,
    `await withFileLock(path, async () => {`,
    `  appendFileSync(log, 'in ' + process.pid + '\\n');`,
    `  await new Promise((r) => setTimeout(r, 60));`,
    `  appendFileSync(log, 'out ' + process.pid + '\\n');`,
    `}, { pollMs: 5, timeoutMs: 30000 });`,
  ].join('\n');
  const rounds = 6;
  const racers = 5;
  const overlaps: string[] = [];
  for (let round = 0; round < rounds; round++) {
    const path = join(dir, `state-${round}.db.lock`);
    const log = join(dir, `log-${round}`);
    const go = join(dir, `go-${round}`);
    writeFileSync(log, '');
    writeFileSync(path, `${spawnSync('true').pid!} 1\n`); // its holder is gone
    const procs = Array.from({ length: racers }, () => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child, '--', path, log, go], { stdio: ['ignore', 'pipe', 'inherit'] }));
    await Promise.all(procs.map((p) => new Promise<void>((res) => p.stdout.once('data', () => res()))));
    writeFileSync(go, '');
    const codes = await Promise.all(procs.map((p) => new Promise<number | null>((res) => p.on('close', res))));
    assert.deepEqual(codes, codes.map(() => 0), `round ${round}: every racer finished`);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(lines.length, 2 * racers, `round ${round}: every racer held the lock once`);
    const nested = lines.some((l, i) => (i % 2 === 0 ? !l.startsWith('in ') : l !== `out ${lines[i - 1]!.slice(3)}`));
    if (nested) overlaps.push(`round ${round}: ${lines.join(', ')}`);
    assert.equal(existsSync(path), false, `round ${round}: released`);
  }
  assert.deepEqual(overlaps, [], 'two racers held the lock at once');
});
