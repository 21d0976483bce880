/** A web server's per-site state: the site's Unix user and its Drupal-shaped tree; and proof that every site answers. */
import { writeIfChanged, type Host } from '../../host/index.ts';
import type { HostSpec, Platform, Site, SiteDatabase } from '../../model/index.ts';
import { bySlug, configRoot, SITES_ROOT, type ConfigSet } from '../../render/index.ts';
import { loadedFileOf } from '../../apply/config-set.ts';
import { balancerAddresses, fpmSocket, siteHome, WEB_PATHS } from './render.ts';
import { renderSiteSkeleton, renderWebSupport, VARD_OWNED_SITE_FILES, WRITABLE_DIRS } from './site.ts';

const SITE_USER_COMMENT = 'vard site';

/**
 * Where site accounts' ids come from: not the system range (`--system`, 100-999 on Debian), which
 * ran out at the 888th site, but a block of the ordinary range that holds every site port
 * (SITE_PORT_BLOCKS: 10,919) with room to spare. Accounts made before keep their ids.
 */
const SITE_ID_RANGE = ['UID_MIN=20000', 'UID_MAX=59999', 'GID_MIN=20000', 'GID_MAX=59999'];

/**
 * Support files and every site's user and tree. Idempotent, and cheap for the sites already in
 * place: one read of /etc/passwd, one listing of the homes' owners, and per site only the files
 * Vard owns compared, so 1,000 sites do not cost a process per site on every run.
 */
export async function prepareWebHost(p: Platform, host: Host): Promise<void> {
  for (const f of renderWebSupport()) await writeIfChanged(host, `${WEB_PATHS.apacheDefaultRoot}/${f.path}`, f.content, 0o644);
  const { proxies } = balancerAddresses(p);
  const users = new Set(((await host.readFile('/etc/passwd'))?.toString('utf8') ?? '').split('\n').map((l) => l.split(':')[0]));
  const homes = new Set(await host.list(SITES_ROOT));
  // One at a time: useradd locks the account files and gives up when another holds them.
  for (const s of p.sites) if (!users.has(s.unixUser)) await ensureUser(host, s);
  // A few sites at a time: file operations only.
  await inBatches(p.sites, 16, (s) => prepareSite(host, s, p.databases?.[s.slug], proxies, homes.has(s.slug)));
  await closeSiteHomes(host, p.sites);
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
  const groups = new Set((await host.run(['id', '-nG', APACHE_USER])).stdout.trim().split(/\s+/));
  const missing = sites.map((s) => s.unixUser).filter((g) => !groups.has(g));
  // Apache's children take up the groups when they start: the reload after a new site's vhost.
  if (missing.length) await host.run(['usermod', '-a', '-G', missing.join(','), APACHE_USER]);
  const listing = await host.run(['find', SITES_ROOT, '-mindepth', '1', '-maxdepth', '2', '-type', 'd', '-printf', '%p %u %g %m\\n']);
  const seen = new Map<string, string>();
  for (const line of listing.stdout.split('\n')) {
    const cut = line.indexOf(' ');
    if (cut > 0) seen.set(line.slice(0, cut), line.slice(cut + 1));
  }
  const open = sites.filter((s) => {
    const home = siteHome(s.slug);
    const own = `${s.unixUser} ${s.unixUser} 700`;
    return seen.get(home) !== `root ${s.unixUser} 750` || [`${home}/tmp`, `${home}/private`].some((d) => seen.has(d) && seen.get(d) !== own);
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

async function ensureUser(host: Host, s: Site): Promise<void> {
  const r = await host.run(['getent', 'passwd', s.unixUser], { allowFail: true });
  if (r.exitCode === 0) return;
  await host.run([
    'useradd', '--user-group', '--no-create-home', '--home-dir', siteHome(s.slug),
    ...SITE_ID_RANGE.flatMap((k) => ['--key', k]),
    '--shell', '/usr/sbin/nologin', '--comment', `${SITE_USER_COMMENT} ${s.domain}`, s.unixUser,
  ]);
}

/**
 * The site's Drupal-shaped tree; existing files are the customer's and are left alone. `hasHome`:
 * what the caller's one listing of the homes found.
 */
async function prepareSite(host: Host, s: Site, db: SiteDatabase | undefined, proxies: readonly string[], hasHome: boolean): Promise<void> {
  const home = siteHome(s.slug);
  const skeleton = renderSiteSkeleton(s, db, proxies);
  // The skeleton is written in order, so its last file there means the rest was written before;
  // then only Vard's own files are compared (a file the customer removed since stays removed).
  const last = skeleton[skeleton.length - 1];
  const finished = hasHome && last !== undefined && (await host.exists(`${home}/${last.path}`));
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
  await host.run(['chown', '-R', `${s.unixUser}:${s.unixUser}`, ...WRITABLE_DIRS.filter((d) => !d.startsWith('private') || s.drupal !== 7).map((d) => `${home}/${d}`)]);
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
 * Which sites' PHP front page a new Apache set must be proven on: all of them when Apache's main
 * file changed or what ran before is unknown; otherwise the sites whose vhost is new or changed
 * (the previous set is the version the daemon loaded, recorded until this one is verified).
 */
async function sitesChangedSince(host: Host, set: ConfigSet, sites: readonly Site[]): Promise<Set<string> | 'all'> {
  const loaded = (await host.readFile(loadedFileOf(set.daemon)))?.toString('utf8').trim();
  if (!loaded || !loaded.startsWith('v-')) return 'all';
  const before = `${configRoot(set.daemon)}/${loaded}`;
  const same = async (path: string, content: string) => (await host.readFile(`${before}/${path}`))?.toString('utf8') === content;
  const main = set.files.find((f) => !f.path.startsWith('sites/'));
  if (!main || !(await same(main.path, main.content))) return 'all';
  const changed = new Set<string>();
  await inBatches(sites, 32, async (s) => {
    const f = set.files.find((x) => x.path === `sites/${s.slug}.conf`);
    if (!f || !(await same(f.path, f.content))) changed.add(s.slug);
  });
  return changed;
}

/** A few sites always get a PHP request, so a reload that broke PHP for every site is seen. */
const PHP_SAMPLE = 3;

/**
 * Checks every site answers on its own port on this web server: the health file on every site
 * (its port, vhost and tree), every site's PHP pool listening, and the PHP front page on the sites
 * whose vhost changed plus a few (`set`: the Apache set just loaded; without it, every site). A PHP
 * request to each of 1,000 sites started 1,000 workers and took most of a minute; an unchanged
 * vhost in front of an unchanged pool of a PHP-FPM that is up answers as it did. One curl for all
 * requests, a few at once; whatever did not answer 200 is asked again until the deadline.
 */
export async function verifyWebSites(p: Platform, spec: HostSpec, host: Host, set?: ConfigSet): Promise<void> {
  const sorted = [...p.sites].sort(bySlug);
  const php = set ? await sitesChangedSince(host, set, sorted) : 'all';
  const sockets = new Set(await host.list(WEB_PATHS.phpRunDir));
  const noPool = sorted.find((s) => !sockets.has(fpmSocket(s.slug).split('/').pop()!));
  if (noPool) throw new Error(`${noPool.domain} has no PHP pool listening at ${fpmSocket(noPool.slug)}`);
  const phpToo = (s: Site, i: number) => php === 'all' || php.has(s.slug) || i < PHP_SAMPLE;
  let pending = sorted.flatMap((s, i) => ['/health.txt', ...(phpToo(s, i) ? ['/'] : [])].map((path) => ({ url: `http://${spec.privateAddress}:${s.port}${path}`, domain: s.domain })));
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
