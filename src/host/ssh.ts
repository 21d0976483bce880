import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig, type SFTPWrapper, type Stats } from 'ssh2';
import { isVardError, vardError, type VardError } from '../errors/index.ts';
import { redact } from './exec.ts';
import type { Host, RunOptions, RunResult, WriteOptions } from './types.ts';

/** A real server reached over SSH, with its host key pinned. */
export interface SshTarget {
  /** The host's name in the topology (used in errors). */
  readonly name: string;
  /** Address or DNS name; with `proxyArgv` only informational. */
  readonly host: string;
  /** @default 22 */
  readonly port?: number;
  readonly username: string;
  readonly privateKey: string | Buffer;
  /**
   * `SHA256:<base64 without padding>`, exactly as `ssh-keygen -lf <host key>.pub` prints it. Pin
   * the key the client negotiates: ssh2 prefers ed25519, then ECDSA, then RSA, among those the
   * server offers.
   */
  readonly hostKeySha256: string;
  /**
   * Like OpenSSH's ProxyCommand: spawn this argv and use its stdin/stdout as the transport
   * (e.g. `['ip','netns','exec',ns,'socat','STDIO','TCP:addr:22']`, or an `ssh -W` bastion).
   */
  readonly proxyArgv?: readonly string[];
  /** Handshake and authentication must finish within this many milliseconds. @default 20000 */
  readonly readyTimeoutMs?: number;
  /**
   * A keepalive every this many milliseconds; three unanswered close the connection, and what ran
   * on it fails with VARD_ERR_HOST_DOWN. A dead server sends no reset: this is how it is noticed.
   * @default 5000
   */
  readonly keepaliveIntervalMs?: number;
}

/** SFTP status codes we branch on (draft-ietf-secsh-filexfer-02 §7; what OpenSSH's sftp-server sends). */
const FX_NO_SUCH_FILE = 2;
const FX_FAILURE = 4;
const FX_BAD_MESSAGE = 5;

/**
 * OpenSSH allows MaxSessions (default 10) channels per connection; one is the SFTP session, and
 * opening beyond the limit fails instead of queueing, so exec channels queue here.
 */
const MAX_EXEC_CHANNELS = 8;
const KEEPALIVE_INTERVAL_MS = 5_000;
const KEEPALIVE_COUNT_MAX = 3;
const DEFAULT_READY_TIMEOUT_MS = 20_000;
const DEFAULT_RUN_TIMEOUT_MS = 60_000;
/**
 * The host enforces the deadline itself (see `run`); our own timer is a backstop for a host or
 * network that stopped answering, this much later, and then waits this long again for the close.
 */
const BACKSTOP_MS = 5_000;

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Quotes an argv for the remote user's POSIX shell (sshd always runs `$SHELL -c <string>`, so an
 * argv cannot cross SSH without becoming a string once). Every word is wrapped in single quotes,
 * inside which no character is special; a single quote itself becomes `'\''` (close, escaped
 * quote, reopen). Nothing is left bare, so there is no "safe character" list to get wrong.
 *
 * @throws VARD_ERR_INTERNAL for a NUL byte, which no shell word (and no exec argv) can carry.
 * @example quoteArgv(['printf', '%s', "it's"]) === `'printf' '%s' 'it'\\''s'`
 */
export function quoteArgv(argv: readonly string[]): string {
  return argv
    .map((word) => {
      if (word.includes('\0')) throw vardError('VARD_ERR_INTERNAL', ['an argv word contains a NUL byte']);
      return `'${word.replaceAll("'", `'\\''`)}'`;
    })
    .join(' ');
}

/** ssh-keygen's fingerprint of a raw public key blob: SHA-256, base64, no padding. */
function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function sftpCode(e: unknown): number | undefined {
  if (isVardError(e, 'VARD_ERR_SSH_SFTP')) {
    const c = e.details?.['sftpCode'];
    return typeof c === 'number' ? c : undefined;
  }
  return undefined;
}

/** A counting semaphore: at most `n` holders, the rest wait in order. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(n: number) {
    this.free = n;
  }
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** One exec channel and what it delivered, recorded from the moment it opened. */
interface Exec {
  readonly ch: ClientChannel;
  readonly out: Buffer[];
  readonly err: Buffer[];
  exit?: { readonly code: number | null; readonly signal?: string };
  closed: boolean;
  onClose?: () => void;
}

/** One established connection; replaced as a whole when it drops. */
interface Conn {
  readonly client: Client;
  sftp: Promise<SFTPWrapper> | undefined;
  /** The transport is gone (keepalive unanswered, reset, proxy exit). */
  closed: boolean;
}

class SshHost implements Host {
  readonly name: string;
  private readonly t: SshTarget;
  private readonly pinned: string;
  private conn: Promise<Conn> | undefined;
  /** The connection `conn` resolved to, so a late 'close' of an old one cannot evict a new one. */
  private live: Conn | undefined;
  private readonly slots = new Slots(MAX_EXEC_CHANNELS);

  constructor(t: SshTarget) {
    this.name = t.name;
    this.t = t;
    // Refuse a malformed pin up front: an empty or garbled pin must never become "accept anything".
    if (!FINGERPRINT.test(t.hostKeySha256)) {
      throw vardError('VARD_ERR_USAGE', [
        `sshHost(${t.name}): hostKeySha256 must look like SHA256:<43 base64 characters> (ssh-keygen -lf), got ${JSON.stringify(t.hostKeySha256)}`,
      ]);
    }
    this.pinned = t.hostKeySha256.replace(/=+$/, '');
    if (t.proxyArgv !== undefined && t.proxyArgv.length === 0) {
      throw vardError('VARD_ERR_USAGE', [`sshHost(${t.name}): proxyArgv is empty`]);
    }
  }

  // ---------------------------------------------------------------- connection

  /** The shared connection, opened on first use and again after it drops. */
  private connection(): Promise<Conn> {
    if (!this.conn) {
      const p = this.open();
      this.conn = p;
      // A failed attempt must not stick: the next call tries afresh.
      p.catch(() => {
        if (this.conn === p) this.conn = undefined;
      });
    }
    return this.conn;
  }

  private open(): Promise<Conn> {
    const t = this.t;
    const target = `${t.username}@${t.host}:${t.port ?? 22}`;
    return new Promise<Conn>((resolve, reject) => {
      const client = new Client();
      let ready = false;
      let presented: string | undefined;
      let refused = false;
      let proxy: ChildProcess | undefined;
      let proxyErr = '';
      let proxyUnstartable = false;
      let settled = false;
      const conn: Conn = { client, sftp: undefined, closed: false };

      let proxyClosed: Promise<void> = Promise.resolve();

      const fail = (make: () => VardError): void => {
        if (settled) return;
        settled = true;
        // A dying proxy explains the failure on its stderr (socat: "Connection refused"), and
        // that may arrive just after ssh2 reports the lost stream: wait briefly for it.
        let timer: NodeJS.Timeout | undefined;
        void Promise.race([proxyClosed, new Promise<void>((r) => (timer = setTimeout(r, 1_000)))]).then(() => {
          clearTimeout(timer);
          reject(make());
        });
      };
      const connectError = (why: string, cause?: unknown): VardError => {
        const tail = proxyErr.trim() ? ` (proxy: ${proxyErr.trim().slice(-500)})` : '';
        const details = { host: t.name, target, ...(proxyErr.trim() ? { proxyStderr: proxyErr.trim().slice(-2000) } : {}) };
        const err = vardError('VARD_ERR_SSH_CONNECT', [`${t.name} (${target})`, `${why}${tail}`], { ...(cause === undefined ? {} : { cause }), details });
        // No sshd got as far as showing its host key (refused, no route, silence until the
        // deadline): from here the machine is down, as a powered-off lab host is to the netns
        // transport, and callers that carry on without a down host (observe, status, the db
        // tier's probes) must see the same code. A proxy that could not even start is our fault.
        if (presented === undefined && !proxyUnstartable) {
          return vardError('VARD_ERR_HOST_DOWN', [`${t.name} (no sshd answering at ${target}: ${why}${tail})`], { cause: err, details });
        }
        return err;
      };
      const stopProxy = (): void => {
        // Only the child we spawned, by its own handle; it is usually gone already once stdin closes.
        if (proxy && proxy.exitCode === null && proxy.signalCode === null) proxy.kill('SIGTERM');
      };

      let sock: Duplex | undefined;
      if (t.proxyArgv) {
        const [file, ...args] = t.proxyArgv as readonly [string, ...string[]];
        const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        proxy = child;
        proxyClosed = new Promise<void>((r) => child.once('close', () => r()));
        child.stderr.on('data', (b: Buffer) => {
          proxyErr = (proxyErr + b.toString('utf8')).slice(-2000);
        });
        child.on('error', (e) => {
          proxyUnstartable = true;
          fail(() => connectError(`cannot start proxy ${JSON.stringify(t.proxyArgv)}: ${e.message}`, e));
          client.end();
        });
        // The proxy's stdout/stdin, seen by ssh2 as one already-connected socket.
        sock = Duplex.from({ readable: child.stdout, writable: child.stdin });
      }

      client.on('ready', () => {
        ready = true;
        settled = true;
        // Commands are short request/answer exchanges of small packets: with Nagle's algorithm each
        // waited out the peer's delayed ACK (~40 ms a command, measured). A proxy sets its own
        // (the lab's socat: `nodelay`).
        client.setNoDelay(true);
        this.live = conn;
        resolve(conn);
      });
      client.on('error', (e: Error & { level?: string }) => {
        if (refused) {
          fail(() =>
            vardError('VARD_ERR_SSH_HOSTKEY_MISMATCH', [t.name, this.pinned, presented ?? '(none)'], {
              cause: e,
              details: { host: t.name, target, expected: this.pinned, got: presented },
            }),
          );
        } else if (!ready) {
          fail(() => connectError(e.message, e));
        }
        // After `ready`, errors (keepalive timeout, reset) are followed by 'close', handled below.
      });
      client.on('close', () => {
        conn.closed = true;
        stopProxy();
        // Forget this connection so the next call reconnects; in-flight channels fail on their own.
        if (this.live === conn) {
          this.live = undefined;
          this.conn = undefined;
        }
        if (!ready) fail(() => connectError('connection closed during handshake'));
      });

      const cfg: ConnectConfig = {
        host: t.host,
        port: t.port ?? 22,
        username: t.username,
        privateKey: t.privateKey,
        readyTimeout: t.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
        keepaliveInterval: t.keepaliveIntervalMs ?? KEEPALIVE_INTERVAL_MS,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        // Never auto-accept: without hostHash, ssh2 hands us the raw key blob, which we hash exactly
        // as ssh-keygen does and compare with the pin. Returning false aborts before authentication.
        hostVerifier: (key: Buffer): boolean => {
          presented = fingerprintOf(key);
          const ok = presented === this.pinned;
          if (!ok) refused = true;
          return ok;
        },
        // Password and keyboard-interactive stay off: a key is the only way in.
        tryKeyboard: false,
        ...(sock ? { sock } : {}),
      };
      try {
        client.connect(cfg);
      } catch (e) {
        stopProxy();
        fail(() => connectError((e as Error).message, e));
      }
    });
  }

  /**
   * Opens a channel on the shared connection. When that connection turns out to be dead (the
   * server rebooted: its reset arrives with our open request), nothing ran on it, so the channel
   * is opened once more on a fresh connection instead of failing the caller.
   */
  private async onLive<T>(open: (conn: Conn) => Promise<T>): Promise<{ conn: Conn; value: T }> {
    const conn = await this.connection();
    try {
      return { conn, value: await open(conn) };
    } catch (e) {
      if (!conn.closed) throw e;
      const fresh = await this.connection();
      return { conn: fresh, value: await open(fresh) };
    }
  }

  private async sftp(): Promise<{ conn: Conn; value: SFTPWrapper }> {
    return this.onLive((conn) => this.sftpOn(conn));
  }

  private sftpOn(conn: Conn): Promise<SFTPWrapper> {
    if (!conn.sftp) {
      const p = new Promise<SFTPWrapper>((resolve, reject) => {
        conn.client.sftp((err, s) => {
          if (err) reject(vardError('VARD_ERR_SSH_SFTP', [this.name, 'subsystem', 'start', err.message], { cause: err }));
          else {
            s.on('close', () => {
              if (conn.sftp === p) conn.sftp = undefined;
            });
            resolve(s);
          }
        });
      });
      conn.sftp = p;
      p.catch(() => {
        if (conn.sftp === p) conn.sftp = undefined;
      });
    }
    return conn.sftp;
  }

  /** Wraps one SFTP request; failures become VARD_ERR_SSH_SFTP with the SFTP status in `details.sftpCode`. */
  /**
   * What failed because the connection itself dropped is the host going down, as a powered-off
   * lab host is to the netns transport: callers that carry on without a down host see one code.
   */
  private downIfDropped(conn: Conn, e: unknown): unknown {
    if (!conn.closed || isVardError(e, 'VARD_ERR_COMMAND_FAILED')) return e;
    return vardError('VARD_ERR_HOST_DOWN', [`${this.name} (the SSH connection dropped: ${(e as Error).message})`], { cause: e });
  }

  private async call<T>(op: string, path: string, f: (s: SFTPWrapper, cb: (err: Error | null | undefined, v?: T) => void) => void): Promise<T> {
    const { conn, value: s } = await this.sftp();
    return new Promise<T>((resolve, reject) => {
      const cb = (err: Error | null | undefined, v?: T): void => {
        if (err) {
          const code = (err as Error & { code?: unknown }).code;
          if (conn.closed) {
            reject(this.downIfDropped(conn, err));
            return;
          }
          reject(
            vardError('VARD_ERR_SSH_SFTP', [this.name, op, path, err.message], {
              cause: err,
              details: { host: this.name, op, path, sftpCode: typeof code === 'number' ? code : undefined },
            }),
          );
        } else resolve(v as T);
      };
      try {
        f(s, cb);
      } catch (e) {
        // ssh2 throws synchronously, e.g. for an extension the server did not announce.
        cb(e as Error);
      }
    });
  }

  // ---------------------------------------------------------------- commands

  async run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    if (argv.length === 0) throw vardError('VARD_ERR_INTERNAL', ['empty argv']);
    const envWords: string[] = [];
    for (const [k, v] of Object.entries(opts.env ?? {})) {
      if (!ENV_NAME.test(k)) throw vardError('VARD_ERR_INTERNAL', [`invalid environment variable name ${JSON.stringify(k)}`]);
      envWords.push(`${k}=${v}`);
    }
    // Clamped like setTimeout does; `timeout 0` would mean "no limit".
    const timeoutMs = Math.min(Math.max(opts.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS, 1), 2_147_483_647);
    // The deadline is enforced on the host by coreutils `timeout -s KILL` (it signals its whole
    // process group, so children die too, and it holds even if this connection is lost). sshd
    // cannot do it for us: it refuses "signal" channel requests for root logins, which run
    // without post-auth privilege separation. `exec` replaces the login shell, and `timeout`
    // execs argv[0] itself, so no shell builtin, alias or function stands in for the program, just
    // as with spawn() locally. sshd ignores env requests unless AcceptEnv allows them, so
    // variables travel as `env K=V argv…`.
    const words = ['timeout', '-s', 'KILL', (timeoutMs / 1000).toFixed(3), ...(envWords.length > 0 ? ['env', ...envWords] : []), ...argv];
    const command = `exec ${quoteArgv(words)}`;
    const started = Date.now();
    await this.slots.acquire();
    let conn: Conn | undefined;
    try {
      const open = await this.onLive((c) => this.openExec(c, command));
      conn = open.conn;
      return await this.collect(open.value, argv, opts, timeoutMs, started);
    } catch (e) {
      throw conn ? this.downIfDropped(conn, e) : e;
    } finally {
      this.slots.release();
    }
  }

  /**
   * Opens an exec channel. sshd refuses channels beyond MaxSessions ("open failed") instead of
   * queueing them; our own pool stays below the default, but other sessions on the same
   * connection can still fill it for a moment, so a refusal is retried briefly.
   */
  private async openExec(conn: Conn, command: string): Promise<Exec> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await new Promise<Exec>((resolve, reject) => {
          conn.client.exec(command, (err, ch) => {
            if (err) {
              reject(err);
              return;
            }
            // Listen before anything else runs: a quick command's output, exit status and close
            // can arrive in the same read as the channel's confirmation, and ssh2 emits them at
            // once; a listener added after an await missed the exit ("closed before it exited").
            const x: Exec = { ch, out: [], err: [], closed: false };
            ch.on('data', (b: Buffer) => x.out.push(b));
            ch.stderr.on('data', (b: Buffer) => x.err.push(b));
            ch.on('exit', (code: number | null, signal?: string) => {
              x.exit = { code, ...(signal ? { signal } : {}) }; // ssh2 already prefixes it: 'SIGKILL'
            });
            ch.on('close', () => {
              x.closed = true;
              x.onClose?.();
            });
            resolve(x);
          });
        });
      } catch (e) {
        const refused = /open failed/i.test((e as Error).message);
        if (!refused || attempt >= 5) {
          throw vardError('VARD_ERR_SSH_CONNECT', [this.name, `cannot open a channel: ${(e as Error).message}`], { cause: e });
        }
        await new Promise((r) => setTimeout(r, 50 * 2 ** attempt));
      }
    }
  }

  private collect(x: Exec, argv: readonly string[], opts: RunOptions, timeoutMs: number, started: number): Promise<RunResult> {
    const chanStart = Date.now();
    const { ch, out, err } = x;
    return new Promise<RunResult>((resolve, reject) => {
      let abandoned = false;
      let done = false;
      let grace: NodeJS.Timeout | undefined;

      // Backstop only: normally the host's `timeout` has killed the command long before.
      const backstop = setTimeout(() => {
        abandoned = true;
        ch.close();
        grace = setTimeout(finish, BACKSTOP_MS);
      }, timeoutMs + BACKSTOP_MS);

      const finalize = (): void => {
        const code = x.exit?.code ?? null;
        const signal = x.exit?.signal;
        if (!x.exit && !abandoned) {
          reject(vardError('VARD_ERR_SSH_CONNECT', [this.name, `the channel closed before \`${redact(argv.join(' '))}\` exited`]));
          return;
        }
        // Same mapping as execArgv: a signal death reports 128.
        const res: RunResult = {
          exitCode: code ?? (signal || abandoned ? 128 : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
          durationMs: Date.now() - started,
        };
        if (res.exitCode !== 0 && !opts.allowFail) {
          const timedOut = abandoned || (signal === 'SIGKILL' && Date.now() - chanStart >= timeoutMs);
          const killed = abandoned
            ? `no answer from the host within ${timeoutMs} ms; channel abandoned`
            : timedOut
              ? `killed by SIGKILL after the ${timeoutMs} ms timeout`
              : signal
                ? `killed by ${signal}`
                : '';
          const why = (res.stderr.trim() || res.stdout.trim() || killed).slice(-2000);
          reject(
            vardError('VARD_ERR_COMMAND_FAILED', [this.name, redact(argv.join(' ')), res.exitCode, redact(why)], {
              details: { host: this.name, argv: argv.map(redact), exitCode: res.exitCode, stderr: redact(res.stderr.slice(-4000)) },
            }),
          );
        } else resolve(res);
      };
      function finish(): void {
        if (done) return;
        done = true;
        clearTimeout(backstop);
        if (grace) clearTimeout(grace);
        finalize();
      }
      if (x.closed) queueMicrotask(finish);
      else x.onClose = finish;

      // Always end stdin, so a command that reads it sees EOF instead of waiting forever.
      if (x.closed) return;
      if (opts.input !== undefined) ch.end(opts.input);
      else ch.end();
    });
  }

  // ---------------------------------------------------------------- files

  private abs(path: string): string {
    if (!path.startsWith('/')) throw new Error(`host paths must be absolute: ${path}`);
    return path;
  }

  private lstat(path: string): Promise<Stats | undefined> {
    return this.call<Stats>('lstat', path, (s, cb) => s.lstat(path, cb)).catch((e: unknown) => {
      if (sftpCode(e) === FX_NO_SUCH_FILE) return undefined;
      throw e;
    });
  }

  private posixRename(from: string, to: string): Promise<void> {
    // Plain SFTP rename refuses to replace an existing target (OpenSSH implements it with link()),
    // so the atomic replace needs the posix-rename@openssh.com extension: rename(2) on the server.
    return this.call<void>('rename', `${from} -> ${to}`, (s, cb) => s.ext_openssh_rename(from, to, cb));
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    this.abs(path);
    try {
      return await this.call<Buffer>('read', path, (s, cb) => s.readFile(path, cb));
    } catch (e) {
      if (sftpCode(e) === FX_NO_SUCH_FILE) return undefined;
      throw e;
    }
  }

  async writeFile(path: string, data: string | Buffer, opts: WriteOptions = {}): Promise<void> {
    this.abs(path);
    await this.mkdir(posix.dirname(path));
    const tmp = `${path}.vard-tmp-${randomBytes(4).toString('hex')}`;
    const mode = opts.mode ?? 0o644;
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let created = false;
    try {
      // 'wx': O_CREAT|O_EXCL, so a stray file (or a planted symlink) at the temp name is never followed.
      const handle = await this.call<Buffer>('open', tmp, (s, cb) => s.open(tmp, 'wx', { mode }, cb));
      created = true;
      try {
        await this.call<number>('write', tmp, (s, cb) => s.write(handle, buf, 0, buf.length, 0, cb));
        // The server's umask applied to open(); fchmod sets the mode the caller asked for.
        await this.call<void>('chmod', tmp, (s, cb) => s.fchmod(handle, mode, cb));
        // Data on disk before the rename makes it visible, where the server offers fsync@openssh.com.
        // ssh2 throws (no SFTP status) when the extension is missing: tolerated, unlike a failed fsync.
        await this.call<unknown>('fsync', tmp, (s, cb) => s.ext_openssh_fsync(handle, cb)).catch((e: unknown) => {
          if (sftpCode(e) !== undefined) throw e;
        });
      } finally {
        await this.call<void>('close', tmp, (s, cb) => s.close(handle, cb)).catch(() => undefined);
      }
      await this.posixRename(tmp, path);
      created = false;
    } finally {
      if (created) await this.call<void>('unlink', tmp, (s, cb) => s.unlink(tmp, cb)).catch(() => undefined);
    }
  }

  async rename(from: string, to: string): Promise<void> {
    await this.posixRename(this.abs(from), this.abs(to));
  }

  async symlink(target: string, path: string): Promise<void> {
    this.abs(path);
    await this.mkdir(posix.dirname(path));
    const tmp = `${path}.vard-tmp-${randomBytes(4).toString('hex')}`;
    // ssh2 swaps the arguments for OpenSSH, whose SSH_FXP_SYMLINK has them reversed.
    await this.call<void>('symlink', tmp, (s, cb) => s.symlink(target, tmp, cb));
    try {
      await this.posixRename(tmp, path);
    } catch (e) {
      await this.call<void>('unlink', tmp, (s, cb) => s.unlink(tmp, cb)).catch(() => undefined);
      throw e;
    }
  }

  async readlink(path: string): Promise<string | undefined> {
    this.abs(path);
    try {
      return await this.call<string>('readlink', path, (s, cb) => s.readlink(path, cb));
    } catch (e) {
      const code = sftpCode(e);
      if (code === FX_NO_SUCH_FILE) return undefined;
      // readlink(2) on a non-link gives EINVAL, which sftp-server reports as BAD_MESSAGE (older
      // servers: FAILURE); only a path that exists and is not a link means "no link here".
      if (code === FX_BAD_MESSAGE || code === FX_FAILURE) {
        const st = await this.lstat(path);
        if (st === undefined || !st.isSymbolicLink()) return undefined;
      }
      throw e;
    }
  }

  /** Like the local transport, but only "no such file" is false: a failing connection throws. */
  async exists(path: string): Promise<boolean> {
    // lstat, like the local transport: a dangling symlink exists.
    return (await this.lstat(this.abs(path))) !== undefined;
  }

  async mkdir(path: string, opts: { mode?: number } = {}): Promise<void> {
    this.abs(path);
    const st = await this.lstat(path);
    if (st?.isDirectory()) return;
    if (st?.isSymbolicLink()) {
      // mkdir -p follows a symlink to a directory; so do we.
      const real = await this.call<Stats>('stat', path, (s, cb) => s.stat(path, cb)).catch(() => undefined);
      if (real?.isDirectory()) return;
    }
    const parent = posix.dirname(path);
    if (parent !== path) await this.mkdir(parent, opts);
    try {
      const attrs = opts.mode === undefined ? {} : { mode: opts.mode };
      await this.call<void>('mkdir', path, (s, cb) => s.mkdir(path, attrs, cb));
    } catch (e) {
      // Another writer may have created it meanwhile; only a directory counts.
      const again = await this.call<Stats>('stat', path, (s, cb) => s.stat(path, cb)).catch(() => undefined);
      if (!again?.isDirectory()) throw e;
    }
  }

  async list(path: string): Promise<string[]> {
    this.abs(path);
    try {
      const entries = await this.call<{ filename: string }[]>('readdir', path, (s, cb) => s.readdir(path, cb));
      // ssh2 already drops '.' and '..'; sort by code unit, as Array#sort does for the local transport.
      return entries.map((e) => e.filename).sort();
    } catch (e) {
      if (sftpCode(e) === FX_NO_SUCH_FILE) return [];
      throw e;
    }
  }

  async remove(path: string, opts: { recursive?: boolean } = {}): Promise<void> {
    this.abs(path);
    const st = await this.lstat(path);
    if (st === undefined) return; // like rm -f
    if (!st.isDirectory()) {
      await this.call<void>('unlink', path, (s, cb) => s.unlink(path, cb));
      return;
    }
    if (!opts.recursive) {
      // The local transport (fs.rm without recursive) refuses directories too, even empty ones.
      throw vardError('VARD_ERR_SSH_SFTP', [this.name, 'remove', path, 'is a directory (pass recursive)'], {
        details: { host: this.name, op: 'remove', path },
      });
    }
    const names = await this.list(path);
    // Children in bounded parallel batches: SFTP pipelines requests, but not without limit.
    for (let i = 0; i < names.length; i += 16) {
      await Promise.all(names.slice(i, i + 16).map((n) => this.remove(posix.join(path, n), { recursive: true })));
    }
    await this.call<void>('rmdir', path, (s, cb) => s.rmdir(path, cb));
  }

  async close(): Promise<void> {
    const p = this.conn;
    this.conn = undefined;
    this.live = undefined;
    if (!p) return;
    const conn = await p.catch(() => undefined);
    if (!conn) return;
    await new Promise<void>((resolve) => {
      // 'close' normally follows at once; never let close() hang on a dead peer.
      const timer = setTimeout(resolve, 2_000);
      conn.client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      conn.client.end();
    });
  }
}

/**
 * A real server over SSH (production). One connection per host, opened on first use; the host
 * key must match the pinned SHA-256 fingerprint or nothing is sent (VARD_ERR_SSH_HOSTKEY_MISMATCH).
 * Commands run through `quoteArgv`; files go through SFTP with atomic replace.
 */
export function sshHost(t: SshTarget): Host {
  return new SshHost(t);
}
