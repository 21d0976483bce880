import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const bin = join(import.meta.dirname, '../../bin/vard.mjs');

async function vard(state: string, ...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [bin, '--state', state, ...argv], { env: { ...process.env, VARD_SMTP_RELAY: '' } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, stdout: x.stdout, stderr: x.stderr };
  }
}

test('the desk CLI: JSON output, coded errors without stacks, state kept between runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vard-desk-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const state = join(dir, 'state.db');

  const add = await vard(state, '--json', 'customer', 'add', 'acme', '--name', 'Acme AB', '--start', '2025-01-01');
  assert.equal(add.code, 0, add.stderr);
  assert.equal(JSON.parse(add.stdout).slug, 'acme');

  const bad = await vard(state, 'contract', 'notice', 'acme', '--on', '2026-02-30');
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr, 'vard: Date "2026-02-30" does not exist or is not written YYYY-MM-DD [VARD_ERR_DESK_DATE_INVALID]\n');
  const unknown = await vard(state, '--json', 'ticket', 'open', '--customer', 'nobody', '--subject', 's', '--body', 'b');
  assert.equal(unknown.code, 3);
  assert.equal(JSON.parse(unknown.stdout).error.code, 'VARD_ERR_DESK_CUSTOMER_NOT_FOUND');
  assert.doesNotMatch(unknown.stderr, /\n\s+at /);

  const call = await vard(state, '--json', 'ticket', 'log-call', '--customer', 'acme', '--caller', 'Eva', '--subject', 'Pages', '--notes', 'asked how to add pages');
  assert.equal(JSON.parse(call.stdout).ref, 'T-1');
  const list = await vard(state, '--json', 'ticket', 'list');
  assert.deepEqual(JSON.parse(list.stdout).map((x: { ref: string; channel: string }) => [x.ref, x.channel]), [['T-1', 'phone']]);
  assert.equal((await vard(state, 'ticket', 'close', 'T-1')).code, 0);
  const late = await vard(state, 'ticket', 'reply', 'T-1', '--body', 'late');
  assert.equal(late.code, 4);
  assert.match(late.stderr, /VARD_ERR_DESK_TICKET_CLOSED/);

  const notice = await vard(state, '--json', 'contract', 'notice', 'acme');
  assert.equal(notice.code, 0, notice.stderr);
  assert.equal(JSON.parse(notice.stdout).status, 'notice-given');
  const withdraw = await vard(state, '--json', 'contract', 'withdraw', 'acme');
  assert.equal(JSON.parse(withdraw.stdout).notices[0].withdrawnBy.startsWith('cli:'), true);

  const report = await vard(state, '--json', 'report', 'monthly', 'acme', '--month', '2026-13');
  assert.equal(report.code, 2);
  const audit = await vard(state, '--json', 'audit');
  assert.deepEqual(JSON.parse(audit.stdout).map((a: { action: string }) => a.action), ['customer.add', 'contract.create', 'ticket.open', 'ticket.close', 'contract.notice', 'contract.withdraw']);
  const help = await vard(state, 'ticket', '--help');
  for (const c of ['list', 'show', 'open', 'log-call', 'reply', 'close']) assert.match(help.stdout, new RegExp(`\\n  ${c}`));
});
