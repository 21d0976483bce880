/**
 * The files tier [S17], rendered purely from the model: one GlusterFS volume, `replica 3 arbiter 1`
 * over the three hosts with the role (the third holds only the arbiter brick: names and metadata,
 * no file data, so it can be small), mounted (FUSE) on every web server, where each site's public
 * and private files live in a directory of its own. Field notes §2.12 and §3.6.
 */
import { hostsWithRole, type HostSpec, type Platform, type Site, type Topology } from '../../model/index.ts';
import { header, type ConfigSet } from '../../render/index.ts';
import type { FirewallRule } from '../contract.ts';

export const FILES_ROLE = 'files';
/** The role whose hosts mount the volume: the sites' PHP writes their files there. */
export const CLIENT_ROLE = 'web';
export const VOLUME = 'vard-files';

export const FILES_PATHS = {
  /** glusterd's state (peers, volume definitions, its UUID), bound over /var/lib/glusterd, which it hard-codes. */
  state: '/srv/vard/glusterd',
  glusterdLib: '/var/lib/glusterd',
  /** The brick: on the root filesystem, hence `force` at create (GlusterFS wants a mount of its own). */
  brick: `/srv/vard/bricks/${VOLUME}`,
  /** Where the volume is mounted on every web server (and on the files hosts, for Vard's own housekeeping). */
  mount: '/srv/vard/files',
  mountLog: '/var/log/glusterfs/vard-files-mount.log',
} as const;

/** glusterd's management port (24007) and its RDMA twin (24008, opened as upstream documents). */
export const GLUSTERD_PORTS = [24007, 24008] as const;
/** Brick ports: glusterd hands them out from base-port; one volume, one brick per host, room for restarts. */
export const BRICK_PORT_BASE = 49152;
export const BRICK_PORT_MAX = 49159;

/**
 * A client gives up on a brick that stops answering after this long (default 42 s, which stalled
 * every upload for 42 s when a files host vanished; 5 s stalled 9.8 s, field notes §3.6).
 */
export const PING_TIMEOUT_S = 5;

/** The three hosts of the volume, in topology order: the last holds the arbiter brick. */
export function filesHosts(t: Topology): HostSpec[] {
  return hostsWithRole(t, FILES_ROLE);
}

export function hasFilesTier(p: Platform): boolean {
  return filesHosts(p.topology).length === 3;
}

/** `host:path` of each brick, in the order `volume create` takes them (data, data, arbiter). */
export function brickSpecs(t: Topology): string[] {
  return filesHosts(t).map((h) => `${h.privateAddress}:${FILES_PATHS.brick}`);
}

/**
 * Where a site's files are on a host that mounts the volume, or undefined when the platform has no
 * files tier (then they stay in the site's own tree). The web role links the site tree to these.
 */
export interface SiteFilesLayout {
  /** The site's own directory on the volume: root:<site group> 0750, like its home. */
  readonly dir: string;
  /** Drupal's public files (`sites/default/files`): the site user's, 0755. */
  readonly public: string;
  /** Drupal's private files: the site user's only, 0700. */
  readonly private: string;
}

export function siteFilesLayout(p: Platform, site: Pick<Site, 'slug'>): SiteFilesLayout | undefined {
  if (!hasFilesTier(p)) return undefined;
  const dir = `${FILES_PATHS.mount}/${site.slug}`;
  return { dir, public: `${dir}/public`, private: `${dir}/private` };
}

/** The volume's options Vard sets; `volume set` for each one whose value differs. */
export function volumeOptions(p: Platform): [string, string][] {
  const clients = [...new Set([...hostsWithRole(p.topology, CLIENT_ROLE), ...filesHosts(p.topology)].map((h) => h.privateAddress))].sort();
  return [
    ['network.ping-timeout', String(PING_TIMEOUT_S)],
    // Only the platform's own hosts may mount it (the firewall says the same one layer down).
    ['auth.allow', clients.join(',')],
    // Heal as soon as a brick is back, without waiting for the daemon's 10-minute crawl.
    ['cluster.self-heal-daemon', 'on'],
    // close() returns once the bricks have the data (not before, as with flush-behind): an upload
    // Drupal has acknowledged survives the web server that took it crashing right after.
    ['performance.flush-behind', 'off'],
    // Heals a few files at once per brick (default 1): many small uploads made while a host was away.
    ['cluster.shd-max-threads', '4'],
    // With three votes a brick cut off from the other two refuses writes instead of diverging.
    ['cluster.quorum-type', 'auto'],
  ];
}

/**
 * glusterd's own volfile (Debian's, with the addresses pinned): it listens on the private address
 * only and hands out brick ports from a small range the firewall opens.
 */
export function renderGlusterd(p: Platform, host: HostSpec): ConfigSet {
  const content = [
    header('#', `platform ${p.name}, host ${host.name}; glusterd of the files tier`).trimEnd(),
    'volume management',
    '    type mgmt/glusterd',
    `    option working-directory ${FILES_PATHS.glusterdLib}`,
    '    option transport-type socket',
    `    option transport.socket.bind-address ${host.privateAddress}`,
    '    option transport.address-family inet',
    '    option transport.socket.keepalive-time 10',
    '    option transport.socket.keepalive-interval 2',
    '    option transport.socket.read-fail-log off',
    `    option transport.socket.listen-port ${GLUSTERD_PORTS[0]}`,
    '    option ping-timeout 0',
    '    option event-threads 1',
    `    option base-port ${BRICK_PORT_BASE}`,
    `    option max-port ${BRICK_PORT_MAX}`,
    'end-volume',
    '',
  ].join('\n');
  return { daemon: 'glusterd', files: [{ path: 'glusterd.vol', content }] };
}

/** What a files host accepts: glusterd and the bricks, from the hosts that mount the volume and the other files hosts. */
export function filesAccepts(p: Platform): FirewallRule[] {
  if (!hasFilesTier(p)) return [];
  const bricks = Array.from({ length: BRICK_PORT_MAX - BRICK_PORT_BASE + 1 }, (_, i) => BRICK_PORT_BASE + i);
  return [
    { proto: 'tcp', ports: [...GLUSTERD_PORTS], from: [CLIENT_ROLE, FILES_ROLE], why: 'glusterd: volume files for the mounts, peers of the files tier' },
    { proto: 'tcp', ports: bricks, from: [CLIENT_ROLE, FILES_ROLE], why: 'GlusterFS bricks: the mounts on the web servers, self-heal between the files hosts' },
  ];
}

/**
 * `mount` for the volume on a client: the first volfile server is one that answers now (a mount
 * whose first server is unreachable waits 42 s before it tries the next, field notes §3.6), the
 * others as backups. `up`: the files hosts seen running, first choice first.
 */
export function mountArgv(p: Platform, up: readonly string[]): string[] {
  const all = filesHosts(p.topology);
  const ordered = [...all.filter((h) => up.includes(h.name)), ...all.filter((h) => !up.includes(h.name))].map((h) => h.privateAddress);
  const [first, ...backups] = ordered;
  return [
    'mount', '-t', 'glusterfs',
    '-o', [`backup-volfile-servers=${backups.join(':')}`, `log-file=${FILES_PATHS.mountLog}`].join(','),
    `${first}:/${VOLUME}`, FILES_PATHS.mount,
  ];
}

/**
 * The script that gives each site its directory on the volume, owned as its home is: fixed text,
 * arguments `<dir> <user> …`. The volume's root is traversable but not listable, so a site cannot
 * even see which other sites exist.
 */
export const SITE_DIRS_SCRIPT = [
  'set -e',
  `chown root:root "${FILES_PATHS.mount}"; chmod 0711 "${FILES_PATHS.mount}"`,
  'while [ $# -gt 1 ]; do',
  '  dir=$1 user=$2; shift 2',
  '  mkdir -p "$dir/public" "$dir/private"',
  '  chown root:"$user" "$dir"; chmod 0750 "$dir"',
  '  chown "$user:$user" "$dir/public" "$dir/private"',
  '  chmod 0755 "$dir/public"; chmod 0700 "$dir/private"',
  'done',
].join('\n');

/**
 * Each site directory's owner and mode as `find -printf '%p %U %G %m'` prints them, so a run over
 * sites already in place changes nothing: the directories whose line differs are (re)made.
 */
export function siteDirsToFix(sites: readonly Site[], ids: ReadonlyMap<string, { uid: string; gid: string }>, seen: ReadonlyMap<string, string>): Site[] {
  return sites.filter((s) => {
    const id = ids.get(s.unixUser);
    if (!id) return false;
    const dir = `${FILES_PATHS.mount}/${s.slug}`;
    return seen.get(dir) !== `0 ${id.gid} 750` || seen.get(`${dir}/public`) !== `${id.uid} ${id.gid} 755` || seen.get(`${dir}/private`) !== `${id.uid} ${id.gid} 700`;
  });
}
