/**
 * The ssh transport against a REAL OpenSSH sshd running inside its own network namespace, reached
 * from the root namespace only through a proxy command (the bastion pattern): the root namespace
 * has no route to the host's private address. The whole Host contract runs over it, then the
 * strictness checks: a wrong pinned host key is refused before anything runs.
 *
 * The namespace is built here rather than with the lab module, so this suite depends only on the
 * transport under test: one namespace with a veth leg carrying a private address, and sshd in a
 * private mount namespace with its own tmpfs /run (sshd insists on /run/sshd; the machine's /run is
 * never touched). Teardown runs before setup too, so a crashed earlier run leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isVardError } from '../../src/errors/index.ts';
import { localHost, sshHost, type SshTarget } from '../../src/host/index.ts';
import { hostContract } from '../contract/host-contract.ts';

const NS = 'tssh-ns1';
/** Inside 198.18.0.0/15 like every lab address, and only ever configured inside NS. */
const ADDR = '198.18.254.141';
const local = localHost('root-ns');

interface Sshd {
  readonly dir: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly log: string;
  readonly hostKeySha256: string;
  readonly otherKeySha256: string;
  readonly clientKey: Buffer;
  readonly strangerKey: Buffer;
}

let sshd: Sshd | undefined;
let setup: Promise<Sshd> | undefined;

function nsInode(): number | undefined {
  try {
    return statSync(`/run/netns/${NS}`).ino;
  } catch {
    return undefined;
  }
}

/** True if `pid` lives in our namespace: the only processes this suite may signal. */
function inOurNs(pid: number): boolean {
  const ino = nsInode();
  if (ino === undefined) return false;
  try {
    return readlinkSync(`/proc/${pid}/ns/net`) === `net:[${ino}]`;
  } catch {
    return false;
  }
}

/** A process's command line as one string: sshd rewrites its own title, joining argv with spaces. */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!existsSync(`/proc/${pid}`) || /\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/**
 * Kills what is left in NS (sshd, its per-connection children, proxies) and deletes NS. Every PID
 * comes from `ip netns pids NS` and is re-checked to be in NS and to be sshd or socat, so nothing
 * outside this suite is ever signalled. Idempotent.
 */
async function teardownNs(): Promise<void> {
  if (nsInode() === undefined) return;
  for (let round = 0; round < 3; round++) {
    const pids = (await local.run(['ip', 'netns', 'pids', NS], { allowFail: true })).stdout.split(/\s+/).filter(Boolean).map(Number);
    if (pids.length === 0) break;
    for (const pid of pids) {
      if (inOurNs(pid) && /^(\/usr\/sbin\/sshd|sshd:|socat) /.test(`${cmdline(pid)} `)) process.kill(pid, round === 0 ? 'SIGTERM' : 'SIGKILL');
    }
    await Promise.all(pids.map((p) => waitGone(p, 2_000)));
  }
  await local.run(['ip', 'netns', 'del', NS]);
}

async function fingerprint(pub: string): Promise<string> {
  // Sample: "256 SHA256:uO7Q…Zk vard-test-host (ED25519)"
  const out = (await local.run(['ssh-keygen', '-lf', pub])).stdout;
  const m = /\b(SHA256:[A-Za-z0-9+/]{43})\b/.exec(out);
  assert.ok(m?.[1], `unexpected ssh-keygen -lf output: ${out}`);
  return m[1];
}

/** A real protocol check: the proxy path carries sshd's identification line. */
function bannerVia(argv: readonly string[], ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const [file, ...args] = argv as [string, ...string[]];
    const c = spawn(file, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    let buf = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), ms);
    c.stdout.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('SSH-2.0-'));
    });
    c.on('exit', () => done(buf.startsWith('SSH-2.0-')));
    c.on('error', () => done(false));
  });
}

const proxyArgv = (port = 22): string[] => ['ip', 'netns', 'exec', NS, 'socat', 'STDIO', `TCP:${ADDR}:${port}`];

async function startSshd(): Promise<Sshd> {
  await teardownNs();
  const dir = await mkdtemp(join(tmpdir(), 'vard-tssh-'));
  const key = async (name: string, comment: string): Promise<void> => {
    await local.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', join(dir, name)]);
  };
  await Promise.all([key('host_ed25519', 'vard-test-host'), key('other_ed25519', 'not-the-host'), key('client_ed25519', 'vard-client'), key('stranger_ed25519', 'stranger')]);
  await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_ed25519.pub')));
  const config = join(dir, 'sshd_config');
  const log = join(dir, 'sshd.log');
  await writeFile(
    config,
    [
      `ListenAddress ${ADDR}:22`,
      `HostKey ${join(dir, 'host_ed25519')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'Subsystem sftp internal-sftp',
      'LogLevel VERBOSE',
      '',
    ].join('\n'),
  );

  await local.run(['ip', 'netns', 'add', NS]);
  // Both veth ends inside NS: the host gets a real interface with its private address, and the
  // root namespace gets nothing at all (no route, no link).
  await local.run(['ip', '-n', NS, 'link', 'add', 'name', 'priv', 'type', 'veth', 'peer', 'name', 'priv-peer']);
  await local.run(['ip', '-n', NS, 'addr', 'add', `${ADDR}/25`, 'dev', 'priv']);
  for (const dev of ['lo', 'priv', 'priv-peer']) await local.run(['ip', '-n', NS, 'link', 'set', dev, 'up']);

  // ip netns exec, unshare (without --fork) and sh all exec, so child.pid ends up being sshd.
  const child = spawn(
    'ip',
    [
      'netns', 'exec', NS, 'unshare', '--mount', '--propagation', 'private', '--',
      'sh', '-c', 'mount -t tmpfs -o size=1m,mode=755 vard-tssh-run /run && mkdir -m 755 /run/sshd && exec /usr/sbin/sshd -D -f "$1" -E "$2"',
      'sh', config, log,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const pid = child.pid;
  assert.ok(pid, 'sshd did not start');

  const started = Date.now();
  const why = async (): Promise<string> => `${out}\n${await readFile(log, 'utf8').catch(() => '')}`;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) assert.fail(`sshd exited at start: ${await why()}`);
    if (await bannerVia(proxyArgv(), 1_000)) break;
    if (Date.now() - started > 15_000) assert.fail(`sshd not ready after 15 s: ${await why()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  // The PID we will signal must be the sshd we started, in our namespace.
  assert.equal(readlinkSync(`/proc/${pid}/exe`), '/usr/sbin/sshd');
  assert.ok(cmdline(pid).includes(config) && inOurNs(pid));
  console.log(`# sshd ready in ${Date.now() - started} ms (pid ${pid})`);

  return {
    dir,
    child,
    pid,
    log,
    hostKeySha256: await fingerprint(join(dir, 'host_ed25519.pub')),
    otherKeySha256: await fingerprint(join(dir, 'other_ed25519.pub')),
    clientKey: await readFile(join(dir, 'client_ed25519')),
    strangerKey: await readFile(join(dir, 'stranger_ed25519')),
  };
}

async function stopSshd(s: Sshd): Promise<void> {
  // Only the PID we spawned, and only while it is still that sshd in our namespace.
  if (s.child.exitCode === null && s.child.signalCode === null && cmdline(s.pid).includes(join(s.dir, 'sshd_config')) && inOurNs(s.pid)) {
    const exited = new Promise((r) => s.child.once('exit', r));
    process.kill(s.pid, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
  }
  await teardownNs();
  await rm(s.dir, { recursive: true, force: true });
}

function ready(): Promise<Sshd> {
  setup ??= startSshd().then((s) => (sshd = s));
  return setup;
}

function target(s: Sshd, over: Partial<SshTarget> = {}): SshTarget {
  return {
    name: 'node1',
    host: ADDR,
    username: 'root',
    privateKey: s.clientKey,
    hostKeySha256: s.hostKeySha256,
    proxyArgv: proxyArgv(),
    readyTimeoutMs: 10_000,
    ...over,
  };
}

async function accepted(s: Sshd): Promise<number> {
  return ((await readFile(s.log, 'utf8')).match(/Accepted publickey for root/g) ?? []).length;
}

before(async () => {
  await ready();
});

after(async () => {
  if (sshd) await stopSshd(sshd);
  else await teardownNs();
  assert.equal(nsInode(), undefined, 'namespace left behind');
  const list = (await local.run(['ip', 'netns', 'list'])).stdout;
  assert.ok(!list.split('\n').some((l) => l.split(' ')[0] === NS), `namespace still listed: ${list}`);
});

test('the address exists only inside the namespace (the root namespace has no link to it)', async () => {
  // Checked from the routing tables, not by sending packets: from the root namespace such a
  // packet would follow this machine's default route, out of the lab.
  const inside = (await local.run(['ip', '-n', NS, 'route', 'get', ADDR])).stdout;
  assert.match(inside, /^local /);
  const rootAddrs = (await local.run(['ip', '-o', 'addr', 'show'])).stdout;
  assert.ok(!rootAddrs.includes(` ${ADDR}/`), 'the root namespace must not hold the address');
  const rootRoute = (await local.run(['ip', 'route', 'get', ADDR])).stdout;
  assert.doesNotMatch(rootRoute, /^local /);
});

hostContract('ssh (real sshd in a network namespace, via proxyArgv)', async () => {
  const s = await ready();
  const host = sshHost(target(s));
  const scratch = join(s.dir, 'scratch');
  await host.mkdir(scratch);
  return { host, scratch, cleanup: () => rm(scratch, { recursive: true, force: true }) };
});

describe('ssh strictness', () => {
  test('a wrong pinned fingerprint is refused with VARD_ERR_SSH_HOSTKEY_MISMATCH, and nothing runs', async () => {
    const s = await ready();
    const marker = join(s.dir, 'must-not-exist');
    const before = await accepted(s);
    const host = sshHost(target(s, { hostKeySha256: s.otherKeySha256 }));
    await assert.rejects(host.run(['touch', marker]), (e: unknown) => {
      assert.ok(isVardError(e, 'VARD_ERR_SSH_HOSTKEY_MISMATCH'), `got ${String(e)}`);
      assert.equal(e.details?.['expected'], s.otherKeySha256);
      assert.equal(e.details?.['got'], s.hostKeySha256, 'the error names the key actually presented');
      return true;
    });
    // File operations are refused the same way, and no later call slips through.
    await assert.rejects(host.writeFile(marker, 'x'), (e: unknown) => isVardError(e, 'VARD_ERR_SSH_HOSTKEY_MISMATCH'));
    await host.close();
    assert.equal(existsSync(marker), false, 'the command must not have run');
    assert.equal(await accepted(s), before, 'the client never even authenticated');
  });

  test('a malformed pin is rejected up front (never treated as "accept any")', async () => {
    const s = await ready();
    for (const bad of ['', 'SHA256:', 'MD5:aa:bb', 'SHA256:tooshort']) {
      assert.throws(() => sshHost(target(s, { hostKeySha256: bad })), (e: unknown) => isVardError(e, 'VARD_ERR_USAGE'));
    }
  });

  test('a client key the server does not know is VARD_ERR_SSH_CONNECT', async () => {
    const s = await ready();
    const host = sshHost(target(s, { privateKey: s.strangerKey }));
    await assert.rejects(host.run(['true']), (e: unknown) => isVardError(e, 'VARD_ERR_SSH_CONNECT'));
    await host.close();
  });

  test('a proxy that cannot connect is VARD_ERR_SSH_CONNECT carrying the proxy stderr', async () => {
    const s = await ready();
    const host = sshHost(target(s, { proxyArgv: proxyArgv(2222) }));
    await assert.rejects(host.run(['true']), (e: unknown) => {
      assert.ok(isVardError(e, 'VARD_ERR_SSH_CONNECT'), `got ${String(e)}`);
      assert.match(e.message, /proxy:.*(refused|socat)/i);
      return true;
    });
    await host.close();
  });

  test('one lazily opened connection per Host, shared by commands and SFTP', async () => {
    const s = await ready();
    const before = await accepted(s);
    const host = sshHost(target(s));
    assert.equal(await accepted(s), before, 'creating a Host connects nothing');
    await Promise.all([
      host.run(['true']),
      host.run(['printf', 'x']),
      host.exists('/'),
      host.writeFile(join(s.dir, 'one-conn'), 'x'),
      host.list(s.dir),
    ]);
    for (let i = 0; i < 5; i++) await host.run(['true']);
    await host.close();
    // sshd writes the line as it accepts; give the log a moment to catch up.
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(await accepted(s), before + 1);
  });

  test('a dropped connection is reopened on the next call', async () => {
    const s = await ready();
    const host = sshHost(target(s));
    assert.equal((await host.run(['printf', 'a'])).stdout, 'a');
    // Kill this connection's per-session sshd from inside, as a network cut would end it.
    await host.run(['sh', '-c', 'kill -9 $PPID'], { allowFail: true }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await host.run(['printf', 'b'])).stdout, 'b');
    await host.close();
  });
});
