// The smallest install through the real CLI: one host with every role (`--topology single`).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { labDown, labResidue } from '../../src/lab/index.ts';
import { httpGet, runCli } from './helpers/platform.ts';
import { PHP_FPM_DAEMONS } from '../../src/roles/web/drivers.ts';

const LAB = 'tsgl';
const dir = mkdtempSync(join(tmpdir(), 'vard-tsgl-'));
const vard = (...args: string[]) => runCli(['--lab', LAB, '--state', join(dir, 'state.db'), ...args]);

after(async () => {
  await labDown(LAB);
  rmSync(dir, { recursive: true, force: true });
});

test('lab up, site create, status, lab down: the whole life of a single-host platform', async () => {
  const up = await vard('--json', 'lab', 'up', '--topology', 'single');
  assert.equal(up.code, 0, up.stderr);
  const lab = JSON.parse(up.stdout) as { publicVip: string; vipHolders: string[]; hosts: { name: string; roles: string[] }[] };
  assert.deepEqual(lab.hosts.map((h) => [h.name, h.roles]), [['node1', ['lb', 'web']]]);
  assert.deepEqual(lab.vipHolders, ['node1']);

  const created = await vard('site', 'create', 'solo.example.com', '--drupal', '7');
  assert.equal(created.code, 0, created.stderr);
  assert.match(created.stdout, /created solo\.example\.com/);
  const r = await httpGet(lab.publicVip, 'solo.example.com', '/');
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-served-by'], 'node1');
  assert.match(r.body, /Drupal 7 site/);

  const status = JSON.parse((await vard('--json', 'status')).stdout) as { activeLb: string; hosts: { daemons: { daemon: string; running: boolean; inSync: boolean }[] }[] };
  assert.equal(status.activeLb, 'node1');
  assert.deepEqual(
    status.hosts[0]!.daemons.map((d) => `${d.daemon}:${d.running}:${d.inSync}`),
    ['nftables:true:true', ...Object.keys(PHP_FPM_DAEMONS).map((d) => `${d}:true:true`), 'apache2:true:true', 'varnish:true:true', 'haproxy:true:true', 'keepalived:true:true'],
  );
  const plan = await vard('--json', 'apply', '--dry-run');
  assert.deepEqual((JSON.parse(plan.stdout) as { steps: string[] }).steps, [], 'a converged platform plans nothing');

  // The model outlives the lab: the next `lab up` applies it again.
  const down = await vard('lab', 'down');
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await labResidue(LAB), []);
  const list = JSON.parse((await vard('--json', 'site', 'list')).stdout) as { domain: string }[];
  assert.deepEqual(list.map((s) => s.domain), ['solo.example.com']);
  const again = await vard('--json', 'lab', 'up', '--topology', 'single');
  assert.equal(again.code, 0, again.stderr);
  const vip = (JSON.parse(again.stdout) as { publicVip: string }).publicVip;
  assert.equal((await httpGet(vip, 'solo.example.com', '/')).status, 200);
});
