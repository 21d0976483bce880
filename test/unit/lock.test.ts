import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
