/**
 * The lab's SSH mode (`vard lab up --transport ssh`): every host runs OpenSSH's sshd under its
 * init, and Vard reaches it only as it would a real server — a login with the lab's client key to
 * a host key pinned by its SHA-256 fingerprint (src/host/ssh.ts).
 *
 * Root has no route into the private half (see index.ts), so the lab plays a **bastion**: the
 * switch namespace takes the management address `<base>.129` on the private bridge, and the
 * client's ProxyCommand is `nsenter --net=<switch> socat STDIO TCP:<host>:22`. That process only
 * carries bytes from a machine on the private segment, exactly like `ssh -W` through a jump host;
 * it never enters the host's own namespaces, so nothing in Vard's command path runs on a host
 * except through sshd. The hosts' firewalls let port 22 in from that address only
 * (`topology.operator.sshFrom`).
 *
 * Layout, all under `$LAB` (never overlaid inside a host, so sshd reads the same paths):
 * `ssh/id_ed25519` the client key; `hosts/<host>/ssh/{ssh_host_ed25519_key,sshd_config,
 * authorized_keys}`; sshd logs to `hosts/<host>/log/sshd.log` like the other lab processes.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { vardError } from '../errors/index.ts';
import { execArgv } from '../host/exec.ts';
import type { Host, SshTarget } from '../host/index.ts';
import type { HostSpec } from '../model/index.ts';
import { hostDir, labDir, switchNs } from './names.ts';
import { childrenOf, readCmdline, sleep } from './proc.ts';

/** How Vard's command path reaches lab hosts: entering their namespaces, or over SSH only. */
export type LabTransport = 'netns' | 'ssh';
export const LAB_TRANSPORTS: readonly LabTransport[] = ['netns', 'ssh'];

/** Offset of the bastion's address in the lab's /24: the private half's first host address, which no role's block uses. */
export const BASTION_OFFSET = 129;
export const SSH_PORT = 22;
const SSHD = '/usr/sbin/sshd';
/** The user Vard logs in as: the lab's hosts are whole machines of their own, administered as root. */
export const SSH_USER = 'root';

/** What lab.json records about a lab in SSH mode. */
export interface LabSshRecord {
  /** The management address the proxy connects from (no prefix length). */
  readonly bastion: string;
  /** Pinned host key of each host, `SHA256:…` as `ssh-keygen -lf` prints it. */
  readonly hostKeys: Readonly<Record<string, string>>;
}

export function bastionAddress(base: string): string {
  return `${base}.${BASTION_OFFSET}`;
}

function sshDir(lab: string): string {
  return join(labDir(lab), 'ssh');
}
function clientKeyPath(lab: string): string {
  return join(sshDir(lab), 'id_ed25519');
}
function hostSshDir(lab: string, host: string): string {
  return join(hostDir(lab, host), 'ssh');
}
function sshdConfigPath(lab: string, host: string): string {
  return join(hostSshDir(lab, host), 'sshd_config');
}

/**
 * ssh-keygen's fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`): SHA-256
 * of the decoded key blob, base64 without padding.
 */
export function fingerprintOfPublicKey(line: string): string {
  const blob = line.trim().split(/\s+/)[1];
  if (!blob) throw vardError('VARD_ERR_INTERNAL', [`not an OpenSSH public key: ${JSON.stringify(line.slice(0, 80))}`]);
  return `SHA256:${createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64').replace(/=+$/, '')}`;
}

/**
 * sshd's configuration for one lab host: its private address only, the key as the only way in,
 * root allowed with a key (as on a managed server that Vard administers), SFTP in-process.
 */
export function sshdConfig(lab: string, h: HostSpec): string {
  const d = hostSshDir(lab, h.name);
  return [
    '# Vard lab: sshd of one lab host. Written by Vard; do not edit.',
    `ListenAddress ${h.privateAddress}:${SSH_PORT}`,
    `HostKey ${d}/ssh_host_ed25519_key`,
    `AuthorizedKeysFile ${d}/authorized_keys`,
    // The host's own /run, which every boot empties: a revived host's sshd starts clean.
    'PidFile /run/sshd.pid',
    'PermitRootLogin prohibit-password',
    `AllowUsers ${SSH_USER}`,
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'UseDNS no',
    'X11Forwarding no',
    'AllowTcpForwarding no',
    'PrintMotd no',
    'Subsystem sftp internal-sftp',
    'LogLevel VERBOSE',
    '',
  ].join('\n');
}

async function keygen(path: string, comment: string): Promise<string> {
  mkdirSync(join(path, '..'), { recursive: true });
  await execArgv('root', ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path], { timeoutMs: 30_000 });
  chmodSync(path, 0o600);
  return readFileSync(`${path}.pub`, 'utf8');
}

/**
 * Generates the lab's client key and every host's host key, and writes each host's sshd
 * configuration and authorized_keys. Returns the pinned fingerprints (what `vard host trust`
 * would record for a real server, known here because the lab made the keys).
 */
export async function prepareSsh(lab: string, hosts: readonly HostSpec[]): Promise<Record<string, string>> {
  mkdirSync(sshDir(lab), { recursive: true, mode: 0o700 });
  const clientPub = await keygen(clientKeyPath(lab), `vard-lab-${lab}`);
  const keys = await Promise.all(
    hosts.map(async (h) => {
      const d = hostSshDir(lab, h.name);
      mkdirSync(d, { recursive: true, mode: 0o700 });
      const pub = await keygen(join(d, 'ssh_host_ed25519_key'), `${h.name}.vard-lab-${lab}`);
      writeFileSync(join(d, 'authorized_keys'), clientPub, { mode: 0o600 });
      writeFileSync(sshdConfigPath(lab, h.name), sshdConfig(lab, h), { mode: 0o600 });
      return [h.name, fingerprintOfPublicKey(pub)] as const;
    }),
  );
  return Object.fromEntries(keys);
}

/**
 * The ProxyCommand: a byte pipe from the bastion (the switch namespace, on the private segment)
 * to the host's sshd. `nsenter --net` enters the network namespace only, and not the host's.
 * `nodelay`: without it every command waited ~40 ms for a delayed ACK (Nagle), 9 ms with it.
 */
export function proxyArgv(lab: string, address: string): string[] {
  return ['nsenter', `--net=/run/netns/${switchNs(lab)}`, '--', 'socat', 'STDIO', `TCP:${address}:${SSH_PORT},nodelay`];
}

/** How Vard logs in to a lab host in SSH mode. */
export function sshTargetOf(lab: string, h: HostSpec, rec: LabSshRecord): SshTarget {
  const pin = rec.hostKeys[h.name];
  if (!pin) throw vardError('VARD_ERR_INTERNAL', [`lab ${lab} has no pinned host key for ${h.name}`]);
  return {
    name: h.name,
    host: h.privateAddress,
    port: SSH_PORT,
    username: SSH_USER,
    privateKey: readFileSync(clientKeyPath(lab)),
    hostKeySha256: pin,
    proxyArgv: proxyArgv(lab, h.privateAddress),
    readyTimeoutMs: 15_000,
    // The drills kill hosts on purpose and watch what notices: a dead host within ~3 s.
    keepaliveIntervalMs: 1_000,
  };
}

/** The sshd started for this lab host, by its configuration path in its command line. */
export function isSshdOf(argv: readonly string[], lab: string, host: string): boolean {
  return (argv[0] === SSHD || argv[0]?.startsWith('sshd:') === true) && argv.join(' ').includes(sshdConfigPath(lab, host));
}

/**
 * sshd's PID as root sees it: a child of the host's init (it was orphaned by the launcher, and
 * a PID namespace's init adopts its orphans).
 */
export function findSshd(lab: string, host: string, initPid: number): number | undefined {
  return childrenOf(initPid).find((p) => {
    const argv = readCmdline(p);
    return argv !== undefined && isSshdOf(argv, lab, host);
  });
}

/** Whether `pid` is still this lab host's sshd. */
export function sshdAlive(lab: string, host: string, pid: number): boolean {
  const argv = readCmdline(pid);
  return argv !== undefined && isSshdOf(argv, lab, host);
}

/** sshd's identification line read through the bastion, as the client will reach it. */
function banner(lab: string, address: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const [file, ...args] = proxyArgv(lab, address) as [string, ...string[]];
    const c = spawn(file, args, { stdio: ['pipe', 'pipe', 'ignore'] });
    let buf = '';
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), ms);
    c.stdout.on('data', (b: Buffer) => {
      buf += b.toString('latin1');
      if (buf.includes('\n')) finish(buf.startsWith('SSH-2.0-'));
    });
    c.on('close', () => finish(buf.startsWith('SSH-2.0-')));
    c.on('error', () => finish(false));
  });
}

/**
 * Launches sshd in the foreground under the host's init, detached from the launcher (it is a lab
 * process like the init: it dies with the host and is started again by `labRevive`). It is
 * launched through the lab's own way onto the host (`plumbing`, namespace entry), like the init.
 */
const LAUNCH = `mkdir -p /run/sshd && chmod 0755 /run/sshd && setsid "$1" -D -f "$2" -E "$3" </dev/null >/dev/null 2>&1 &`;

/**
 * Starts sshd on a lab host and waits until it answers through the bastion (a real protocol
 * check, polled against a deadline, failing fast if sshd died). Returns its root-namespace PID.
 * @throws VARD_ERR_LAB_HOST_FAILED
 */
export async function startSshd(lab: string, h: HostSpec, initPid: number, plumbing: Host, timeoutMs = 15_000): Promise<number> {
  const log = join(hostDir(lab, h.name), 'log', 'sshd.log');
  const started = Date.now();
  await plumbing.run(['sh', '-c', LAUNCH, 'vard-lab-sshd', SSHD, sshdConfigPath(lab, h.name), log], { timeoutMs: 10_000 });
  const why = (): string => {
    try {
      return readFileSync(log, 'utf8').slice(-1500).trim() || '(empty log)';
    } catch {
      return '(no log)';
    }
  };
  let seen = false;
  for (;;) {
    const pid = findSshd(lab, h.name, initPid);
    if (pid !== undefined) {
      seen = true;
      if (await banner(lab, h.privateAddress, 1_000)) return pid;
    } else if (seen || Date.now() - started > 3_000) {
      // Gone after it ran, or never became sshd (the launcher execs at once): it died at start.
      throw vardError('VARD_ERR_LAB_HOST_FAILED', [h.name, `sshd exited at start: ${why()}`], { details: { log } });
    }
    if (Date.now() - started > timeoutMs) {
      throw vardError('VARD_ERR_LAB_HOST_FAILED', [h.name, `sshd not answering on ${h.privateAddress}:${SSH_PORT} after ${timeoutMs} ms: ${why()}`], { details: { log } });
    }
    await sleep(25);
  }
}
