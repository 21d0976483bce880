/**
 * The files tier's effects beyond glusterd's config set: the trusted pool, the volume, the mounts
 * and the sites' directories. All of it level-based and idempotent: each step looks first and does
 * only what is missing, so a run that died half way (or a host that was down) is finished by the
 * next one. GlusterFS does the replication and the healing; Vard only asks.
 */
import { waitFor } from '../../daemon/index.ts';
import { vardError } from '../../errors/index.ts';
import { hostIsUp, type Host } from '../../host/index.ts';
import { hostsWithRole, type HostSpec, type Platform } from '../../model/index.ts';
import type { HostOf, Say } from '../contract.ts';
import { glusterdAnswers } from './drivers.ts';
import { brickSpecs, CLIENT_ROLE, FILES_PATHS, filesHosts, mountArgv, SITE_DIRS_SCRIPT, siteDirsToFix, VOLUME, volumeOptions } from './render.ts';
import { parsePoolList, parseVolumeInfo, parseVolumeStatus, poolMember, type VolumeInfo } from './parse.ts';

export const gluster = (host: Host, args: readonly string[], o: { allowFail?: boolean; timeoutMs?: number } = {}) =>
  host.run(['gluster', '--mode=script', ...args], { allowFail: o.allowFail ?? true, timeoutMs: o.timeoutMs ?? 60_000 });

/** The files hosts that are up and whose glusterd answers, in topology order. */
export async function liveFilesHosts(p: Platform, hostOf: HostOf): Promise<HostSpec[]> {
  const hosts = filesHosts(p.topology);
  const ok = await Promise.all(hosts.map(async (h) => (await hostIsUp(hostOf(h.name))) && (await glusterdAnswers(hostOf(h.name)))));
  return hosts.filter((_, i) => ok[i]);
}

export async function volumeInfo(host: Host): Promise<VolumeInfo | undefined> {
  const r = await gluster(host, ['volume', 'info', VOLUME, '--xml']);
  return r.exitCode === 0 ? parseVolumeInfo(r.stdout) : undefined;
}

/** Every live files host in one trusted pool: probed from the first, which is idempotent. */
async function ensurePool(live: readonly HostSpec[], hostOf: HostOf, say: Say): Promise<void> {
  const [first, ...rest] = live;
  if (!first) return;
  const h = hostOf(first.name);
  const pool = parsePoolList((await gluster(h, ['pool', 'list'])).stdout);
  for (const peer of rest) {
    if (poolMember(pool, peer)) continue;
    say(`files: ${first.name} adds ${peer.name} to the trusted pool`);
    const r = await gluster(h, ['peer', 'probe', peer.privateAddress]);
    if (r.exitCode !== 0) throw vardError('VARD_ERR_COMMAND_FAILED', [first.name, `gluster peer probe ${peer.privateAddress}`, r.exitCode, `${r.stdout}${r.stderr}`.trim()]);
  }
  // A probe is asynchronous: the volume can be created once every peer is connected.
  await waitFor({ daemon: 'gluster peers', host: first.name }, async () => {
    const now = parsePoolList((await gluster(h, ['pool', 'list'])).stdout);
    return rest.every((peer) => poolMember(now, peer)?.connected === true);
  }, { timeoutMs: 30_000, intervalMs: 250 });
}

/** Bricks online per brick spec (`addr:path`), from the volume's status. */
export async function bricksOnline(host: Host): Promise<Map<string, boolean>> {
  const r = await gluster(host, ['volume', 'status', VOLUME, '--xml']);
  const out = new Map<string, boolean>();
  if (r.exitCode !== 0) return out;
  for (const b of parseVolumeStatus(r.stdout).bricks) out.set(`${b.hostname}:${b.path}`, b.online);
  return out;
}

/**
 * The volume, created once when all three hosts are there, started, its options as rendered, and
 * the brick of every live host online. `volume start force` right after a brick was killed may do
 * nothing ("already running"): asked again until `volume status` shows the bricks online.
 */
async function ensureVolume(p: Platform, live: readonly HostSpec[], hostOf: HostOf, say: Say): Promise<boolean> {
  const first = live[0];
  if (!first) return false;
  const h = hostOf(first.name);
  let info = await volumeInfo(h);
  if (!info) {
    if (live.length < filesHosts(p.topology).length) {
      say(`files: the volume ${VOLUME} is created once all ${filesHosts(p.topology).length} files hosts are up; ${live.length} are`);
      return false;
    }
    say(`files: creating the volume ${VOLUME} (replica 3, arbiter 1)`);
    // The bricks sit on the root filesystem: GlusterFS wants a mount of their own unless forced.
    const r = await gluster(h, ['volume', 'create', VOLUME, 'replica', '3', 'arbiter', '1', ...brickSpecs(p.topology), 'force'], { timeoutMs: 120_000 });
    if (r.exitCode !== 0) throw vardError('VARD_ERR_COMMAND_FAILED', [first.name, `gluster volume create ${VOLUME}`, r.exitCode, `${r.stdout}${r.stderr}`.trim()]);
    info = await volumeInfo(h);
    if (!info) throw vardError('VARD_ERR_INTERNAL', [`the volume ${VOLUME} was created but ${first.name} does not show it`]);
  }
  for (const [k, v] of volumeOptions(p)) {
    if (info.options.get(k) === v) continue;
    const r = await gluster(h, ['volume', 'set', VOLUME, k, v]);
    if (r.exitCode !== 0) throw vardError('VARD_ERR_COMMAND_FAILED', [first.name, `gluster volume set ${VOLUME} ${k}`, r.exitCode, `${r.stdout}${r.stderr}`.trim()]);
  }
  if (!info.started) {
    say(`files: starting the volume ${VOLUME}`);
    const r = await gluster(h, ['volume', 'start', VOLUME], { timeoutMs: 120_000 });
    if (r.exitCode !== 0 && !/already started/.test(`${r.stdout}${r.stderr}`)) throw vardError('VARD_ERR_COMMAND_FAILED', [first.name, `gluster volume start ${VOLUME}`, r.exitCode, `${r.stdout}${r.stderr}`.trim()]);
  }
  const wanted = live.map((x) => `${x.privateAddress}:${FILES_PATHS.brick}`);
  const allOnline = async () => {
    const online = await bricksOnline(h);
    return wanted.every((b) => online.get(b) === true);
  };
  if (!(await allOnline())) {
    say(`files: bringing the bricks of ${live.map((x) => x.name).join(', ')} online`);
    await waitFor({ daemon: `volume ${VOLUME} bricks`, host: first.name }, async () => {
      if (await allOnline()) return true;
      await gluster(h, ['volume', 'start', VOLUME, 'force'], { timeoutMs: 60_000 });
      return allOnline();
    }, { timeoutMs: 60_000, intervalMs: 1000 });
  }
  return true;
}

/** The hosts that mount the volume: every web server, and the files hosts (Vard's housekeeping: a deleted site's directory). */
export function clientHosts(p: Platform): HostSpec[] {
  return [...hostsWithRole(p.topology, CLIENT_ROLE), ...filesHosts(p.topology)];
}

/**
 * Fixed text, the mount point as "$1": prints `ok` when the volume is mounted there and answers;
 * otherwise drops a mount whose client died (`mountpoint` and `stat` fail on it with "Transport
 * endpoint is not connected", so it is found in mountinfo), makes the directories and prints `mount`.
 */
const MOUNT_CHECK = [
  'mp=$1',
  'if awk -v mp="$mp" \'$5 == mp { found = 1 } END { exit !found }\' /proc/self/mountinfo; then',
  '  if stat -t "$mp/." >/dev/null 2>&1; then echo ok; exit 0; fi',
  '  umount -l "$mp" 2>/dev/null || true',
  'fi',
  'mkdir -p "$mp" /var/log/glusterfs',
  'echo mount',
].join('\n');

/**
 * The volume is mounted at FILES_PATHS.mount in the host's own mount namespace (its FUSE client
 * dies with the host). A mount whose client died is dropped and made again. True when it mounted.
 */
export async function ensureMounted(p: Platform, host: Host, live: readonly string[]): Promise<boolean> {
  const r = await host.run(['sh', '-c', MOUNT_CHECK, 'vard-files-mount', FILES_PATHS.mount], { timeoutMs: 60_000 });
  if (r.stdout.trim() === 'ok') return false;
  await host.run(mountArgv(p, live), { timeoutMs: 120_000 });
  return true;
}

async function mountEverywhere(p: Platform, live: readonly HostSpec[], hostOf: HostOf, say: Say): Promise<Host[]> {
  const names = live.map((h) => h.name);
  const mounted: Host[] = [];
  await Promise.all(
    clientHosts(p).map(async (spec) => {
      const host = hostOf(spec.name);
      if (!(await hostIsUp(host))) return;
      if (await ensureMounted(p, host, names)) say(`files: ${spec.name} mounts ${VOLUME} at ${FILES_PATHS.mount}`);
      mounted.push(host);
    }),
  );
  return mounted;
}

/**
 * Each site's directory on the volume, owned as its home is (root:<site group> 0750, public files
 * the site user's, private files the site user's only). Made through one web server's mount, where
 * the site users exist; by number, as every web server's ids for a site are the same (the web role
 * derives them from the site's port).
 */
async function ensureSiteDirs(p: Platform, web: Host): Promise<void> {
  if (!p.sites.length) return;
  const ids = new Map<string, { uid: string; gid: string }>();
  for (const line of ((await web.readFile('/etc/passwd'))?.toString('utf8') ?? '').split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name && uid && gid) ids.set(name, { uid, gid });
  }
  const r = await web.run(['find', FILES_PATHS.mount, '-mindepth', '1', '-maxdepth', '2', '-type', 'd', '-printf', '%p %U %G %m\\n'], { timeoutMs: 120_000 });
  const seen = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const cut = line.indexOf(' ');
    if (cut > 0) seen.set(line.slice(0, cut), line.slice(cut + 1));
  }
  const fix = siteDirsToFix(p.sites, ids, seen);
  if (!fix.length) return;
  await web.run(['sh', '-c', SITE_DIRS_SCRIPT, 'vard-files-sites', ...fix.flatMap((s) => [`${FILES_PATHS.mount}/${s.slug}`, s.unixUser])], { timeoutMs: 120_000 });
}

/** Everything after glusterd runs: pool, volume, mounts, site directories. */
export async function convergeFiles(p: Platform, hostOf: HostOf, say: Say): Promise<void> {
  const live = await liveFilesHosts(p, hostOf);
  if (!live.length) {
    say('files: no files host is up; the volume is left as it is');
    return;
  }
  await ensurePool(live, hostOf, say);
  if (!(await ensureVolume(p, live, hostOf, say))) return;
  const mounted = await mountEverywhere(p, live, hostOf, say);
  const webs = new Set(hostsWithRole(p.topology, CLIENT_ROLE).map((h) => h.name));
  const web = mounted.find((h) => webs.has(h.name));
  if (web) await ensureSiteDirs(p, web);
}

/** Slugs with a directory on the volume, seen through this host's mount (none when it has none). */
export async function siteDirsOnVolume(host: Host): Promise<string[]> {
  if ((await host.run(['mountpoint', '-q', FILES_PATHS.mount], { allowFail: true })).exitCode !== 0) return [];
  const r = await host.run(['ls', '-A', FILES_PATHS.mount], { allowFail: true, timeoutMs: 30_000 });
  return r.exitCode === 0 ? r.stdout.split('\n').filter((n) => n && !n.startsWith('.')) : [];
}

/** A deleted site's directory, through the mount: every copy goes, the arbiter's names too. */
export async function removeSiteDir(host: Host, slug: string): Promise<void> {
  if (slug.includes('/') || slug.startsWith('.') || !slug) return;
  if ((await host.run(['mountpoint', '-q', FILES_PATHS.mount], { allowFail: true })).exitCode !== 0) return;
  await host.run(['rm', '-rf', '--one-file-system', '--', `${FILES_PATHS.mount}/${slug}`], { timeoutMs: 300_000 });
}
