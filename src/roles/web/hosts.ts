/** A web server's per-site state: the site's Unix user and its Drupal-shaped tree; and proof that every site answers. */
import { httpStatus } from '../../daemon/index.ts';
import { writeIfChanged, type Host } from '../../host/index.ts';
import type { HostSpec, Platform, Site, SiteDatabase } from '../../model/index.ts';
import { SITES_ROOT } from '../../render/index.ts';
import { balancerAddresses, siteHome, WEB_PATHS } from './render.ts';
import { renderSiteSkeleton, renderWebSupport, VARD_OWNED_SITE_FILES, WRITABLE_DIRS } from './site.ts';

const SITE_USER_COMMENT = 'vard site';

/** Support files and every site's user and tree. Idempotent. */
export async function prepareWebHost(p: Platform, host: Host): Promise<void> {
  for (const f of renderWebSupport()) await writeIfChanged(host, `${WEB_PATHS.apacheDefaultRoot}/${f.path}`, f.content, 0o644);
  const { proxies } = balancerAddresses(p);
  for (const s of p.sites) await prepareSite(host, s, p.databases?.[s.slug], proxies);
  await closeSiteHomes(host, p.sites);
}

/** Apache's user: it reads every site's static files, so it is a member of every site's group. */
const APACHE_USER = 'www-data';

/**
 * Each home is its site's alone: root:<site group> 0750, so another site's user cannot even pass
 * through it, while Apache, in every site's group, reaches the docroot. The temporary and private
 * directories are the site user's only (0700): not even Apache reads them. Every run, so a tree
 * made by an older Vard is closed too. One command for all sites.
 */
async function closeSiteHomes(host: Host, sites: readonly Site[]): Promise<void> {
  if (!sites.length) return;
  const groups = new Set((await host.run(['id', '-nG', APACHE_USER])).stdout.trim().split(/\s+/));
  const missing = sites.map((s) => s.unixUser).filter((g) => !groups.has(g));
  // Apache's children take up the groups when they start: the reload after a new site's vhost.
  if (missing.length) await host.run(['usermod', '-a', '-G', missing.join(','), APACHE_USER]);
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
  await host.run(['sh', '-c', script, 'vard-close-homes', ...sites.flatMap((s) => [siteHome(s.slug), s.unixUser])]);
}

async function ensureUser(host: Host, s: Site): Promise<void> {
  const r = await host.run(['getent', 'passwd', s.unixUser], { allowFail: true });
  if (r.exitCode === 0) return;
  await host.run([
    'useradd', '--system', '--user-group', '--no-create-home', '--home-dir', siteHome(s.slug),
    '--shell', '/usr/sbin/nologin', '--comment', `${SITE_USER_COMMENT} ${s.domain}`, s.unixUser,
  ]);
}

/** The site's user and its Drupal-shaped tree; existing files are the customer's and are left alone. */
async function prepareSite(host: Host, s: Site, db: SiteDatabase | undefined, proxies: readonly string[]): Promise<void> {
  await ensureUser(host, s);
  const home = siteHome(s.slug);
  let created = false;
  for (const f of renderSiteSkeleton(s, db, proxies)) {
    const path = `${home}/${f.path}`;
    // settings.php carries the database password: never world-readable, not even for a moment.
    const mode = f.path.endsWith('settings.php') ? 0o640 : 0o644;
    if (VARD_OWNED_SITE_FILES.includes(f.path)) created = (await writeIfChanged(host, path, f.content, mode)) || created;
    else if (!(await host.exists(path))) {
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

/** Checks every site answers on its own port on this web server: health file and PHP front page. */
export async function verifyWebSites(p: Platform, spec: HostSpec, host: Host): Promise<void> {
  for (const s of p.sites) {
    for (const path of ['/health.txt', '/']) {
      const url = `http://${spec.privateAddress}:${s.port}${path}`;
      let status = 0;
      const deadline = Date.now() + 10_000;
      while ((status = await httpStatus(host, url, { Host: s.domain })) !== 200 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
      }
      if (status !== 200) throw new Error(`${s.domain} answered ${status || 'nothing'} on ${url}`);
    }
  }
}
