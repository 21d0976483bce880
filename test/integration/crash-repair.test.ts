// A crash leaves nothing half-done (issue 9, line 7): `vard` killed between any two steps of a
// convergence, or between a config set's swap and its reload, is repaired by the next `vard
// apply`; a host whose change failed is back in rotation after its rollback. Real daemons; the
// crashes are the CLI's test hooks (src/apply/faults.ts), a SIGKILL of the real process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import { versionOf } from '../../src/apply/config-set.ts';
import { renderPlatform } from '../../src/platform/reconcile.ts';
import { haproxyCommand } from '../../src/roles/lb/runtime.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { httpGet, startPlatform, type TestPlatform } from './helpers/platform.ts';

let P: TestPlatform;
const BIN = new URL('../../bin/vard.mjs', import.meta.url).pathname;
const t0 = Date.now();
const say = (m: string) => process.stderr.write(`  [crash +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`);

before(async () => {
  P = await startPlatform('tcrs', PRESETS['test-web']!);
});
after(async () => {
  await P?.teardown();
});

/** The real CLI with extra environment (the crash hooks); `signal` is set when the process was killed. */
function vard(args: readonly string[], env: Record<string, string> = {}): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, '--lab', P.g.lab, '--state', P.g.state, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

async function plan(): Promise<string[]> {
  const r = await vard(['--json', 'apply', '--dry-run']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { steps: string[] }).steps;
}

async function applyOk(env: Record<string, string> = {}): Promise<void> {
  const r = await vard(['apply'], env);
  assert.equal(r.code, 0, `vard apply: ${r.stderr}`);
}

/** Every web server as HAProxy sees it on lb1, per backend: `be,server,status`. */
async function rotation(): Promise<string[]> {
  const csv = await haproxyCommand(P.lab.host('lb1'), ['show stat']);
  const webs = new Set(P.lab.topology.hosts.filter((h) => h.roles.includes('web')).map((h) => h.name));
  return csv
    .split('\n')
    .map((l) => l.split(','))
    .filter((c) => c[0]?.startsWith('be_') && webs.has(c[1] ?? ''))
    .map((c) => `${c[0]},${c[1]},${c[17]}`);
}

/** Converged: nothing planned, every site answers through the public address, no web server out of rotation, every daemon loaded what is rendered. */
async function assertConverged(label: string): Promise<void> {
  assert.deepEqual(await plan(), [], `${label}: the next plan is empty`);
  const p = P.ctx.service.platform();
  for (const s of p.sites) {
    for (let i = 0; i < 4; i++) {
      const r = await httpGet(P.vip, s.domain, '/', { headers: { Cookie: 'SESSx=1' } });
      assert.equal(r.status, 200, `${label}: ${s.domain} answers through ${P.vip}`);
    }
  }
  // A server of a site just added is still rising ("UP 1/2"); DRAIN or MAINT would stay.
  let rot = await rotation();
  for (const end = Date.now() + 15_000; Date.now() < end && rot.some((x) => !x.endsWith(',UP')); ) {
    await new Promise((r) => setTimeout(r, 250));
    rot = await rotation();
  }
  assert.ok(rot.length >= 2 * p.sites.length, `${label}: HAProxy knows every site's servers: ${rot.join(' ')}`);
  assert.deepEqual(rot.filter((x) => !x.endsWith(',UP')), [], `${label}: every web server in rotation`);
  const varnish = await P.lab.host('lb1').run(['varnishadm', '-n', '/run/varnish', 'backend.list']);
  assert.doesNotMatch(varnish.stdout, /^\S+\s+sick\b/m, `${label}: no web server marked sick in Varnish\n${varnish.stdout}`);
  for (const [host, sets] of renderPlatform(p)) {
    for (const rs of sets) {
      const loaded = (await P.lab.host(host).readFile(`/run/vard/${rs.set.daemon}.loaded`))?.toString('utf8').trim();
      assert.equal(loaded, versionOf(rs.set), `${label}: ${rs.set.daemon} on ${host} loaded the rendered version`);
    }
  }
}

test('converged to begin with', async () => {
  const r = await vard(['--json', 'site', 'create', 'base.example.com']);
  assert.equal(r.code, 0, r.stderr);
  await assertConverged('after the first site');
});

test('a create killed after any step is repaired by the next apply', async () => {
  // How many changing steps a site create takes here: the dry run of a recorded but unapplied site.
  let n = 1;
  for (;;) {
    const domain = `crash${n}.example.com`;
    const killed = await vard(['--json', 'site', 'create', domain], { VARD_CRASH_AFTER_STEP: String(n) });
    if (killed.signal !== 'SIGKILL') {
      // Fewer steps than n: the create ran to its end; the previous n was the last step.
      assert.equal(killed.code, 0, killed.stderr);
      say(`a site create takes ${n - 1} steps; each was interrupted and repaired`);
      break;
    }
    const left = await plan();
    say(`killed after step ${n} (${killed.stderr.match(/crashing after step \d+ \((.*)\)/)?.[1]}); left to do: ${left.length} step(s)`);
    await applyOk();
    await assertConverged(`killed after step ${n}`);
    n++;
    assert.ok(n < 40, 'a site create ends');
  }
  assert.ok(n > 4, 'several steps were interrupted');
});

/** Appends a comment to a file of web1's Apache set: the next run re-stages it, draining web1 for the reload. */
async function editWeb1ByHand(): Promise<void> {
  const web1 = P.lab.host('web1');
  const files = (await web1.run(['find', '-L', '/etc/vard/apache2/current/', '-type', 'f', '-name', '*.conf'])).stdout.split('\n').filter(Boolean).sort();
  assert.ok(files.length, 'web1 has an Apache set');
  await web1.run(['sh', '-c', 'echo "# edited by hand" >> "$1"', 'edit', files[0]!]);
  assert.ok((await plan()).includes('web1: drain in the load balancers'), 'the hand edit is seen and web1 drained for it');
}

test('a repair only the web servers see (no HAProxy reload to reset a drain), killed after any step', async () => {
  for (let n = 1; ; n++) {
    await editWeb1ByHand();
    const killed = await vard(['apply'], { VARD_CRASH_AFTER_STEP: String(n) });
    if (killed.signal !== 'SIGKILL') {
      assert.equal(killed.code, 0, killed.stderr);
      say(`the repair takes ${n - 1} steps; each was interrupted and repaired`);
      assert.ok(n > 3, 'drain, reload and undrain were each interrupted');
      break;
    }
    say(`killed after step ${n} (${killed.stderr.match(/crashing after step \d+ \((.*)\)/)?.[1]}); left to do: ${(await plan()).join('; ') || 'nothing'}`);
    await applyOk();
    await assertConverged(`repair killed after step ${n}`);
  }
});

test('killed between the swap of `current` and the reload: the next run reloads', async () => {
  const domain = 'swap.example.com';
  const killed = await vard(['--json', 'site', 'create', domain], { VARD_CRASH_IN_APPLY: 'after-swap:haproxy@lb1' });
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  // HAProxy still runs the configuration without the site although `current` names the new one.
  assert.notEqual((await httpGet(P.vip, domain, '/', { headers: { Cookie: 'SESSx=1' } })).status, 200);
  const left = await plan();
  assert.ok(left.some((s) => /lb1: haproxy reload/.test(s)), `the plan reloads HAProxy: ${left.join('; ')}`);
  await applyOk();
  await assertConverged('killed after the swap');
  assert.equal((await httpGet(P.vip, domain, '/', { headers: { Cookie: 'SESSx=1' } })).status, 200);
});

test('a web server whose change failed is back in rotation after its rollback', async () => {
  await editWeb1ByHand();
  const failed = await vard(['apply'], { VARD_FAIL_IN_APPLY: 'apache2@web1' });
  assert.notEqual(failed.code, 0, 'the forced failure fails the apply');
  assert.match(failed.stderr, /VARD_FAIL_IN_APPLY/);
  // In rotation means not DRAIN or MAINT; a check failed during the rollback's reload may still
  // show as "UP 1/2" for a moment.
  assert.deepEqual((await rotation()).filter((x) => !/,UP( \d+\/\d+)?$/.test(x)), [], 'no web server left out of rotation by the failed apply');
  await applyOk();
  await assertConverged('after the failed apply');
});
