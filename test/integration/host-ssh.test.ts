/**
 * The ssh transport against a REAL OpenSSH sshd on a lab host (lab 'tssh', preset `single`: one
 * host, node1, with its own network, UTS, mount and PID namespaces). The Node client stays in the
 * root namespace and reaches node1's *private* address only through a proxy command that enters
 * the host's network namespace (the bastion pattern): root has no route into the private half.
 * The whole Host contract runs over it; then the strictness checks, above all that a wrong pinned
 * host key is refused before anything runs.
 *
 * Everything sshd needs (config, keys, log, the contract's scratch directory) is written into the
 * host's own filesystem through the lab's netns Host, which also serves as the independent witness
 * for "nothing ran". sshd runs in the foreground under nsenter, is killed by its verified PID, and
 * the lab is torn down before and after the suite.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readlinkSync, statSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { isVardError } from '../../src/errors/index.ts';
import { localHost, sshHost, type Host, type SshTarget } from '../../src/host/index.ts';
import { labDown, labResidue, labStatus, labUp, type LabHandle } from '../../src/lab/index.ts';
import { PRESETS } from '../../src/roles/registry.ts';
import { hostContract } from '../contract/host-contract.ts';

const LAB = 'tssh';
const HOST = 'node1';
/** On node1's own filesystem (a lab host overlays /srv), so it vanishes with the lab. */
const DIR = '/srv/vard-tssh';
const CONFIG = `${DIR}/sshd_config`;
const LOG = `${DIR}/sshd.log`;
const local = localHost('root-ns');
const say = (m: string): void => console.log(`# [${process.uptime().toFixed(2)} s] ${m}`);

interface Sshd {
  readonly lab: LabHandle;
  /** node1 through the lab's netns transport: sets the host up and witnesses what happened. */
  readonly node: Host;
  readonly ns: string;
  readonly addr: string;
  readonly nsenter: ChildProcess;
  readonly pid: number;
  readonly hostKeySha256: string;
  readonly otherKeySha256: string;
  readonly clientKey: Buffer;
  readonly strangerKey: Buffer;
}

let setup: Promise<Sshd> | undefined;
let sshd: Sshd | undefined;

function cmdline(pid: number): string {
  try {
    // sshd rewrites its own title, so compare on the whole line joined with spaces.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return '';
  }
}

/** True only for the sshd we started: the right binary, our config file, node1's network namespace. */
function isOurSshd(pid: number, ns: string): boolean {
  try {
    return (
      readlinkSync(`/proc/${pid}/exe`) === '/usr/sbin/sshd' &&
      cmdline(pid).includes(CONFIG) &&
      readlinkSync(`/proc/${pid}/ns/net`) === `net:[${statSync(`/run/netns/${ns}`).ino}]`
    );
  } catch {
    return false;
  }
}

/** The daemon under nsenter: nsenter forks to enter the PID namespace and waits for it. */
function childOf(pid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return kids.length === 1 ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

/** A real protocol check through the same path the client uses: sshd's identification line. */
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

const proxyArgv = (ns: string, addr: string, port = 22): string[] => ['ip', 'netns', 'exec', ns, 'socat', 'STDIO', `TCP:${addr}:${port}`];

async function fingerprint(node: Host, pub: string): Promise<string> {
  // Sample: "256 SHA256:uO7Q…Zk vard-test-host (ED25519)"
  const out = (await node.run(['ssh-keygen', '-lf', pub])).stdout;
  const m = /\b(SHA256:[A-Za-z0-9+/]{43})\b/.exec(out);
  assert.ok(m?.[1], `unexpected ssh-keygen -lf output: ${out}`);
  return m[1];
}

async function startSshd(): Promise<Sshd> {
  let t = Date.now();
  await labDown(LAB); // teardown before setup: a crashed earlier run leaves nothing in the way
  const shape = PRESETS['single'];
  assert.ok(shape, 'the single preset exists');
  const lab = await labUp({ name: LAB, shape });
  say(`lab ${LAB} up in ${Date.now() - t} ms`);
  t = Date.now();
  const node = lab.host(HOST);
  const ns = lab.nsName(HOST);
  const spec = lab.topology.hosts.find((h) => h.name === HOST);
  assert.ok(spec);
  const addr = spec.privateAddress;

  await node.mkdir(DIR, { mode: 0o700 });
  const keygen = (name: string, comment: string): Promise<unknown> =>
    node.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', `${DIR}/${name}`]);
  await Promise.all([keygen('host_ed25519', 'vard-test-host'), keygen('other_ed25519', 'not-the-host'), keygen('client_ed25519', 'vard-client'), keygen('stranger_ed25519', 'stranger')]);
  const clientPub = await node.readFile(`${DIR}/client_ed25519.pub`);
  assert.ok(clientPub);
  await node.writeFile(`${DIR}/authorized_keys`, clientPub, { mode: 0o600 });
  // lab-field-notes §2.9, with the key and log paths of this suite.
  await node.writeFile(
    CONFIG,
    [
      `ListenAddress ${addr}:22`,
      `HostKey ${DIR}/host_ed25519`,
      `PidFile ${DIR}/sshd.pid`,
      `AuthorizedKeysFile ${DIR}/authorized_keys`,
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
  await node.mkdir('/run/sshd', { mode: 0o755 }); // the privilege-separation directory, in node1's private /run

  const initPid = (await labStatus(lab)).hosts.find((h) => h.name === HOST)?.initPid;
  assert.ok(initPid, 'node1 has no init');
  const nsenter = spawn(
    'nsenter',
    ['-t', String(initPid), '-n', '-u', '-m', '-p', '--wd=/', '--', '/usr/sbin/sshd', '-D', '-f', CONFIG, '-E', LOG],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  nsenter.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  nsenter.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const why = async (): Promise<string> => `${out}\n${(await node.readFile(LOG))?.toString() ?? ''}`;

  for (;;) {
    if (nsenter.exitCode !== null || nsenter.signalCode !== null) assert.fail(`sshd exited at start: ${await why()}`);
    if (await bannerVia(proxyArgv(ns, addr), 1_000)) break;
    if (Date.now() - t > 15_000) assert.fail(`sshd not ready after 15 s: ${await why()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const pid = nsenter.pid === undefined ? undefined : childOf(nsenter.pid);
  assert.ok(pid !== undefined && isOurSshd(pid, ns), `cannot identify sshd under nsenter ${nsenter.pid}`);
  say(`sshd ready on ${addr}:22 in ${Date.now() - t} ms (root-namespace pid ${pid})`);

  const key = async (p: string): Promise<Buffer> => {
    const b = await node.readFile(p);
    assert.ok(b);
    return b;
  };
  return {
    lab,
    node,
    ns,
    addr,
    nsenter,
    pid,
    hostKeySha256: await fingerprint(node, `${DIR}/host_ed25519.pub`),
    otherKeySha256: await fingerprint(node, `${DIR}/other_ed25519.pub`),
    clientKey: await key(`${DIR}/client_ed25519`),
    strangerKey: await key(`${DIR}/stranger_ed25519`),
  };
}

function ready(): Promise<Sshd> {
  setup ??= startSshd().then((s) => (sshd = s));
  return setup;
}

function target(s: Sshd, over: Partial<SshTarget> = {}): SshTarget {
  return {
    name: HOST,
    host: s.addr,
    username: 'root',
    privateKey: s.clientKey,
    hostKeySha256: s.hostKeySha256,
    proxyArgv: proxyArgv(s.ns, s.addr),
    readyTimeoutMs: 10_000,
    ...over,
  };
}

/** Successful logins so far, from sshd's own log. */
async function accepted(s: Sshd): Promise<number> {
  return ((await s.node.readFile(LOG))?.toString().match(/Accepted publickey for root/g) ?? []).length;
}

before(async () => {
  await ready();
});

after(async () => {
  const t = Date.now();
  if (sshd) {
    const s = sshd;
    // Only the PID we started, re-verified right before the signal.
    if (isOurSshd(s.pid, s.ns)) {
      let timer: NodeJS.Timeout | undefined;
      const gone = new Promise((r) => s.nsenter.once('exit', r));
      process.kill(s.pid, 'SIGTERM');
      // A pending timer would hold the test process open for its full length.
      await Promise.race([gone, new Promise((r) => (timer = setTimeout(r, 5_000)))]);
      clearTimeout(timer);
    }
    assert.ok(s.nsenter.exitCode !== null || s.nsenter.signalCode !== null, 'sshd did not stop');
  }
  await labDown(LAB);
  assert.deepEqual(await labResidue(LAB), []);
  const list = (await local.run(['ip', 'netns', 'list'])).stdout;
  assert.doesNotMatch(list, /^vdtssh-/m, 'namespace left behind');
  say(`sshd stopped and lab down in ${Date.now() - t} ms`);
});

test('the private address lives only inside node1 (root has no link or address in it)', async () => {
  const s = await ready();
  // Checked in the routing tables, never by sending packets: from root such a packet would
  // follow this machine's default route, out of the lab.
  assert.match((await local.run(['ip', '-n', s.ns, 'route', 'get', s.addr])).stdout, /^local /);
  assert.ok(!(await local.run(['ip', '-o', 'addr', 'show'])).stdout.includes(` ${s.addr}/`));
  // The lab makes the private half unreachable from root; at the very least no route may lead
  // into the lab's links.
  const r = await local.run(['ip', 'route', 'get', s.addr], { allowFail: true });
  if (r.exitCode === 0) assert.doesNotMatch(r.stdout, /^local |dev vdtssh/);
  else assert.match(r.stderr, /unreachable|No route/i);
});

hostContract('ssh (real sshd on a lab host, via proxyArgv)', async () => {
  const s = await ready();
  const host = sshHost(target(s));
  const scratch = `${DIR}/scratch`;
  await host.mkdir(scratch);
  return { host, scratch, cleanup: () => s.node.remove(scratch, { recursive: true }) };
});

describe('ssh strictness', () => {
  test('a wrong pinned fingerprint is refused with VARD_ERR_SSH_HOSTKEY_MISMATCH, and nothing runs', async () => {
    const s = await ready();
    const marker = `${DIR}/must-not-exist`;
    const before = await accepted(s);
    const host = sshHost(target(s, { hostKeySha256: s.otherKeySha256 }));
    await assert.rejects(host.run(['touch', marker]), (e: unknown) => {
      assert.ok(isVardError(e, 'VARD_ERR_SSH_HOSTKEY_MISMATCH'), `got ${String(e)}`);
      assert.equal(e.details?.['expected'], s.otherKeySha256);
      assert.equal(e.details?.['got'], s.hostKeySha256, 'the error names the key actually presented');
      return true;
    });
    // File operations are refused the same way: no later call slips through on a retry.
    await assert.rejects(host.writeFile(marker, 'x'), (e: unknown) => isVardError(e, 'VARD_ERR_SSH_HOSTKEY_MISMATCH'));
    await host.close();
    // Witnessed through the other transport, on the host itself.
    assert.equal(await s.node.exists(marker), false, 'the command must not have run');
    assert.equal(await accepted(s), before, 'the client never even authenticated');
  });

  test('a malformed pin is rejected up front (never treated as "accept any")', async () => {
    const s = await ready();
    for (const bad of ['', 'SHA256:', 'MD5:aa:bb:cc', 'SHA256:tooshort', ` ${s.hostKeySha256}`]) {
      assert.throws(() => sshHost(target(s, { hostKeySha256: bad })), (e: unknown) => isVardError(e, 'VARD_ERR_USAGE'));
    }
  });

  test('a client key the server does not know is VARD_ERR_SSH_CONNECT', async () => {
    const s = await ready();
    const host = sshHost(target(s, { privateKey: s.strangerKey }));
    await assert.rejects(host.run(['true']), (e: unknown) => isVardError(e, 'VARD_ERR_SSH_CONNECT'));
    await host.close();
  });

  test('no sshd behind the proxy is VARD_ERR_HOST_DOWN (as a powered-off host) carrying the proxy stderr; a proxy that cannot start is VARD_ERR_SSH_CONNECT', async () => {
    const s = await ready();
    const host = sshHost(target(s, { proxyArgv: proxyArgv(s.ns, s.addr, 2222) }));
    await assert.rejects(host.run(['true']), (e: unknown) => {
      assert.ok(isVardError(e, 'VARD_ERR_HOST_DOWN'), `got ${String(e)}`);
      assert.match(e.message, /no sshd answering .*proxy: .*refused/i);
      assert.ok(isVardError(e.cause, 'VARD_ERR_SSH_CONNECT'));
      return true;
    });
    await host.close();
    const broken = sshHost(target(s, { proxyArgv: ['/nonexistent/vard-proxy'] }));
    await assert.rejects(broken.run(['true']), (e: unknown) => {
      assert.ok(isVardError(e, 'VARD_ERR_SSH_CONNECT'), `got ${String(e)}`);
      assert.match(e.message, /cannot start proxy/);
      return true;
    });
    await broken.close();
    await host.close();
  });

  test('one lazily opened connection per Host, shared by commands and SFTP', async () => {
    const s = await ready();
    const before = await accepted(s);
    const host = sshHost(target(s));
    assert.equal(await accepted(s), before, 'creating a Host connects nothing');
    await Promise.all([host.run(['true']), host.run(['printf', 'x']), host.exists('/'), host.writeFile(`${DIR}/one-conn`, 'x'), host.list(DIR)]);
    for (let i = 0; i < 5; i++) await host.run(['true']);
    await host.close();
    assert.equal(await accepted(s), before + 1);
  });

  test('a dropped connection is the host down for what ran on it, and is reopened on the next call', async () => {
    const s = await ready();
    const before = await accepted(s);
    const host = sshHost(target(s));
    assert.equal((await host.run(['printf', 'a'])).stdout, 'a');
    // Kill this connection's session process (sshd: root@notty), as a network cut would end it.
    // The chain is session → timeout (the deadline wrapper) → sh, so it is sh's grandparent.
    const cut = host.run(['sh', '-c', 'read -r _ _ _ pp _ < /proc/$PPID/stat && kill -9 "$pp"']);
    await assert.rejects(cut, (e: unknown) => isVardError(e, 'VARD_ERR_HOST_DOWN') && /the SSH connection dropped/.test(e.message));
    assert.equal((await host.run(['printf', 'b'])).stdout, 'b');
    await host.close();
    assert.equal(await accepted(s), before + 2, 'a second connection was opened');
  });
});
