/** A web server's per-site state: the site's Unix user and its Drupal-shaped tree; and proof that every site answers. */
import { digestOf, fileDigests, writeIfChanged, type Host } from '../../host/index.ts';
import type { HostSpec, Platform, Site } from '../../model/index.ts';
import { bySlug, configRoot, SITES_ROOT, type ConfigSet, type RenderedFile } from '../../render/index.ts';
import { loadedFileOf } from '../../apply/config-set.ts';
import { balancerAddresses, fpmDaemon, fpmShardOf, fpmSocket, siteHome, WEB_PATHS } from './render.ts';
import { renderSiteSkeleton, renderWebSupport, SHARED_DIRS, VARD_OWNED_SITE_FILES, WRITABLE_DIRS } from './site.ts';
import { siteFilesLayout } from '../files/render.ts';

const SITE_USER_COMMENT = 'vard site';

/**
 * Where site accounts' ids come from: not the system range (`--system`, 100-999 on Debian), which
 * ran out at the 888th site, but a block of the ordinary range that holds every site port
 * (SITE_PORT_BLOCKS: 10,919) with room to spare. Accounts made before keep their ids.
 */
const SITE_ID_RANGE = ['UID_MIN=20000', 'UID_MAX=59999', 'GID_MIN=20000', 'GID_MAX=59999'];

/**
 * Support files and every site's user and tree. Idempotent, and cheap for the sites already in
 * place: one read of /etc/passwd, one listing of the homes' owners, one command for the digests of
 * every file Vard owns in every site, and writes only where one differs, so a run over 1,000 sites
 * costs a few commands, not a few thousand file reads (over SSH each would be a round trip).
 */
export async function prepareWebHost(p: Platform, host: Host): Promise<void> {
  for (const f of renderWebSupport()) await writeIfChanged(host, `${WEB_PATHS.apacheDefaultRoot}/${f.path}`, f.content, 0o644);
  const { proxies } = balancerAddresses(p);
  const users = new Set(((await host.readFile('/etc/passwd'))?.toString('utf8') ?? '').split('\n').map((l) => l.split(':')[0]));
  const homes = new Set(await host.list(SITES_ROOT));
  // One at a time: useradd locks the account files and gives up when another holds them.
  for (const s of p.sites) if (!users.has(s.unixUser)) await ensureUser(host, s);
  const shared = (s: Site) => siteFilesLayout(p, s) !== undefined;
  const skeletons = new Map(p.sites.map((s) => [s.slug, renderSiteSkeleton(s, p.databases?.[s.slug], proxies, shared(s))]));
  const probe = p.sites.flatMap((s) => {
    const files = skeletons.get(s.slug)!;
    const last = files[files.length - 1]?.path;
    return [...VARD_OWNED_SITE_FILES, ...(last ? [last] : [])].map((f) => `${siteHome(s.slug)}/${f}`);
  });
  const digests = await fileDigests(host, probe);
  // A few sites at a time: file operations only, and only for sites where something differs.
  await inBatches(p.sites, 16, (s) => prepareSite(host, s, skeletons.get(s.slug)!, digests, homes.has(s.slug), shared(s)));
  await closeSiteHomes(host, p.sites);
  await linkSharedDirs(p, host);
}

/**
 * Fixed text; arguments `<link> <target> …`. A link already right is left alone; a directory made
 * before the platform had a files tier moves onto the volume (once its directory there exists,
 * that is once the volume is mounted) and becomes the link; a missing one is linked at once, and
 * points at the volume from the moment it is mounted.
 */
const LINK_SHARED = [
  'set -e',
  'while [ $# -gt 1 ]; do',
  '  link=$1 target=$2; shift 2',
  '  [ "$(readlink "$link" || true)" = "$target" ] && continue',
  '  if [ -d "$link" ] && [ ! -L "$link" ]; then',
  '    [ -d "$target" ] || continue',
  '    cp -a "$link/." "$target/"',
  '    rm -rf "$link"',
  '  fi',
  '  ln -sfn "$target" "$link.vard-new"',
  '  mv -T "$link.vard-new" "$link"',
  'done',
].join('\n');

/** With a files tier: every site's upload directories are links to its directory on the volume, in one command. */
async function linkSharedDirs(p: Platform, host: Host): Promise<void> {
  const args = p.sites.flatMap((s) => {
    const files = siteFilesLayout(p, s);
    if (!files) return [];
    const [pub, priv] = SHARED_DIRS;
    return [`${siteHome(s.slug)}/${pub}`, files.public, `${siteHome(s.slug)}/${priv}`, files.private];
  });
  if (!args.length) return;
  // One `find` reads every link first: the script's per-link `readlink` forks cost seconds at 1,000 sites on every run.
  const links = args.filter((_, i) => i % 2 === 0);
  const r = await host.run(['find', ...links, '-maxdepth', '0', '-printf', '%p\\t%l\\n'], { allowFail: true, timeoutMs: 120_000 });
  const now = new Map(r.stdout.split('\n').map((l) => l.split('\t') as [string, string]));
  const wrong = args.flatMap((a, i) => (i % 2 === 0 && now.get(a) !== args[i + 1] ? [a, args[i + 1]!] : []));
  if (wrong.length) await host.run(['sh', '-c', LINK_SHARED, 'vard-link-shared', ...wrong], { timeoutMs: 300_000 });
}

async function inBatches<T>(items: readonly T[], size: number, fn: (x: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Apache's user: it reads every site's static files, so it is a member of every site's group. */
const APACHE_USER = 'www-data';

/**
 * Each home is its site's alone: root:<site group> 0750, so another site's user cannot even pass
 * through it, while Apache, in every site's group, reaches the docroot. The temporary and private
 * directories are the site user's only (0700): not even Apache reads them. Looked at every run (one
 * listing of the homes and the directories in them), so a tree made by an older Vard is closed
 * too; only the homes found open are changed, in one command.
 */
async function closeSiteHomes(host: Host, sites: readonly Site[]): Promise<void> {
  if (!sites.length) return;
  // /etc/group read here, not `id -nG`: that looks up each of Apache's 1,000 groups by id with a
  // scan of the whole file, a second per web server on every run.
  const groups = new Set<string>();
  for (const line of ((await host.readFile('/etc/group'))?.toString('utf8') ?? '').split('\n')) {
    const [name, , , members] = line.split(':');
    if (name && members?.split(',').includes(APACHE_USER)) groups.add(name);
  }
  const missing = sites.map((s) => s.unixUser).filter((g) => !groups.has(g));
  // Apache's children take up the groups when they start: the reload after a new site's vhost.
  if (missing.length) await host.run(['usermod', '-a', '-G', missing.join(','), APACHE_USER]);
  // Numeric owners (%U %G): names would cost find a scan of /etc/passwd per directory.
  const listing = await host.run(['find', SITES_ROOT, '-mindepth', '1', '-maxdepth', '2', '-type', 'd', '-printf', '%p %U %G %m\\n']);
  const ids = new Map<string, string>();
  for (const line of ((await host.readFile('/etc/passwd'))?.toString('utf8') ?? '').split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name && uid && gid) ids.set(name, `${uid} ${gid}`);
  }
  const seen = new Map<string, string>();
  for (const line of listing.stdout.split('\n')) {
    const cut = line.indexOf(' ');
    if (cut > 0) seen.set(line.slice(0, cut), line.slice(cut + 1));
  }
  const open = sites.filter((s) => {
    const home = siteHome(s.slug);
    // A site user's group is its own, made with it (useradd --user-group): same name, its gid.
    const [uid, gid] = (ids.get(s.unixUser) ?? '? ?').split(' ');
    const own = `${uid} ${gid} 700`;
    return seen.get(home) !== `0 ${gid} 750` || [`${home}/tmp`, `${home}/private`].some((d) => seen.has(d) && seen.get(d) !== own);
  });
  if (!open.length) return;
  const script = [
    'set -e',
    'while [ $# -gt 1 ]; do',
    '  home=$1 user=$2; shift 2',
    '  chown root:"$user" "$home"; chmod 0750 "$home"',
    '  for d in "$home/tmp" "$home/private"; do',
    '    if [ -d "$d" ]; then chown "$user:$user" "$d"; chmod 0700 "$d"; fi',
    '  done',
    'done',
  ].join('\n');
  await host.run(['sh', '-c', script, 'vard-close-homes', ...open.flatMap((s) => [siteHome(s.slug), s.unixUser])]);
}

/**
 * A site's user and group id, the same on every web server: files on the shared volume are owned
 * by number, so an id that differed between two web servers would give one site's uploads to
 * another there. Derived from the site's port (unique among the sites, 8081-19999), inside
 * SITE_ID_RANGE and above the ids handed out one after the other before.
 */
export function siteId(s: Pick<Site, 'port'>): number {
  return 20_000 + s.port;
}

/**
 * Fixed text; arguments `<user> <id> <home> <comment>`. One command per new site user: its id is
 * `siteId` unless a stale account of a deleted site holds that number (then the next free one in
 * SITE_ID_RANGE, as before ids were derived), its group its own with the same id.
 */
const ADD_SITE_USER = [
  'set -e',
  'user=$1 id=$2 home=$3 comment=$4',
  'getent passwd "$user" >/dev/null && exit 0',
  'if ! getent passwd "$id" >/dev/null && ! getent group "$id" >/dev/null; then',
  '  getent group "$user" >/dev/null || groupadd --gid "$id" "$user"',
  '  if [ "$(getent group "$user" | cut -d: -f3)" = "$id" ]; then',
  '    exec useradd --no-create-home --home-dir "$home" --uid "$id" --gid "$user" --shell /usr/sbin/nologin --comment "$comment" "$user"',
  '  fi',
  'fi',
  `keys="${SITE_ID_RANGE.map((k) => `--key ${k}`).join(' ')}"`,
  'if getent group "$user" >/dev/null; then',
  '  exec useradd --no-create-home --home-dir "$home" --gid "$user" $keys --shell /usr/sbin/nologin --comment "$comment" "$user"',
  'fi',
  'exec useradd --no-create-home --home-dir "$home" --user-group $keys --shell /usr/sbin/nologin --comment "$comment" "$user"',
].join('\n');

async function ensureUser(host: Host, s: Site): Promise<void> {
  await host.run(['sh', '-c', ADD_SITE_USER, 'vard-add-site-user', s.unixUser, String(siteId(s)), siteHome(s.slug), `${SITE_USER_COMMENT} ${s.domain}`]);
}

/**
 * The site's Drupal-shaped tree; existing files are the customer's and are left alone. `digests`:
 * the caller's one look at Vard's own files and the skeleton's last file in every site; `hasHome`:
 * its one listing of the homes.
 */
async function prepareSite(host: Host, s: Site, skeleton: readonly RenderedFile[], digests: ReadonlyMap<string, string | undefined>, hasHome: boolean, shared: boolean): Promise<void> {
  const home = siteHome(s.slug);
  // The skeleton is written in order, so its last file there means the rest was written before;
  // then only Vard's own files are compared (a file the customer removed since stays removed).
  const last = skeleton[skeleton.length - 1];
  const finished = hasHome && last !== undefined && digests.get(`${home}/${last.path}`) !== undefined;
  const owned = skeleton.filter((f) => VARD_OWNED_SITE_FILES.includes(f.path));
  if (finished && owned.every((f) => digests.get(`${home}/${f.path}`) === digestOf(f.content))) return;
  let created = false;
  for (const f of skeleton) {
    const path = `${home}/${f.path}`;
    // settings.php carries the database password: never world-readable, not even for a moment.
    const mode = f.path.endsWith('settings.php') ? 0o640 : 0o644;
    if (VARD_OWNED_SITE_FILES.includes(f.path)) created = (await writeIfChanged(host, path, f.content, mode)) || created;
    else if (!finished && !(await host.exists(path))) {
      await host.writeFile(path, f.content, { mode: f.mode ?? 0o644 });
      created = true;
    }
  }
  if (!created) return;
  // Code is read-only to PHP; only the upload and temporary directories belong to the site user.
  await host.run(['chown', '-R', 'root:root', home]);
  await host.run(['chmod', '755', `${home}/web`]);
  // On the volume, the shared directories are the files tier's to own (linkSharedDirs links them).
  const writable = WRITABLE_DIRS.filter((d) => (!d.startsWith('private') || s.drupal !== 7) && !(shared && (SHARED_DIRS as readonly string[]).includes(d)));
  await host.run(['chown', '-R', `${s.unixUser}:${s.unixUser}`, ...writable.map((d) => `${home}/${d}`)]);
  const settings = `${home}/web/sites/default/settings.php`;
  await host.run(['chown', `root:${s.unixUser}`, settings]);
  await host.run(['chmod', '640', settings]);
}

/** Removes a site's user and tree from a web server, after no daemon refers to them any more. */
export async function removeSiteFromHost(host: Host, slug: string): Promise<void> {
  const home = siteHome(slug);
  if (!home.startsWith(`${SITES_ROOT}/`) || slug.includes('/') || slug.startsWith('.')) return;
  const users = (await host.readFile('/etc/passwd'))?.toString('utf8') ?? '';
  for (const line of users.split('\n')) {
    const [name, , , , comment, dir] = line.split(':');
    // Only a user Vard made for this very site directory is removed.
    if (name && dir === home && comment?.startsWith(SITE_USER_COMMENT)) {
      // userdel keeps a user group that still has members: Apache leaves it first.
      await host.run(['gpasswd', '-d', APACHE_USER, name], { allowFail: true });
      await host.run(['userdel', name], { allowFail: true });
    }
  }
  await host.remove(home, { recursive: true });
}

export async function siteDirsOn(host: Host): Promise<string[]> {
  return (await host.list(SITES_ROOT)).filter((n) => !n.startsWith('.'));
}

/**
 * Which sites a new Apache set must be proven on with requests: all of them when Apache's main
 * file changed or what ran before is unknown; otherwise the sites whose vhost is new or changed
 * (the previous set is the version the daemon loaded, recorded until this one is verified),
 * compared by digest in one command.
 */
async function sitesChangedSince(host: Host, set: ConfigSet, sites: readonly Site[]): Promise<Set<string> | 'all'> {
  const loaded = (await host.readFile(loadedFileOf(set.daemon)))?.toString('utf8').trim();
  if (!loaded || !loaded.startsWith('v-')) return 'all';
  const before = `${configRoot(set.daemon)}/${loaded}`;
  const main = set.files.find((f) => !f.path.startsWith('sites/'));
  if (!main) return 'all';
  const vhosts = new Map(set.files.map((f) => [f.path, f.content]));
  const paths = [main.path, ...sites.map((s) => `sites/${s.slug}.conf`)];
  const sums = await fileDigests(host, paths.map((x) => `${before}/${x}`));
  const same = (path: string) => {
    const content = vhosts.get(path);
    return content !== undefined && sums.get(`${before}/${path}`) === digestOf(content);
  };
  if (!same(main.path)) return 'all';
  return new Set(sites.filter((s) => !same(`sites/${s.slug}.conf`)).map((s) => s.slug));
}

/** A few sites always get a PHP request, so a reload that broke PHP for every site is seen. */
const PHP_SAMPLE = 3;

/** The TCP ports listening on `address` (or on every address) on the host, from one `ss`. */
async function listeningPorts(host: Host, address: string): Promise<Set<number>> {
  const r = await host.run(['ss', '-Hltn']);
  const out = new Set<number>();
  for (const line of r.stdout.split('\n')) {
    // State Recv-Q Send-Q Local:Port Peer:Port
    const local = line.trim().split(/\s+/)[3];
    const cut = local?.lastIndexOf(':') ?? -1;
    if (!local || cut < 0) continue;
    const addr = local.slice(0, cut);
    if (addr === address || addr === '*' || addr === '0.0.0.0') out.add(Number(local.slice(cut + 1)));
  }
  return out;
}

/**
 * Waits until every given site's PHP pool has its socket. A PHP-FPM master re-executes itself on
 * its reload signal and opens a new pool's socket only then, while its health pool's socket (its
 * readiness probe) is already there: the new pools are what proves the new configuration runs.
 */
async function poolsListening(host: Host, sites: readonly Site[], timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sockets = new Set(await host.list(WEB_PATHS.phpRunDir));
    const noPool = sites.find((s) => !sockets.has(fpmSocket(s.slug).split('/').pop()!));
    if (!noPool) return;
    if (Date.now() > deadline) throw new Error(`${noPool.domain} has no PHP pool listening at ${fpmSocket(noPool.slug)} after ${timeoutMs} ms`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** After a PHP-FPM shard's change: every pool of that shard's sites has its socket. */
export async function verifyPhpPools(p: Platform, host: Host, set: ConfigSet): Promise<void> {
  await poolsListening(host, p.sites.filter((s) => fpmDaemon(fpmShardOf(s)) === set.daemon));
}

/**
 * Checks every site is served on this web server after an Apache change: every site's port is
 * listening and every site's PHP pool has its socket (one `ss`, one listing); the sites whose vhost
 * changed (all of them when the main file changed or the previous version is unknown; `set`
 * absent means all) and a few more answer their health file and PHP front page. A request to each
 * of 1,000 sites took a second per web server on every change and a PHP request to each started
 * 1,000 workers; a vhost that did not change, behind the pool that did not change, in an Apache
 * that passed its own check and took the reload, serves as it did. One curl for all requests, a
 * few at once; whatever did not answer 200 is asked again until the deadline.
 */
export async function verifyWebSites(p: Platform, spec: HostSpec, host: Host, set?: ConfigSet): Promise<void> {
  const sorted = [...p.sites].sort(bySlug);
  const php = set ? await sitesChangedSince(host, set, sorted) : 'all';
  await poolsListening(host, sorted);
  const listening = await listeningPorts(host, spec.privateAddress);
  const deaf = sorted.find((s) => !listening.has(s.port));
  if (deaf) throw new Error(`${deaf.domain}: nothing listens on ${spec.privateAddress}:${deaf.port}`);
  const asked = sorted.filter((s, i) => php === 'all' || php.has(s.slug) || i < PHP_SAMPLE);
  let pending = asked.flatMap((s) => ['/health.txt', '/'].map((path) => ({ url: `http://${spec.privateAddress}:${s.port}${path}`, domain: s.domain })));
  const got = new Map<string, number>();
  const deadline = Date.now() + 10_000;
  while (pending.length) {
    const config = pending.map((t) => [`url = "${t.url}"`, `header = "Host: ${t.domain}"`, 'output = "/dev/null"', 'max-time = 2', 'write-out = "%{http_code} %{url_effective}\\n"', ''].join('\n')).join('next\n');
    const r = await host.run(['curl', '--silent', '--parallel', '--parallel-max', '8', '--config', '-'], { input: config, allowFail: true, timeoutMs: 120_000 });
    for (const line of r.stdout.split('\n')) {
      const [code, url] = line.split(' ');
      if (url) got.set(url, Number(code) || 0);
    }
    pending = pending.filter((t) => got.get(t.url) !== 200);
    if (!pending.length || Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const bad = pending[0];
  if (bad) throw new Error(`${bad.domain} answered ${got.get(bad.url) || 'nothing'} on ${bad.url}${pending.length > 1 ? ` (and ${pending.length - 1} more)` : ''}`);
}
