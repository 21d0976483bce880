import { vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import {
  APACHE_HEALTH_PORT,
  currentDir,
  HAPROXY_HEALTH_PORT,
  PATHS,
  fpmSocket,
  FPM_HEALTH_POOL,
  VARNISH_PORT,
  type DaemonName,
} from '../render/index.ts';
import { httpStatus, livePid, logTail, signal, spawnDaemon, waitFor, pidfileOf } from './process.ts';

/**
 * One driver per daemon. Contract: `check` runs the daemon's own checker on a staged set and
 * throws VARD_ERR_CONFIG_REJECTED without touching the running daemon; `reload` is graceful
 * (running requests finish); `ready` polls a real protocol check until a deadline and fails fast
 * if the process died. `dir` is a version directory; the daemon itself always runs from
 * `current`, so a swap of that link plus a reload switches it.
 */
export interface DaemonDriver {
  readonly name: DaemonName;
  /** Directories and kernel settings the daemon needs before its first start. */
  prepare(host: Host): Promise<void>;
  check(host: Host, dir: string): Promise<void>;
  running(host: Host): Promise<boolean>;
  start(host: Host): Promise<void>;
  reload(host: Host, dir: string): Promise<void>;
  ready(host: Host): Promise<void>;
  stop(host: Host): Promise<void>;
}

async function rejectOn(host: Host, daemon: DaemonName, argv: readonly string[], okText?: RegExp): Promise<void> {
  const r = await host.run(argv, { allowFail: true, timeoutMs: 60_000 });
  const text = `${r.stderr}\n${r.stdout}`.trim();
  if (r.exitCode !== 0 || (okText && !okText.test(text))) {
    throw vardError('VARD_ERR_CONFIG_REJECTED', [daemon, host.name, text.slice(-3000)], { details: { argv, exitCode: r.exitCode } });
  }
}

/** Shared shape of a supervised foreground daemon: spawn from `current`, signal its master to reload. */
function supervised(o: {
  name: DaemonName;
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

const haproxyBase = supervised({
  name: 'haproxy',
  binary: 'haproxy',
  dirs: ['/run/haproxy'],
  argv: () => ['haproxy', '-W', '-db', '-f', `${currentDir('haproxy')}/haproxy.cfg`],
  checkArgv: (dir) => ['haproxy', '-c', '-f', `${dir}/haproxy.cfg`],
  // USR2 to the master: new workers take the listening sockets over, old ones finish their requests.
  reloadSignal: 'USR2',
  probe: async (h) => (await httpStatus(h, `http://127.0.0.1:${HAPROXY_HEALTH_PORT}/healthz`, {}, 1)) === 200,
  // The VIP is bound on the passive node too, before VRRP gives it the address.
  prepareExtra: async (h) => void (await h.run(['sysctl', '-q', '-w', 'net.ipv4.ip_nonlocal_bind=1'])),
});

/** The serving worker's PID, from the runtime API (`show info` prints a line `Pid: 42`). */
async function haproxyWorkerPid(host: Host): Promise<number | undefined> {
  const r = await host.run(['socat', '-t', '2', 'STDIO', `UNIX-CONNECT:${PATHS.haproxySocket}`], { input: 'show info\n', allowFail: true });
  const m = /^Pid: (\d+)$/m.exec(r.stdout);
  return m ? Number(m[1]) : undefined;
}

/**
 * After USR2 the old worker keeps answering until the new one has parsed the configuration and
 * taken the sockets over; a health check alone would pass on the old worker. The reload is done
 * when the runtime API is served by a different worker.
 */
const haproxy: DaemonDriver = {
  ...haproxyBase,
  async reload(host, dir) {
    const before = await haproxyWorkerPid(host);
    await haproxyBase.reload(host, dir);
    if (before === undefined) return;
    await waitFor({ daemon: 'haproxy', host: host.name }, async () => {
      const now = await haproxyWorkerPid(host);
      return now !== undefined && now !== before;
    }, { timeoutMs: 15_000, alive: () => haproxyBase.running(host), detail: () => logTail(host, 'haproxy') });
  },
};

const apache2 = supervised({
  name: 'apache2',
  binary: 'apache2',
  dirs: ['/run/apache2', '/var/log/apache2', PATHS.apacheDefaultRoot],
  argv: () => ['apache2', '-d', currentDir('apache2'), '-f', 'apache2.conf', '-DFOREGROUND'],
  checkArgv: (dir) => ['apache2', '-t', '-d', dir, '-f', 'apache2.conf'],
  // USR1 is Apache's graceful restart: children finish their requests before they are replaced.
  reloadSignal: 'USR1',
  probe: async (h) => (await httpStatus(h, `http://127.0.0.1:${APACHE_HEALTH_PORT}/health.php`, {}, 2)) === 200,
});

const phpFpm = supervised({
  name: 'php-fpm',
  binary: 'php-fpm',
  dirs: [PATHS.phpRunDir],
  argv: () => ['php-fpm8.2', '--nodaemonize', '--fpm-config', `${currentDir('php-fpm')}/php-fpm.conf`],
  checkArgv: (dir) => ['php-fpm8.2', '-t', '--fpm-config', `${dir}/php-fpm.conf`],
  checkOk: /test is successful/,
  reloadSignal: 'USR2',
  probe: async (h) => h.exists(fpmSocket(FPM_HEALTH_POOL)),
});

const varnishArgs = ['-n', PATHS.varnishWorkdir];

async function varnishadm(host: Host, args: readonly string[], allowFail = false) {
  return host.run(['varnishadm', ...varnishArgs, ...args], { allowFail, timeoutMs: 30_000 });
}

const varnishBase = supervised({
  name: 'varnish',
  binary: 'varnishd',
  dirs: [],
  argv: () => [
    'varnishd', '-F', ...varnishArgs, '-a', `:${VARNISH_PORT}`, '-T', '127.0.0.1:6082',
    '-f', `${currentDir('varnish')}/default.vcl`, '-s', 'malloc,64m', '-p', 'thread_pools=1', '-p', 'thread_pool_min=20',
  ],
  // -C compiles the VCL to C and exits; the C text on stdout is not needed.
  checkArgv: (dir) => ['sh', '-c', 'varnishd -C -n "$1" -f "$2" >/dev/null', 'vard-vcc', '/tmp/vard-vcc', `${dir}/default.vcl`],
  reloadSignal: 'HUP',
  probe: async (h) => (await httpStatus(h, `http://127.0.0.1:${VARNISH_PORT}/varnish-health`, {}, 1)) === 200,
});

/** Varnish reloads by loading the new VCL under a fresh name and switching to it; old VCLs are discarded. */
const varnish: DaemonDriver = {
  ...varnishBase,
  async reload(host, dir) {
    if (!(await varnishBase.running(host))) return varnishBase.start(host);
    const label = `vard_${dir.split('/').pop()?.replace(/[^A-Za-z0-9_]/g, '_')}_${Date.now().toString(36)}`;
    const load = await varnishadm(host, ['vcl.load', label, `${currentDir('varnish')}/default.vcl`], true);
    if (load.exitCode !== 0) throw vardError('VARD_ERR_CONFIG_REJECTED', ['varnish', host.name, (load.stdout + load.stderr).slice(-3000)]);
    await varnishadm(host, ['vcl.use', label]);
    const list = await varnishadm(host, ['vcl.list'], true);
    // vcl.list lines: "available  auto    warm        0    vard_x"; discard every inactive one.
    for (const line of list.stdout.split('\n')) {
      const cols = line.trim().split(/\s+/);
      const name = cols[cols.length - 1];
      if (cols[0] === 'available' && name && name !== label) await varnishadm(host, ['vcl.discard', name], true);
    }
  },
};

const keepalived = supervised({
  name: 'keepalived',
  binary: ['keepalived', 'stdbuf'],
  dirs: [],
  argv: () => [
    'stdbuf', '-oL', '-eL', 'keepalived', '-n', '-l', '-D', '-f', `${currentDir('keepalived')}/keepalived.conf`,
    '-p', '/run/keepalived.pid', '-r', '/run/keepalived-vrrp.pid', '-c', '/run/keepalived-checkers.pid',
  ],
  checkArgv: (dir) => ['keepalived', '--config-test', '-f', `${dir}/keepalived.conf`],
  reloadSignal: 'HUP',
  probe: async (h) => h.exists('/run/keepalived-vrrp.pid'),
});

/** nftables is no daemon: "running" means Vard's table is loaded, "reload" loads the current ruleset. */
const nftables: DaemonDriver = {
  name: 'nftables',
  async prepare() {},
  check: (host, dir) => rejectOn(host, 'nftables', ['nft', '-c', '-f', `${dir}/ruleset.nft`]),
  async running(host) {
    return (await host.run(['nft', 'list', 'table', 'inet', 'vard_lb'], { allowFail: true })).exitCode === 0;
  },
  async start(host) {
    await host.run(['nft', '-f', `${currentDir('nftables')}/ruleset.nft`]);
  },
  async reload(host) {
    await host.run(['nft', '-f', `${currentDir('nftables')}/ruleset.nft`]);
  },
  async ready(host) {
    if (!(await nftables.running(host))) throw vardError('VARD_ERR_NOT_READY', ['nftables', host.name, 0, 'table inet vard_lb missing']);
  },
  async stop(host) {
    await host.run(['nft', 'delete', 'table', 'inet', 'vard_lb'], { allowFail: true });
  },
};

export const DRIVERS: Record<DaemonName, DaemonDriver> = {
  haproxy,
  apache2,
  'php-fpm': phpFpm,
  varnish,
  keepalived,
  nftables,
};
