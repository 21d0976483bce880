import type { Host } from '../host/index.ts';
import { configId, hostsWithRole, type HostSpec, type Platform, type Site, type SiteDatabase } from '../model/index.ts';
import {
  chkHaproxyScript,
  PATHS,
  PUBLIC_IF,
  renderSiteSkeleton,
  renderWebSupport,
  siteHome,
  VARD_OWNED_SITE_FILES,
  varnishBackendName,
  WRITABLE_DIRS,
} from '../render/index.ts';
import { DRIVERS, httpStatus } from '../daemon/index.ts';

const SITE_USER_COMMENT = 'vard site';

/** Everything a host needs besides daemon configs: support files, site users and site trees. Idempotent. */
export async function prepareHost(p: Platform, spec: HostSpec, host: Host): Promise<void> {
  await host.mkdir('/run/vard');
  await host.mkdir('/var/log/vard');
  if (spec.roles.includes('lb')) {
    await writeIfChanged(host, `${PATHS.binDir}/chk-haproxy`, chkHaproxyScript(), 0o755);
  }
  if (spec.roles.includes('web')) {
    for (const f of renderWebSupport()) await writeIfChanged(host, `${PATHS.apacheDefaultRoot}/${f.path}`, f.content, 0o644);
    for (const s of p.sites) await prepareSite(host, s, p.databases?.[s.slug]);
  }
}

async function writeIfChanged(host: Host, path: string, content: string, mode: number): Promise<boolean> {
  const cur = await host.readFile(path);
  if (cur && cur.toString('utf8') === content) return false;
  await host.writeFile(path, content, { mode });
  return true;
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
async function prepareSite(host: Host, s: Site, db: SiteDatabase | undefined): Promise<void> {
  await ensureUser(host, s);
  const home = siteHome(s.slug);
  let created = false;
  for (const f of renderSiteSkeleton(s, db)) {
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
  await host.run(['chmod', '755', home, `${home}/web`]);
  await host.run(['chown', '-R', `${s.unixUser}:${s.unixUser}`, ...WRITABLE_DIRS.filter((d) => !d.startsWith('private') || s.drupal !== 7).map((d) => `${home}/${d}`)]);
  const settings = `${home}/web/sites/default/settings.php`;
  await host.run(['chown', `root:${s.unixUser}`, settings]);
  await host.run(['chmod', '640', settings]);
}

/** Removes a site's user and tree from a web server, after no daemon refers to them any more. */
export async function removeSiteFromHost(host: Host, slug: string): Promise<void> {
  const home = siteHome(slug);
  if (!home.startsWith(`${PATHS.sitesRoot}/`) || slug.includes('/') || slug.startsWith('.')) return;
  const users = (await host.readFile('/etc/passwd'))?.toString('utf8') ?? '';
  for (const line of users.split('\n')) {
    const [name, , , , comment, dir] = line.split(':');
    // Only a user Vard made for this very site directory is removed.
    if (name && dir === home && comment?.startsWith(SITE_USER_COMMENT)) {
      await host.run(['userdel', name], { allowFail: true });
    }
  }
  await host.remove(home, { recursive: true });
}

export async function siteDirsOn(host: Host): Promise<string[]> {
  return (await host.list(PATHS.sitesRoot)).filter((n) => !n.startsWith('.'));
}

/** Sends commands to HAProxy's runtime API on a load balancer. */
export async function haproxyCommand(host: Host, commands: readonly string[]): Promise<string> {
  if (!commands.length) return '';
  const r = await host.run(['socat', '-t', '2', 'STDIO', `UNIX-CONNECT:${PATHS.haproxySocket}`], { input: `${commands.join('; ')}\n`, allowFail: true });
  return r.stdout;
}

/**
 * Takes a web server out of rotation in every load balancer (HAProxy drain: no new requests,
 * running ones finish; Varnish: marked sick) or puts it back.
 */
export async function setWebRotation(p: Platform, hostOf: (n: string) => Host, web: string, inRotation: boolean): Promise<void> {
  for (const lb of hostsWithRole(p.topology, 'lb')) {
    const h = hostOf(lb.name);
    try {
      if (await DRIVERS.haproxy.running(h)) {
        await haproxyCommand(h, p.sites.map((s) => `set server be_web_${configId(s.slug)}/${web} state ${inRotation ? 'ready' : 'drain'}`));
      }
      if (await DRIVERS.varnish.running(h)) {
        for (const s of p.sites) {
          await h.run(['varnishadm', '-n', PATHS.varnishWorkdir, 'backend.set_health', varnishBackendName(web, s.slug), inRotation ? 'auto' : 'sick'], { allowFail: true });
        }
      }
    } catch {
      // A load balancer that is down routes nothing; there is nothing to drain there.
    }
  }
  if (!inRotation) await waitForIdle(p, hostOf, web);
}

/** Waits (bounded) until no load balancer has a request in flight to `web`. */
async function waitForIdle(p: Platform, hostOf: (n: string) => Host, web: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (const lb of hostsWithRole(p.topology, 'lb')) {
    const h = hostOf(lb.name);
    for (;;) {
      let busy = 0;
      try {
        // `show stat` CSV: pxname,svname,qcur,qmax,scur,… (scur = current sessions)
        const csv = await haproxyCommand(h, ['show stat']);
        for (const line of csv.split('\n')) {
          const c = line.split(',');
          if (c[0]?.startsWith('be_web_') && c[1] === web) busy += Number(c[4]) || 0;
        }
      } catch {
        break;
      }
      if (busy === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** Which load balancers carry the public VIP right now. */
export async function vipHolders(p: Platform, hostOf: (n: string) => Host): Promise<string[]> {
  const out: string[] = [];
  for (const lb of hostsWithRole(p.topology, 'lb')) {
    try {
      const r = await hostOf(lb.name).run(['ip', '-o', '-4', 'addr', 'show', 'dev', PUBLIC_IF], { allowFail: true });
      if (r.stdout.includes(` ${p.topology.publicVip}/`)) out.push(lb.name);
    } catch {
      // down hosts hold nothing we can see
    }
  }
  return out;
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
