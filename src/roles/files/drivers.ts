/**
 * glusterd, supervised like every daemon (foreground, pidfile, log under /var/log/vard). It runs
 * the volume: it starts the brick (glusterfsd) and the self-heal daemon of its host, which outlive
 * it, so a restart of glusterd (a new glusterd.vol) never interrupts a mount.
 */
import { livePid, logTail, rejectOn, spawnDaemon, waitFor, type DaemonDriver } from '../../daemon/index.ts';
import { pidfileOf, signal } from '../../daemon/process.ts';
import type { Host } from '../../host/index.ts';
import { currentDir } from '../../render/index.ts';
import { FILES_PATHS } from './render.ts';

const NAME = 'glusterd';

const running = async (host: Host) => (await livePid(host, NAME, 'glusterd')) !== undefined;

/** glusterd answers its CLI (over /run/glusterd.socket, in the host's own /run). */
export async function glusterdAnswers(host: Host): Promise<boolean> {
  return (await host.run(['gluster', '--mode=script', 'pool', 'list'], { allowFail: true, timeoutMs: 15_000 })).exitCode === 0;
}

/** Binds a persistent directory over a path a daemon hard-codes, once per boot (the mount lives in the host's mount namespace). */
export async function bindOnce(host: Host, from: string, onto: string): Promise<void> {
  if ((await host.run(['mountpoint', '-q', onto], { allowFail: true })).exitCode === 0) return;
  await host.mkdir(onto);
  await host.run(['mount', '--bind', from, onto]);
}

/**
 * glusterd has no checker of its own volfile: this one (fixed text, the file as "$1") accepts one
 * `volume … end-volume` block of `type mgmt/glusterd` with `option <key> <value>` lines only.
 */
const VOLFILE_CHECK = [
  'awk \'',
  '  /^[[:space:]]*(#|$)/ { next }',
  '  $1 == "volume" && NF == 2 && !open { open = 1; vols++; next }',
  '  $1 == "type" && NF == 2 && open { if ($2 != "mgmt/glusterd") { print "type " $2 " is not mgmt/glusterd"; bad = 1 }; typed = 1; next }',
  '  $1 == "option" && NF >= 3 && open { next }',
  '  $1 == "end-volume" && NF == 1 && open { open = 0; next }',
  '  { print "line " NR ": unexpected: " $0; bad = 1 }',
  '  END { if (vols != 1 || open || !typed) { print "expected exactly one complete volume block with a type"; bad = 1 }; exit bad }',
  '\' "$1"',
].join('\n');

async function start(host: Host): Promise<void> {
  if (await running(host)) return;
  await spawnDaemon(host, NAME, ['glusterd', '-N', '-f', `${currentDir(NAME)}/glusterd.vol`, '-p', '/run/glusterd.pid', '--log-file=/var/log/glusterfs/glusterd.log']);
}

async function stop(host: Host): Promise<void> {
  const pid = await livePid(host, NAME, 'glusterd');
  if (pid === undefined) return;
  await signal(host, pid, 'TERM');
  await waitFor({ daemon: NAME, host: host.name }, async () => !(await running(host)), { timeoutMs: 15_000 });
  await host.remove(pidfileOf(NAME));
}

export const glusterdDriver: DaemonDriver = {
  name: NAME,
  async prepare(host) {
    for (const d of [FILES_PATHS.state, FILES_PATHS.brick, '/run/gluster', '/var/log/glusterfs']) await host.mkdir(d);
    await bindOnce(host, FILES_PATHS.state, FILES_PATHS.glusterdLib);
  },
  check: (host, dir) => rejectOn(host, NAME, ['sh', '-c', VOLFILE_CHECK, 'vard-glusterd-check', `${dir}/glusterd.vol`]),
  running,
  start,
  // glusterd reads its volfile only at start; the bricks and the self-heal daemon it started keep
  // running while it restarts, and the mounts talk to the bricks.
  async reload(host) {
    await stop(host);
    await start(host);
  },
  ready: (host) =>
    waitFor({ daemon: NAME, host: host.name }, () => glusterdAnswers(host), {
      timeoutMs: 30_000,
      intervalMs: 200,
      alive: () => running(host),
      detail: () => logTail(host, NAME),
    }),
  stop,
};

export const FILES_DAEMONS: Readonly<Record<string, DaemonDriver>> = { glusterd: glusterdDriver };
