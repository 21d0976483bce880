/**
 * Drivers of the load balancer's daemons: HAProxy (reloaded by a new worker taking the sockets
 * over), Varnish (a new VCL loaded and switched to) and keepalived (HUP).
 */
import { httpStatus, logTail, rejectOn, supervised, waitFor, type DaemonDriver } from '../../daemon/index.ts';
import { vardError } from '../../errors/index.ts';
import type { Host } from '../../host/index.ts';
import { currentDir } from '../../render/index.ts';
import { HAPROXY_HEALTH_PORT, LB_PATHS, VARNISH_PORT } from './render.ts';

const haproxyBase = supervised({
  name: 'haproxy',
  binary: 'haproxy',
  dirs: ['/run/haproxy'],
  // -C: relative paths (the site map) resolve inside the set, so a check of a staged set reads
  // the staged map, and a reload (the master re-executes) follows `current` to the new one.
  argv: () => ['haproxy', '-W', '-db', '-C', currentDir('haproxy'), '-f', 'haproxy.cfg'],
  checkArgv: (dir) => ['haproxy', '-c', '-C', dir, '-f', 'haproxy.cfg'],
  // USR2 to the master: new workers take the listening sockets over, old ones finish their requests.
  reloadSignal: 'USR2',
  probe: async (h) => (await httpStatus(h, `http://127.0.0.1:${HAPROXY_HEALTH_PORT}/healthz`, {}, 1)) === 200,
  // The VIP is bound on the passive node too, before VRRP gives it the address.
  prepareExtra: async (h) => void (await h.run(['sysctl', '-q', '-w', 'net.ipv4.ip_nonlocal_bind=1'])),
});

/** The serving worker's PID, from the runtime API (`show info` prints a line `Pid: 42`). */
async function haproxyWorkerPid(host: Host): Promise<number | undefined> {
  const r = await host.run(['socat', '-t', '2', 'STDIO', `UNIX-CONNECT:${LB_PATHS.haproxySocket}`], { input: 'show info\n', allowFail: true });
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

const varnishArgs = ['-n', LB_PATHS.varnishWorkdir];

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

export const LB_DAEMONS: Readonly<Record<string, DaemonDriver>> = { varnish, haproxy, keepalived };
