/** The web server's files, rendered purely from the model: Apache's tree and PHP-FPM's pools [S11]. */
import type { HostSpec, Platform, Site } from '../../model/index.ts';
import { bySlug, header, SITES_ROOT, type ConfigSet } from '../../render/index.ts';
import { siteFilesLayout } from '../files/render.ts';

export const WEB_ROLE = 'web';
export const WEB_PATHS = {
  phpRunDir: '/run/php',
  apacheDefaultRoot: '/srv/vard/default',
} as const;

export function siteHome(slug: string): string {
  return `${SITES_ROOT}/${slug}`;
}
export function siteDocroot(slug: string): string {
  return `${siteHome(slug)}/web`;
}
export function fpmSocket(name: string): string {
  return `${WEB_PATHS.phpRunDir}/vard-${name}.sock`;
}

/**
 * The load balancers, found without naming their role: only balancers have a leg on the public
 * segment. `proxies` connect to the web servers (their private addresses) and are the only
 * addresses whose X-Forwarded-For is believed; `publicSide` are the addresses a request made on a
 * balancer itself may carry (its public leg, the VIP).
 */
export function balancerAddresses(p: Platform): { readonly proxies: string[]; readonly publicSide: string[] } {
  const lbs = p.topology.hosts.filter((h) => h.publicAddress);
  return {
    proxies: [...new Set(lbs.map((h) => h.privateAddress))].sort(),
    publicSide: [...new Set([...lbs.map((h) => h.publicAddress!), p.topology.publicVip])].sort(),
  };
}

/** PHP workers per site and web server; the site's share of Apache follows from it. */
export const FPM_MAX_CHILDREN = 8;
/** How long an idle PHP worker of a site stays before it exits. */
export const FPM_IDLE_TIMEOUT = '10s';

/**
 * What a site's PHP may not call: everything that starts a process (the shell ignores open_basedir
 * and file permissions are all that is left), and putenv, which with mail() loads a library of the
 * caller's choosing (LD_PRELOAD).
 */
export const PHP_DISABLED_FUNCTIONS = [
  'exec', 'passthru', 'shell_exec', 'system', 'proc_open', 'popen', 'pcntl_exec', 'pcntl_fork', 'putenv', 'dl',
] as const;

/** Apache's own health vhost, on loopback: it keeps Apache startable with no sites and lets Vard verify it. */
export const APACHE_HEALTH_PORT = 8079;
/** PHP-FPM always runs one Vard pool, so it starts with no sites and can be verified end to end. */
export const FPM_HEALTH_POOL = 'health';

/**
 * PHP-FPM masters per web server, each with its share of the pools. One master parses every pool
 * on `php-fpm -t` and again on every reload, and looks each pool's user up in /etc/passwd: with
 * 1,000 pools that was 0.8 s twice per web server for every site created. A site's pools live in
 * shard `port % FPM_SHARDS` (ports are unique and never reused), so a new site changes one master,
 * an eighth of the pools. A fixed count: a shard never empties out of the rendered set, so none is
 * ever left running unmanaged.
 */
export const FPM_SHARDS = 8;

/** The daemon (config set, driver, pid and log names) of shard `k`; shard 0 keeps the name of the one master before shards. */
export function fpmDaemon(k: number): string {
  return k === 0 ? 'php-fpm' : `php-fpm-${k}`;
}

/** The shard a site's PHP pool runs in. */
export function fpmShardOf(site: { readonly port: number }): number {
  return site.port % FPM_SHARDS;
}

/** Each shard's own always-there pool (shard 0's is Apache's health pool); site slugs have no dots, so these never collide. */
export function fpmHealthPool(k: number): string {
  return k === 0 ? FPM_HEALTH_POOL : `${FPM_HEALTH_POOL}.${k}`;
}

const MODULES = [
  'mpm_event',
  'authz_core',
  'authz_host',
  'mime',
  'dir',
  'alias',
  'headers',
  'setenvif',
  'proxy',
  'proxy_fcgi',
  'remoteip',
] as const;

/**
 * A self-contained Apache tree (no Debian a2en* state): `apache2 -d <set> -f apache2.conf`.
 * Relative Includes resolve against the set's own directory, so `apache2 -t` on a staged set
 * checks exactly the files that will run.
 */
export function renderApache(p: Platform, self: HostSpec): ConfigSet {
  const sites = [...p.sites].sort(bySlug);
  const lbs = balancerAddresses(p);
  // Who may see the internal pages: the balancers (their checks and anything run on them), the
  // web server itself (Vard's verify asks its own address) and loopback.
  const internal = [...lbs.proxies, ...lbs.publicSide, self.privateAddress, '127.0.0.1', '::1'].filter((a, i, all) => all.indexOf(a) === i);
  const main = [
    header('#', `platform ${p.name}, host ${self.name}`).trimEnd(),
    `ServerName ${self.name}`,
    'PidFile /run/apache2/apache2.pid',
    'DefaultRuntimeDir /run/apache2',
    'User www-data',
    'Group www-data',
    'ErrorLog /var/log/apache2/error.log',
    'LogLevel warn',
    ...MODULES.map((m) => `LoadModule ${m}_module /usr/lib/apache2/modules/mod_${m}.so`),
    'TypesConfig /etc/mime.types',
    'StartServers 1',
    'ServerLimit 4',
    'ThreadsPerChild 25',
    'MaxRequestWorkers 100',
    'MinSpareThreads 25',
    'MaxSpareThreads 75',
    'KeepAlive On',
    'MaxKeepAliveRequests 1000',
    'KeepAliveTimeout 5',
    'Timeout 60',
    'ServerTokens Prod',
    'ServerSignature Off',
    'TraceEnable Off',
    'AccessFileName .htaccess',
    // The client is the address the balancers saw: X-Forwarded-For is read right to left and only
    // while the hop that added an entry is a balancer (Varnish adds 127.0.0.1 for its local
    // HAProxy). An entry a client wrote itself is never reached, so it is never believed.
    'RemoteIPHeader X-Forwarded-For',
    `RemoteIPInternalProxy ${[...lbs.proxies, '127.0.0.1'].join(' ')}`,
    'LogFormat "%a %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D" vard',
    '<Directory />',
    '  Options FollowSymLinks',
    '  AllowOverride None',
    '  Require all denied',
    '</Directory>',
    '<FilesMatch "^\\.ht">',
    '  Require all denied',
    '</FilesMatch>',
    // Every response names the web server that produced it.
    `Header always set X-Served-By "${self.name}"`,
    '',
    `Listen 127.0.0.1:${APACHE_HEALTH_PORT}`,
    `<VirtualHost 127.0.0.1:${APACHE_HEALTH_PORT}>`,
    '  ServerName health',
    `  DocumentRoot ${WEB_PATHS.apacheDefaultRoot}`,
    `  <Directory ${WEB_PATHS.apacheDefaultRoot}>`,
    '    Require all granted',
    '  </Directory>',
    '  <FilesMatch "\\.php$">',
    `    SetHandler "proxy:unix:${fpmSocket(FPM_HEALTH_POOL)}|fcgi://vard-${FPM_HEALTH_POOL}/"`,
    '  </FilesMatch>',
    '</VirtualHost>',
    '',
    'IncludeOptional sites/*.conf',
    '',
  ].join('\n');
  const files = [{ path: 'apache2.conf', content: main }];
  for (const s of sites) {
    const root = siteDocroot(s.slug);
    files.push({
      path: `sites/${s.slug}.conf`,
      content: [
        header('#', `site ${s.domain} (customer ${s.customer})`).trimEnd(),
        // One port per site on every web server [S11].
        `Listen ${self.privateAddress}:${s.port}`,
        `<VirtualHost ${self.privateAddress}:${s.port}>`,
        `  ServerName ${s.domain}`,
        `  DocumentRoot ${root}`,
        `  <Directory ${root}>`,
        // No symbolic links: a link the site's PHP (or its deploy) makes would let Apache, which
        // may read every site's tree, publish what the link points at.
        '    Options None',
        '    AllowOverride None',
        '    Require all granted',
        '    DirectoryIndex index.php index.html',
        // Drupal's clean URLs: anything that is not a file goes to the front controller.
        '    FallbackResource /index.php',
        // Vard's own pages are for the balancers' checks and Vard, never the public; never cached.
        '    <FilesMatch "^(health\\.txt|db-check\\.php)$">',
        `      Require ip ${internal.join(' ')}`,
        '      Header always set Cache-Control "no-store"',
        '    </FilesMatch>',
        '  </Directory>',
        `  <Directory ${root}/sites/default/files>`,
        '    <FilesMatch "\\.(php|phar|phtml)$">',
        '      SetHandler none',
        '      Require all denied',
        '    </FilesMatch>',
        '  </Directory>',
        ...sharedFilesVhost(p, s),
        '  <FilesMatch "\\.php$">',
        `    SetHandler "proxy:unix:${fpmSocket(s.slug)}|fcgi://${s.slug}/"`,
        '  </FilesMatch>',
        // The site's share of Apache's workers: at most as many connections to its pool per Apache
        // process as the pool has workers; a request that finds none free within a second gets
        // 503 instead of holding a worker every other site needs.
        `  <Proxy "unix:${fpmSocket(s.slug)}|fcgi://${s.slug}/">`,
        `    ProxySet max=${FPM_MAX_CHILDREN} acquire=1000`,
        '  </Proxy>',
        `  ErrorLog /var/log/apache2/${s.slug}.error.log`,
        `  CustomLog /var/log/apache2/${s.slug}.access.log vard`,
        '</VirtualHost>',
        '',
      ].join('\n'),
    });
  }
  return { daemon: 'apache2', files };
}

/**
 * With a files tier, `sites/default/files` in the tree is a link to the site's directory on the
 * volume. Apache serves that URL from the volume by an Alias instead of following the link: links
 * stay refused everywhere (`Options None`), including any a site's PHP makes among its uploads.
 */
function sharedFilesVhost(p: Platform, s: Site): string[] {
  const files = siteFilesLayout(p, s);
  if (!files) return [];
  return [
    `  Alias /sites/default/files ${files.public}`,
    `  <Directory ${files.public}>`,
    '    Options None',
    '    AllowOverride None',
    '    Require all granted',
    // A missing file goes to Drupal, as in the tree (image styles are made on first request).
    '    FallbackResource /index.php',
    '    <FilesMatch "\\.(php|phar|phtml)$">',
    '      SetHandler none',
    '      Require all denied',
    '    </FilesMatch>',
    '  </Directory>',
  ];
}

/** Every PHP-FPM shard's config set, shard 0 first. */
export function renderPhpFpmShards(p: Platform, self: HostSpec): ConfigSet[] {
  return Array.from({ length: FPM_SHARDS }, (_, k) => renderPhpFpm(p, self, k));
}

/** One shard's php-fpm.conf with its pools inline: one file is one unit to check (`php-fpm -t`) and swap. */
export function renderPhpFpm(p: Platform, self: HostSpec, shard = 0): ConfigSet {
  const sites = p.sites.filter((s) => fpmShardOf(s) === shard).sort(bySlug);
  const daemon = fpmDaemon(shard);
  const health = fpmHealthPool(shard);
  const L = [
    header(';', `platform ${p.name}, host ${self.name}`).trimEnd(),
    '[global]',
    `pid = /run/php/${daemon}.pid`,
    `error_log = /var/log/${daemon}.log`,
    'daemonize = no',
    // A reload lets running requests finish instead of killing them mid-response.
    'process_control_timeout = 10s',
    '',
    `[${health}]`,
    'user = www-data',
    'group = www-data',
    `listen = ${fpmSocket(health)}`,
    'listen.owner = www-data',
    'listen.group = www-data',
    'listen.mode = 0660',
    'pm = ondemand',
    'pm.max_children = 2',
    '',
  ];
  for (const s of sites) {
    const home = siteHome(s.slug);
    const shared = siteFilesLayout(p, s);
    L.push(
      `[${s.slug}]`,
      // The pool runs as the site's own Unix user, so one site cannot read another's files.
      `user = ${s.unixUser}`,
      `group = ${s.unixUser}`,
      `listen = ${fpmSocket(s.slug)}`,
      'listen.owner = www-data',
      'listen.group = www-data',
      'listen.mode = 0660',
      // A worker only while the site has requests: with a started child per pool, 1,000 sites were
      // 1,000 idle processes on every web server. The first request after an idle spell pays a fork.
      'pm = ondemand',
      `pm.max_children = ${FPM_MAX_CHILDREN}`,
      `pm.process_idle_timeout = ${FPM_IDLE_TIMEOUT}`,
      'pm.max_requests = 500',
      `chdir = ${home}/web`,
      `php_admin_value[error_log] = /var/log/php-${s.slug}.log`,
      'php_admin_flag[log_errors] = on',
      // A stuck request gives its worker back; Apache stops waiting after Timeout (60 s) anyway.
      'request_terminate_timeout = 60s',
      // The trailing slash matters: without it the basedir is a prefix, and site `a-example-com`
      // could open `a-example-community`'s files. No /tmp: other sites' temporary files are there.
      // With a files tier its uploads are on the volume, in a directory of its own.
      `php_admin_value[open_basedir] = ${[`${home}/`, ...(shared ? [`${shared.dir}/`] : []), '/usr/share/php/'].join(':')}`,
      `php_admin_value[sys_temp_dir] = ${home}/tmp`,
      `php_admin_value[session.save_path] = ${home}/tmp`,
      `php_admin_value[upload_tmp_dir] = ${home}/tmp`,
      `php_admin_value[disable_functions] = ${PHP_DISABLED_FUNCTIONS.join(',')}`,
      `env[TMPDIR] = ${home}/tmp`,
      `env[VARD_SITE] = ${s.domain}`,
      '',
    );
  }
  return { daemon, files: [{ path: 'php-fpm.conf', content: L.join('\n') }] };
}
