// Real servers (issue 10, lines 1-3): a platform recorded from an inventory, whose hosts Vard
// reaches only over SSH with its own key and pinned host keys. The machines are a lab in SSH mode
// brought up bare (sshd and nothing else: no platform converged on them), so everything Vard does
// on them goes through `vard platform init`, `vard host trust`, `vard host bootstrap` and
// `vard apply`, exactly as on servers it did not create.
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { stringify } from 'yaml';
import { labDown, labKill, labRevive, labUp, reapStaleLabs, type LabHandle } from '../../src/lab/index.ts';
import { hostDir, labDir } from '../../src/lab/names.ts';
import { bastionAddress, proxyArgv } from '../../src/lab/ssh.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { httpGet, runCli, until } from './helpers/platform.ts';

const NAME = `tinv${process.env.VARD_TEST_LAB_SUFFIX ?? ''}`;
/** The platform's own name: not the lab's, so nothing can reach the hosts through the lab. */
const PLATFORM = 'prodtest';
let lab: LabHandle;
let dir: string;
let state: string;
let inventory: string;

/** Vard's own key pair lives under VARD_HOME: a fresh one for this file (the lab stays under the default home). */
const cli = (args: readonly string[]) => runCli(['--lab', PLATFORM, '--state', state, ...args], { VARD_HOME: join(dir, 'home') });
/** The lab's pins: what the operator would read on each machine's console. */
const labPins = (): Record<string, string> => (JSON.parse(readFileSync(join(labDir(NAME), 'lab.json'), 'utf8')) as { ssh: { hostKeys: Record<string, string> } }).ssh.hostKeys;

function inventoryOf(l: LabHandle): string {
  const t = l.topology;
  return stringify({
    network: { publicVip: t.publicVip, publicPrefix: t.publicPrefix, privatePrefix: t.privatePrefix, ...(t.vips ? { vips: t.vips } : {}) },
    operator: { sshFrom: [`${bastionAddress(l.base)}/32`] },
    ssh: { user: 'root' },
    hosts: t.hosts.map((h) => ({
      name: h.name,
      roles: [...h.roles],
      privateAddress: h.privateAddress,
      ...(h.publicAddress ? { publicAddress: h.publicAddress } : {}),
      // Through the lab's bastion, as through a jump host: a byte pipe, never the host's namespaces.
      ssh: { proxy: proxyArgv(NAME, h.privateAddress) },
    })),
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), `vard-${NAME}-`));
  state = join(dir, 'state.db');
  await reapStaleLabs();
  lab = await labUp({ name: NAME, shape: PRESETS['test-web']!, transport: 'ssh' });
  inventory = join(dir, 'hosts.yml');
  writeFileSync(inventory, inventoryOf(lab));
});

after(async () => {
  await lab?.close();
  await labDown(NAME).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('a bad inventory names every problem with its path and records nothing', async () => {
  const bad = join(dir, 'bad.yml');
  const good = readFileSync(inventory, 'utf8');
  writeFileSync(bad, good.replace(/roles:\n\s+- web/, 'roles:\n      - webb').replace('user: root', 'user: Root'));
  const r = await cli(['platform', 'init', PLATFORM, '--inventory', bad]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /VARD_ERR_INVENTORY_INVALID/);
  assert.match(r.stderr, /hosts\.\d+\.roles\.0|hosts\[\d+\]\.roles\[0\]/);
  assert.match(r.stderr, /ssh\.user/);
  assert.equal(existsSync(state), false, 'no state file was created');
});

test("init records the platform and prints Vard's public key; untrusted hosts are refused before anything runs", async () => {
  const r = await cli(['--json', 'platform', 'init', PLATFORM, '--inventory', inventory]);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { publicKey: string; untrusted: string[]; hosts: { name: string }[] };
  assert.match(j.publicKey, /^ssh-ed25519 [A-Za-z0-9+/=]+ vard@/);
  assert.deepEqual([...j.untrusted].sort(), lab.topology.hosts.map((h) => h.name).sort());
  // The key pair is kept like every secret.
  assert.equal(statSync(join(dir, 'home', 'ssh', 'id_ed25519')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'home', 'ssh')).mode & 0o777, 0o700);
  // The operator installs the printed line on every machine (the lab's authorized_keys).
  for (const h of lab.topology.hosts) appendFileSync(join(hostDir(NAME, h.name), 'ssh', 'authorized_keys'), `${j.publicKey}\n`);
  const a = await cli(['apply']);
  assert.notEqual(a.code, 0);
  assert.match(a.stderr, /web1: FAILED: Host web1 has no pinned host key, so Vard will not log in; check and pin it with `vard host trust web1`/);
  assert.match(a.stderr, /nothing was converged.*\[VARD_ERR_BOOTSTRAP_FAILED\]/s);
  // Nothing reached a host: no login in any sshd log.
  for (const h of lab.topology.hosts) assert.doesNotMatch(readFileSync(join(hostDir(NAME, h.name), 'log', 'sshd.log'), 'utf8'), /Accepted publickey/, h.name);
});

test('host trust shows the offered key, refuses one that is not the expected, and pins the right one', async () => {
  const pins = labPins();
  const dry = await cli(['--json', 'host', 'trust', 'web1', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal((JSON.parse(dry.stdout) as { offered: string; pinned: boolean }).offered, pins.web1);
  const wrongFp = `SHA256:${'A'.repeat(43)}`;
  const wrong = await cli(['host', 'trust', 'web1', '--fingerprint', wrongFp]);
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /VARD_ERR_SSH_TRUST_MISMATCH/);
  assert.ok(wrong.stderr.includes(pins.web1!), 'the refusal names the key offered');
  const list0 = JSON.parse((await cli(['--json', 'host', 'list'])).stdout) as { name: string; pinned: unknown }[];
  assert.ok(list0.every((h) => h.pinned === null), 'a dry run and a refusal pin nothing');
  for (const h of lab.topology.hosts) {
    const t = await cli(['host', 'trust', h.name, '--fingerprint', pins[h.name]!]);
    assert.equal(t.code, 0, t.stderr);
  }
  const list = JSON.parse((await cli(['--json', 'host', 'list'])).stdout) as { name: string; pinned: { sha256: string } | null }[];
  for (const h of list) assert.equal(h.pinned?.sha256, pins[h.name], h.name);
});

test('bootstrap refuses a host that is not Debian 12 and reports the others; nothing is installed or converged anywhere', async () => {
  const web2 = lab.console('web2');
  const osr = (await web2.readFile('/etc/os-release'))!;
  await web2.writeFile('/etc/os-release', 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nID=ubuntu\nVERSION_ID="22.04"\n');
  try {
    const c = await cli(['--json', 'host', 'bootstrap', '--check']);
    const r = JSON.parse(c.stdout || '{}') as { ok: boolean; hosts: { name: string; ok: boolean; error?: { code: string; message: string } }[] };
    assert.equal(r.ok, false, c.stderr);
    const w2 = r.hosts.find((h) => h.name === 'web2');
    assert.equal(w2?.error?.code, 'VARD_ERR_HOST_UNSUPPORTED');
    assert.match(w2?.error?.message ?? '', /Ubuntu 22\.04.*Debian 12/);
    assert.deepEqual(r.hosts.filter((h) => h.ok).map((h) => h.name).sort(), ['lb1', 'web1']);
    const a = await cli(['apply']);
    assert.notEqual(a.code, 0);
    assert.match(a.stderr, /VARD_ERR_BOOTSTRAP_FAILED/);
    assert.match(a.stderr, /web2: FAILED/);
    assert.match(a.stderr, /lb1: Debian/);
    for (const h of lab.topology.hosts) assert.deepEqual(await lab.console(h.name).list('/etc/vard'), [], `${h.name}: no configuration written`);
  } finally {
    await web2.writeFile('/etc/os-release', osr);
  }
});

test('apply bootstraps and converges the bare hosts over SSH; a site is served through the public address; a second apply changes nothing', async () => {
  const a = await cli(['apply']);
  assert.equal(a.code, 0, a.stderr);
  assert.match(a.stderr, /lb1: checking/);
  const s = await cli(['--json', 'site', 'create', 'real.example.com']);
  assert.equal(s.code, 0, s.stderr);
  const served = new Set<string>();
  await until('the site answers through the public address', async () => (await httpGet(lab.topology.publicVip, 'real.example.com', '/').catch(() => ({ status: 0 }))).status === 200, 60_000);
  for (let i = 0; i < 8; i++) {
    const r = await httpGet(lab.topology.publicVip, 'real.example.com', '/', { headers: { Cookie: 'SESSx=1' } });
    assert.equal(r.status, 200);
    served.add(String(r.headers['x-served-by']));
  }
  assert.deepEqual([...served].sort(), ['web1', 'web2']);
  const dry = JSON.parse((await cli(['--json', 'apply', '--dry-run'])).stdout) as { steps: string[] };
  assert.deepEqual(dry.steps, []);
  // Every login came from the bastion with a key: no other way in was used.
  const bastion = bastionAddress(lab.base);
  for (const h of lab.topology.hosts) {
    const log = readFileSync(join(hostDir(NAME, h.name), 'log', 'sshd.log'), 'utf8');
    assert.match(log, /Accepted publickey for root/, h.name);
    for (const l of log.split('\n').filter((x) => x.includes('Accepted publickey'))) assert.ok(l.includes(`from ${bastion} `), l);
  }
});

test('a host that goes down is reported and left alone; the others still take a new site; back, the next apply brings it up to date', async () => {
  await labKill(lab, 'web2');
  let revived = false;
  try {
    const c = await cli(['--json', 'host', 'bootstrap', '--check']);
    assert.notEqual(c.code, 0, 'a check with a host down is not a clean bill');
    const r = JSON.parse(c.stdout) as { hosts: { name: string; ok: boolean; down?: boolean; error?: { message: string } }[] };
    const w2 = r.hosts.find((h) => h.name === 'web2');
    assert.equal(w2?.down, true, JSON.stringify(w2));
    assert.match(w2?.error?.message ?? '', /web2.*(no sshd answering|is down)/);
    assert.deepEqual(r.hosts.filter((h) => h.ok).map((h) => h.name).sort(), ['lb1', 'web1']);
    const s = await cli(['site', 'create', 'second.example.com']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /web2: DOWN, left alone until it is back/);
    const r2 = await httpGet(lab.topology.publicVip, 'second.example.com', '/', { headers: { Cookie: 'SESSx=1' } });
    assert.equal(r2.status, 200);
    assert.equal(r2.headers['x-served-by'], 'web1');
    await labRevive(lab, 'web2');
    revived = true;
    const a = await cli(['apply']);
    assert.equal(a.code, 0, a.stderr);
    await until('web2 serves the site created while it was down', async () => {
      const x = await httpGet(lab.topology.publicVip, 'second.example.com', '/', { headers: { Cookie: 'SESSy=1' } });
      return x.status === 200 && x.headers['x-served-by'] === 'web2';
    }, 30_000);
  } finally {
    if (!revived) await labRevive(lab, 'web2');
  }
});
