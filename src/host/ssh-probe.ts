import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Duplex } from 'node:stream';
import { Client, type ConnectConfig } from 'ssh2';
import { vardError } from '../errors/index.ts';

/** Where to ask for a host key: the same fields as an `SshTarget`, minus any credential. */
export interface ProbeTarget {
  readonly name: string;
  readonly host: string;
  /** @default 22 */
  readonly port?: number;
  /** Like `SshTarget.proxyArgv`: a command whose stdin/stdout is the transport. */
  readonly proxyArgv?: readonly string[];
  /** @default 15000 */
  readonly timeoutMs?: number;
}

export interface OfferedKey {
  /** `SHA256:<base64 without padding>`, as `ssh-keygen -lf` prints it and `sshHost` pins it. */
  readonly sha256: string;
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`… */
  readonly keyType: string;
}

/** The algorithm name at the head of an SSH public key blob (RFC 4253 §6.6: a string, then the key). */
function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return n > 0 && n < 64 && blob.length >= 4 + n ? blob.subarray(4, 4 + n).toString('latin1') : 'unknown';
}

/**
 * The host key a server offers, for the operator to compare before it is pinned (`vard host
 * trust`). The handshake is aborted at the key: the verifier always answers no, so nothing is
 * authenticated, sent or run. The key is the one `sshHost` will negotiate later (ssh2's same
 * preference order: ed25519, then ECDSA, then RSA), so the pin matches the real connection.
 *
 * @throws VARD_ERR_SSH_CONNECT when no key arrives (unreachable, not SSH, proxy failed).
 */
export function probeHostKey(t: ProbeTarget): Promise<OfferedKey> {
  const target = `${t.host}:${t.port ?? 22}`;
  return new Promise<OfferedKey>((resolve, reject) => {
    const client = new Client();
    let offered: OfferedKey | undefined;
    let proxy: ChildProcess | undefined;
    let proxyErr = '';
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      if (proxy && proxy.exitCode === null && proxy.signalCode === null) proxy.kill('SIGTERM');
      if (offered) resolve(offered);
      else {
        const tail = proxyErr.trim() ? ` (proxy: ${proxyErr.trim().slice(-500)})` : '';
        reject(vardError('VARD_ERR_SSH_CONNECT', [`${t.name} (${target})`, `${why}${tail}`], { details: { host: t.name, target } }));
      }
    };
    let why = 'no host key was offered';
    let sock: Duplex | undefined;
    if (t.proxyArgv) {
      const [file, ...args] = t.proxyArgv as readonly [string, ...string[]];
      const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      proxy = child;
      child.stderr.on('data', (b: Buffer) => (proxyErr = (proxyErr + b.toString('utf8')).slice(-2000)));
      child.on('error', (e) => {
        why = `cannot start proxy ${JSON.stringify(t.proxyArgv)}: ${e.message}`;
        client.end();
        finish();
      });
      sock = Duplex.from({ readable: child.stdout, writable: child.stdin });
    }
    client.on('error', (e: Error) => {
      if (!offered) why = e.message;
      // A dying proxy explains itself on stderr a moment after the stream ends.
      setTimeout(finish, offered || !proxy ? 0 : 300);
    });
    client.on('close', () => setTimeout(finish, offered || !proxy ? 0 : 300));
    client.on('ready', () => {
      // Unreachable: the verifier refuses every key. Never leave a session open if it happens.
      client.end();
      finish();
    });
    const cfg: ConnectConfig = {
      host: t.host,
      port: t.port ?? 22,
      username: 'vard-probe',
      readyTimeout: t.timeoutMs ?? 15_000,
      tryKeyboard: false,
      hostVerifier: (key: Buffer): boolean => {
        offered = { sha256: `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`, keyType: keyTypeOf(key) };
        return false;
      },
      ...(sock ? { sock } : {}),
    };
    try {
      client.connect(cfg);
    } catch (e) {
      why = (e as Error).message;
      finish();
    }
  });
}
