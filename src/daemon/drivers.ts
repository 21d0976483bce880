import { vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import { livePid, logTail, signal, spawnDaemon, waitFor, pidfileOf } from './process.ts';

/**
 * One driver per daemon. Contract: `check` runs the daemon's own checker on a staged set and
 * throws VARD_ERR_CONFIG_REJECTED without touching the running daemon; `reload` is graceful
 * (running requests finish); `ready` polls a real protocol check until a deadline and fails fast
 * if the process died. `dir` is a version directory; the daemon itself always runs from
 * `current`, so a swap of that link plus a reload switches it.
 */
export interface DaemonDriver {
  readonly name: string;
  /** Directories and kernel settings the daemon needs before its first start. */
  prepare(host: Host): Promise<void>;
  check(host: Host, dir: string): Promise<void>;
  running(host: Host): Promise<boolean>;
  start(host: Host): Promise<void>;
  reload(host: Host, dir: string): Promise<void>;
  ready(host: Host): Promise<void>;
  stop(host: Host): Promise<void>;
}

export async function rejectOn(host: Host, daemon: string, argv: readonly string[], okText?: RegExp): Promise<void> {
  const r = await host.run(argv, { allowFail: true, timeoutMs: 60_000 });
  const text = `${r.stderr}\n${r.stdout}`.trim();
  if (r.exitCode !== 0 || (okText && !okText.test(text))) {
    throw vardError('VARD_ERR_CONFIG_REJECTED', [daemon, host.name, text.slice(-3000)], { details: { argv, exitCode: r.exitCode } });
  }
}

/** Shared shape of a supervised foreground daemon: spawn from `current`, signal its master to reload. */
export function supervised(o: {
  name: string;
  binary: string | readonly string[];
  dirs: string[];
  argv: () => string[];
  checkArgv: (dir: string) => string[];
  checkOk?: RegExp;
  reloadSignal: string;
  probe: (host: Host) => Promise<boolean>;
  readyTimeoutMs?: number;
  prepareExtra?: (host: Host) => Promise<void>;
}): DaemonDriver {
  const alive = async (host: Host) => (await livePid(host, o.name, o.binary)) !== undefined;
  const ready = async (host: Host) =>
    waitFor({ daemon: o.name, host: host.name }, () => o.probe(host), {
      alive: () => alive(host),
      timeoutMs: o.readyTimeoutMs ?? 20_000,
      detail: () => logTail(host, o.name),
    });
  return {
    name: o.name,
    async prepare(host) {
      for (const d of o.dirs) await host.mkdir(d);
      await o.prepareExtra?.(host);
    },
    check: (host, dir) => rejectOn(host, o.name, o.checkArgv(dir), o.checkOk),
    running: alive,
    async start(host) {
      if (await alive(host)) return;
      await spawnDaemon(host, o.name, o.argv());
    },
    async reload(host) {
      const pid = await livePid(host, o.name, o.binary);
      if (pid === undefined) {
        await spawnDaemon(host, o.name, o.argv());
        return;
      }
      await signal(host, pid, o.reloadSignal);
    },
    ready,
    async stop(host) {
      const pid = await livePid(host, o.name, o.binary);
      if (pid === undefined) return;
      await signal(host, pid, 'TERM');
      await waitFor({ daemon: o.name, host: host.name }, async () => !(await alive(host)), { timeoutMs: 15_000 });
      await host.remove(pidfileOf(o.name));
    },
  };
}

