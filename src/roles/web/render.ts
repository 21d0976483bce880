/** The web server's files, rendered purely from the model: Apache's tree and PHP-FPM's pools [S11]. */
import type { HostSpec, Platform } from '../../model/index.ts';
import { bySlug, header, SITES_ROOT, type ConfigSet } from '../../render/index.ts';

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

/** Apache's own health vhost, on loopback: it keeps Apache startable with no sites and lets Vard verify it. */
export const APACHE_HEALTH_PORT = 8079;
/** PHP-FPM always runs one Vard pool, so it starts with no sites and can be verified end to end. */
export const FPM_HEALTH_POOL = 'health';

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
] as const;

/**
 * A self-contained Apache tree (no Debian a2en* state): `apache2 -d <set> -f apache2.conf`.
 * Relative Includes resolve against the set's own directory, so `apache2 -t` on a staged set
 * checks exactly the files that will run.
 */
export function renderApache(p: Platform, self: HostSpec): ConfigSet {
  const sites = [...p.sites].sort(bySlug);
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
    'LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\" %D" vard',
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
        '    Options FollowSymLinks',
        '    AllowOverride None',
        '    Require all granted',
        '    DirectoryIndex index.php index.html',
        // Drupal's clean URLs: anything that is not a file goes to the front controller.
        '    FallbackResource /index.php',
        '  </Directory>',
        `  <Directory ${root}/sites/default/files>`,
        '    <FilesMatch "\\.(php|phar|phtml)$">',
        '      SetHandler none',
        '      Require all denied',
        '    </FilesMatch>',
        '  </Directory>',
        '  <FilesMatch "\\.php$">',
        `    SetHandler "proxy:unix:${fpmSocket(s.slug)}|fcgi://${s.slug}/"`,
        '  </FilesMatch>',
        `  ErrorLog /var/log/apache2/${s.slug}.error.log`,
        `  CustomLog /var/log/apache2/${s.slug}.access.log vard`,
        '</VirtualHost>',
        '',
      ].join('\n'),
    });
  }
  return { daemon: 'apache2', files };
}

/** One php-fpm.conf with every pool inline: one file is one unit to check (`php-fpm -t`) and swap. */
export function renderPhpFpm(p: Platform, self: HostSpec): ConfigSet {
  const sites = [...p.sites].sort(bySlug);
  const L = [
    header(';', `platform ${p.name}, host ${self.name}`).trimEnd(),
    '[global]',
    'pid = /run/php/php-fpm.pid',
    'error_log = /var/log/php-fpm.log',
    'daemonize = no',
    // A reload lets running requests finish instead of killing them mid-response.
    'process_control_timeout = 10s',
    '',
    `[${FPM_HEALTH_POOL}]`,
    'user = www-data',
    'group = www-data',
    `listen = ${fpmSocket(FPM_HEALTH_POOL)}`,
    'listen.owner = www-data',
    'listen.group = www-data',
    'listen.mode = 0660',
    'pm = ondemand',
    'pm.max_children = 2',
    '',
  ];
  for (const s of sites) {
    const home = siteHome(s.slug);
    L.push(
      `[${s.slug}]`,
      // The pool runs as the site's own Unix user, so one site cannot read another's files.
      `user = ${s.unixUser}`,
      `group = ${s.unixUser}`,
      `listen = ${fpmSocket(s.slug)}`,
      'listen.owner = www-data',
      'listen.group = www-data',
      'listen.mode = 0660',
      'pm = dynamic',
      'pm.max_children = 8',
      'pm.start_servers = 1',
      'pm.min_spare_servers = 1',
      'pm.max_spare_servers = 2',
      'pm.max_requests = 500',
      `chdir = ${home}/web`,
      `php_admin_value[error_log] = /var/log/php-${s.slug}.log`,
      'php_admin_flag[log_errors] = on',
      `php_admin_value[open_basedir] = ${home}:/tmp:/usr/share/php`,
      `php_admin_value[session.save_path] = ${home}/tmp`,
      `php_admin_value[upload_tmp_dir] = ${home}/tmp`,
      `env[VARD_SITE] = ${s.domain}`,
      '',
    );
  }
  return { daemon: 'php-fpm', files: [{ path: 'php-fpm.conf', content: L.join('\n') }] };
}
