/**
 * The lab on this machine, for real: namespaces, bridges, host inits, failure drills and a
 * teardown that leaves nothing behind. Needs root. Lab names: tlab1 and tlab2 only.
 *
 *   node --import tsx --test test/integration/lab.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { isVardError } from '../../src/errors/index.ts';
import { execArgv } from '../../src/host/exec.ts';
import {
  labCut,
  labDown,
  labExists,
  labKill,
  labOpen,
  labResidue,
  labRevive,
  labStatus,
  labUp,
  reapStaleLabs,
  subnetBase,
  type LabHandle,
} from '../../src/lab/index.ts';
import { rootBatch, routedIndexes } from '../../src/lab/net.ts';
import { addressTopology } from '../../src/model/index.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { pingFrom, pingFromRoot, teardownOnSignals, tracesOf } from './helpers/lab.ts';

const L1 = 'tlab1';
const L2 = 'tlab2';
const log: string[] = [];
const progress = (m: string): void => void log.push(m);

function addr(lab: LabHandle, host: string, which: 'priv' | 'pub'): string {
  const h = lab.topology.hosts.find((x) => x.name === host);
  const a = which === 'priv' ? h?.privateAddress : h?.publicAddress;
  assert.ok(a, `${host} has a ${which} address`);
  return a;
}

function ownerPid(name: string): number {
  const rec = JSON.parse(readFileSync(`${labOpen(name).dir}/lab.json`, 'utf8')) as { owner: { pid: number } };
  return rec.owner.pid;
}

/** Polls a probe until it holds or `ms` pass. */
async function eventually(probe: () => Promise<boolean>, ms = 4000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** SIGKILL, then wait until the kernel has really ended it (delivery is not instantaneous). */
async function killOwner(name: string): Promise<void> {
  const pid = ownerPid(name);
  process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 200 && alive(pid); i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(alive(pid), false, `owner ${pid} of ${name} is gone`);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

describe('lab', { timeout: 90_000 }, () => {
  let lab1: LabHandle;
  let lab2: LabHandle;
  let stopSignals: () => void = () => undefined;

  before(async () => {
    stopSignals = teardownOnSignals([L1, L2]);
    // Idempotent teardown first: a previous interrupted run may have left either lab.
    await labDown(L1);
    await labDown(L2);
  });

  after(async () => {
    stopSignals();
    const errors: unknown[] = [];
    for (const l of [L1, L2]) await labDown(l).catch((e: unknown) => errors.push(e));
    if (errors.length) throw errors[0];
  });

  test('pure parts: subnet indexes, route claims, interface names', () => {
    assert.equal(subnetBase(0), '198.18.0');
    assert.equal(subnetBase(255), '198.18.255');
    assert.equal(subnetBase(256), '198.19.0');
    assert.equal(subnetBase(511), '198.19.255');
    const claimed = routedIndexes(
      JSON.stringify([
        { dst: 'default' },
        { dst: '198.0.0.0/8' }, // broader than the /15: claims nothing
        { dst: '198.18.3.0/25' },
        { dst: '198.18.3.128/25' },
        { dst: '198.19.4.7' },
        { dst: '198.19.254.0/23' },
        { dst: '10.0.0.0/8' },
      ]),
    );
    assert.deepEqual([...claimed].sort((a, b) => a - b), [3, 260, 510, 511]);
    // Every name a lab creates fits the kernel's 15-character limit, even at the longest.
    const t = addressTopology({ source: 't', hosts: [{ name: 'abcdefghij', roles: ['lb', 'web'] }] }, '198.18.0', ROLE_CATALOG);
    const names = [...rootBatch('abcdefgh', t, '198.18.0').matchAll(/link add (\S+) .*? peer name (\S+)/g)].flatMap((m) => [m[1]!, m[2]!]);
    assert.ok(names.includes('vdabcdefgh-inet') && names.includes('abcdefghij-priv') && names.includes('abcdefghij-pub'));
    for (const n of names) assert.ok(n.length <= 15, n);
  });

  test('rejects bad names', async () => {
    await assert.rejects(labUp({ name: 'Bad-Name', shape: PRESETS.single! }), (e) => isVardError(e, 'VARD_ERR_LAB_NAME_INVALID'));
    assert.throws(() => labOpen(L1), (e) => isVardError(e, 'VARD_ERR_LAB_NOT_RUNNING'));
    // A host named like the switch namespace is refused before anything is created.
    const clash = { source: 'test', hosts: [{ name: 'sw', roles: ['lb', 'web'] as const }] };
    await assert.rejects(labUp({ name: L1, shape: clash }), (e) => isVardError(e, 'VARD_ERR_TOPOLOGY_INVALID'));
    assert.deepEqual(await labResidue(L1), []);
  });

  test('up reference: every host and a switch, own hostnames, own /etc', async () => {
    const t0 = Date.now();
    lab1 = await labUp({ name: L1, shape: PRESETS.reference!, progress });
    log.push(`tlab1 up in ${Date.now() - t0} ms`);
    assert.equal(lab1.prefix, 'vdtlab1-');
    assert.ok(labExists(L1));
    const netns = readFileSync('/proc/self/mountinfo', 'utf8');
    const names = PRESETS.reference!.hosts.map((h) => h.name);
    for (const n of ['sw', ...names]) assert.ok(netns.includes(`/run/netns/vdtlab1-${n} `), `namespace vdtlab1-${n}`);
    assert.deepEqual(lab1.hosts().map((h) => h.name), names);
    for (const h of lab1.hosts()) {
      assert.equal((await h.run(['hostname'])).stdout.trim(), h.name);
      assert.equal(lab1.hostState(h.name), 'up');
    }
    assert.throws(() => lab1.host('nope'), (e) => isVardError(e, 'VARD_ERR_HOST_UNKNOWN'));

    const marker = `/etc/vard-lab-test-${process.pid}`;
    await lab1.host('web1').run(['tee', marker], { input: 'web1 only\n' });
    assert.equal((await lab1.host('web1').run(['cat', marker])).stdout, 'web1 only\n');
    assert.equal((await lab1.host('web2').run(['test', '-e', marker], { allowFail: true })).exitCode, 1);
    assert.equal(existsSync(marker), false, 'root /etc untouched');
    // Per-site Unix users need a per-host /etc/passwd.
    await lab1.host('web1').run(['useradd', '--no-create-home', '--system', 'vardlabtest']);
    assert.match((await lab1.host('web1').run(['getent', 'passwd', 'vardlabtest'])).stdout, /^vardlabtest:/);
    assert.equal((await lab1.host('web2').run(['getent', 'passwd', 'vardlabtest'], { allowFail: true })).exitCode, 2);
    assert.doesNotMatch(readFileSync('/etc/passwd', 'utf8'), /vardlabtest/);
  });

  test('root is "the Internet": reaches the LB public address, never a private one', async () => {
    assert.equal(await pingFromRoot(addr(lab1, 'lb1', 'pub')), true, 'root → lb1 pub');
    assert.equal(await pingFromRoot(addr(lab1, 'web1', 'priv')), false, 'root ↛ web1 priv');
    assert.equal(await pingFromRoot(addr(lab1, 'lb1', 'priv')), false, 'root ↛ lb1 priv');
    assert.equal(await pingFrom(lab1.host('lb1'), addr(lab1, 'web1', 'priv')), true, 'lb1 → web1 over priv');
    assert.equal(await pingFrom(lab1.host('web1'), lab1.uplinkAddress), false, 'web1 has no path to root');
    // No default route anywhere in the lab.
    assert.equal((await lab1.host('web1').run(['ip', '-4', 'route', 'show', 'default'])).stdout.trim(), '');
    assert.equal((await lab1.host('lb1').run(['ip', '-4', 'route', 'show', 'default'])).stdout.trim(), '');
    for (const h of ['lb1', 'web1']) assert.equal((await lab1.host(h).run(['cat', '/proc/sys/net/ipv4/ip_forward'])).stdout.trim(), '0', `${h} does not forward`);
    // A TCP service on lb1's public address answers root.
    const lb1 = lab1.host('lb1');
    await lb1.run(['sh', '-c', 'setsid socat TCP-LISTEN:8080,bind="$1",reuseaddr,fork SYSTEM:"echo hello-from-$(hostname)" </dev/null >/dev/null 2>&1 &', 'sh', addr(lab1, 'lb1', 'pub')]);
    let got = '';
    for (let i = 0; i < 50 && !got.includes('hello'); i++) {
      if (i) await new Promise((res) => setTimeout(res, 50));
      got = (await execArgv('root', ['socat', '-T1', '-', `TCP:${addr(lab1, 'lb1', 'pub')}:8080`], { allowFail: true, timeoutMs: 3000 })).stdout;
    }
    assert.match(got, /hello-from-lb1/);
  });

  test('a second lab runs beside the first on its own /24', async () => {
    lab2 = await labUp({ name: L2, shape: PRESETS.single!, progress });
    assert.notEqual(lab2.base, lab1.base);
    assert.equal((await lab2.host('node1').run(['hostname'])).stdout.trim(), 'node1');
    assert.equal(await pingFromRoot(addr(lab2, 'node1', 'pub')), true);
    assert.equal(await pingFromRoot(addr(lab1, 'lb2', 'pub')), true, 'tlab1 still reachable');
    await assert.rejects(labUp({ name: L1, shape: PRESETS.single! }), (e) => isVardError(e, 'VARD_ERR_LAB_EXISTS'));
  });

  test('kill and revive a web server: new PID 1, fresh /run, same /etc', async () => {
    const web2 = lab1.host('web2');
    await web2.writeFile('/run/before-kill', 'x');
    await web2.writeFile('/etc/survives-reboot', 'y');
    const oldInit = (await labStatus(lab1)).hosts.find((h) => h.name === 'web2')?.initPid;
    assert.ok(oldInit);
    await labKill(lab1, 'web2');
    assert.equal(lab1.hostState('web2'), 'killed');
    assert.equal(alive(oldInit), false, 'old init gone');
    // The netns transport may throw before returning a promise; either way it is a coded HOST_DOWN.
    await assert.rejects(async () => web2.run(['true']), (e) => isVardError(e, 'VARD_ERR_HOST_DOWN'));
    assert.equal(await pingFrom(lab1.host('lb1'), addr(lab1, 'web2', 'priv')), false);

    await labRevive(lab1, 'web2');
    assert.equal(lab1.hostState('web2'), 'up');
    const newInit = (await labStatus(lab1)).hosts.find((h) => h.name === 'web2')?.initPid;
    assert.ok(newInit && newInit !== oldInit, 'a new init');
    assert.equal((await web2.run(['hostname'])).stdout.trim(), 'web2');
    assert.equal(await web2.exists('/run/before-kill'), false, 'fresh /run');
    assert.equal((await web2.readFile('/etc/survives-reboot'))?.toString(), 'y', '/etc persists like a disk');
    assert.equal(await eventually(() => pingFrom(lab1.host('lb1'), addr(lab1, 'web2', 'priv'))), true, 'lb1 → web2 after revive');
  });

  test('cut and revive a load balancer: links only, processes keep running', async () => {
    const init = (await labStatus(lab1)).hosts.find((h) => h.name === 'lb2')?.initPid;
    assert.ok(init);
    await labCut(lab1, 'lb2');
    assert.equal(lab1.hostState('lb2'), 'cut');
    assert.equal(await pingFrom(lab1.host('lb1'), addr(lab1, 'lb2', 'priv')), false, 'lb1 ↛ lb2 while cut');
    assert.equal(alive(init), true, 'lb2 still running');
    assert.equal((await lab1.host('lb2').run(['hostname'])).stdout.trim(), 'lb2');
    await labRevive(lab1, 'lb2');
    assert.equal(lab1.hostState('lb2'), 'up');
    // As on a real network, a peer whose ARP for lb2 failed during the cut retries once a second.
    assert.equal(await eventually(() => pingFrom(lab1.host('lb1'), addr(lab1, 'lb2', 'priv'))), true, 'lb1 → lb2 after revive');
    assert.equal((await labStatus(lab1)).hosts.find((h) => h.name === 'lb2')?.initPid, init, 'same init');
  });

  test('status names the VIP holder; a rebooted LB forgets the VIP', async () => {
    const vip = lab1.topology.publicVip;
    assert.deepEqual((await labStatus(lab1)).vipHolders, []);
    await lab1.host('lb1').run(['ip', 'addr', 'add', `${vip}/${lab1.topology.publicPrefix}`, 'dev', 'pub']);
    const s = await labStatus(lab1);
    assert.deepEqual(s.vipHolders, ['lb1']);
    assert.equal(s.publicVip, vip);
    assert.equal(await pingFromRoot(vip), true, 'root → VIP');
    await labKill(lab1, 'lb1');
    assert.deepEqual((await labStatus(lab1)).vipHolders, [], 'a powered-off LB holds nothing');
    await labRevive(lab1, 'lb1');
    const after = await labStatus(lab1);
    assert.deepEqual(after.vipHolders, []);
    assert.equal(after.hosts.find((h) => h.name === 'lb1')?.carriesVip, false, 'VIP flushed at reboot');
    assert.equal(await pingFromRoot(addr(lab1, 'lb1', 'pub')), true);
  });

  test('a stale lab (owner gone) is reaped by labUp and by reapStaleLabs', async () => {
    // Stale: kill the owner (the keeper) the way a crash or reboot would.
    await killOwner(L2);
    const s = await labStatus(labOpen(L2));
    assert.equal(s.ownerAlive, false);
    lab2 = await labUp({ name: L2, shape: PRESETS.single!, progress });
    assert.equal(labOpen(L2).hostState('node1'), 'up');
    assert.ok(alive(ownerPid(L2)));

    await killOwner(L2);
    const reaped = await reapStaleLabs({ progress });
    assert.ok(reaped.includes(L2), `reaped ${reaped.join(',')}`);
    assert.ok(!reaped.includes(L1), 'a live lab is never reaped');
    assert.equal(labExists(L2), false);
    assert.deepEqual(await labResidue(L2), []);
    assert.deepEqual(await tracesOf(L2), []);
  });

  test('down leaves nothing behind, and down again is a no-op', async () => {
    lab2 = await labUp({ name: L2, shape: PRESETS.single!, progress });
    // Leftovers teardown must find on its own: a process started with `ip netns exec` (outside
    // the host's PID namespace, so it survives its init) and a root-namespace mount in the lab dir.
    const stray = spawn('ip', ['netns', 'exec', lab1.nsName('web3'), 'sleep', '600'], { detached: true, stdio: 'ignore' });
    stray.unref();
    const mnt = `${lab1.dir}/hosts/web3/mnt`;
    mkdirSync(mnt, { recursive: true });
    await execArgv('root', ['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    const t0 = Date.now();
    await labDown(L1, { progress });
    log.push(`tlab1 down in ${Date.now() - t0} ms`);
    await labDown(L2, { progress });
    assert.ok(stray.pid !== undefined && !alive(stray.pid), 'the stray process was swept');
    assert.ok(log.some((m) => m.includes('sweeping 1 leftover')) && log.some((m) => m.includes(`unmounting ${mnt}`)));
    for (const l of [L1, L2]) {
      assert.deepEqual(await labResidue(l), [], `${l} residue`);
      assert.deepEqual(await tracesOf(l), [], `${l} traces`);
      assert.equal(labExists(l), false);
    }
    const again: string[] = [];
    await labDown(L1, { progress: (m) => again.push(m) });
    assert.deepEqual(again, ['lab tlab1: nothing to tear down']);
    assert.equal(existsSync(`/etc/vard-lab-test-${process.pid}`), false);
  });

  after(() => {
    if (process.env.VARD_TEST_VERBOSE) process.stderr.write(`${log.join('\n')}\n`);
  });
});
