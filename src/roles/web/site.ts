import { DB_CHECK_TABLE, shortHash, type Site, type SiteDatabase } from '../../model/index.ts';
import { header, type RenderedFile } from '../../render/index.ts';

/** Files of a site's tree that Vard owns and keeps current; everything else is written only where missing. */
export const VARD_OWNED_SITE_FILES = ['web/health.txt', 'web/db-check.php', 'web/sites/default/settings.php'];

/**
 * The Drupal-shaped tree a new site starts with, relative to its home (`/srv/vard/sites/<slug>`).
 * Written only where missing: after creation the code belongs to the customer. The files in
 * VARD_OWNED_SITE_FILES are Vard's (settings.php carries the managed header and the database
 * credentials, which move with the platform) and are always kept current.
 */
export function renderSiteSkeleton(site: Site, db?: SiteDatabase, proxies: readonly string[] = [], shared = false): RenderedFile[] {
  const files: RenderedFile[] = [
    { path: 'web/health.txt', content: 'OK\n' },
    { path: 'web/index.php', content: indexPhp(site) },
    { path: 'web/db-check.php', content: dbCheckPhp(site) },
    { path: 'web/robots.txt', content: 'User-agent: *\nDisallow: /admin/\nDisallow: /user/\n' },
    { path: 'web/sites/default/settings.php', content: site.drupal === 7 ? settingsD7(site, db, proxies) : settingsD10(site, db, proxies) },
    { path: 'web/sites/default/files/.keep', content: '' },
    { path: 'tmp/.keep', content: '' },
  ];
  if (site.drupal === 7) {
    files.push(
      { path: 'web/includes/bootstrap.inc', content: "<?php\n// Drupal 7 core is installed here.\ndefine('VERSION', '7.x');\n" },
      { path: 'web/sites/all/modules/.keep', content: '' },
      { path: 'web/sites/all/themes/.keep', content: '' },
      { path: 'web/modules/.keep', content: '' },
      { path: 'web/themes/.keep', content: '' },
    );
  } else {
    files.push(
      { path: 'composer.json', content: composerJson(site) },
      { path: 'web/core/lib/Drupal.php', content: "<?php\n// Drupal core (drupal/core) is installed here by Composer.\n" },
      { path: 'web/modules/contrib/.keep', content: '' },
      { path: 'web/modules/custom/.keep', content: '' },
      { path: 'web/themes/contrib/.keep', content: '' },
      { path: 'web/profiles/.keep', content: '' },
      { path: 'config/sync/.keep', content: '' },
      { path: 'private/.keep', content: '' },
    );
  }
  // On a platform with a files tier these two are links to the site's directory on the volume (SHARED_DIRS).
  return shared ? files.filter((f) => !SHARED_DIRS.some((d) => f.path.startsWith(`${d}/`))) : files;
}

/**
 * Where Drupal keeps what its users upload: on a platform with a files tier, links to the site's
 * directory on the volume every web server mounts (public and private files, in that order), so an
 * upload through one web server is there on all of them.
 */
export const SHARED_DIRS = ['web/sites/default/files', 'private'] as const;

/** Files under these paths are the site user's to write; the rest of the tree is read-only to PHP. */
export const WRITABLE_DIRS = ['web/sites/default/files', 'tmp', 'private'];

function salt(site: Site): string {
  return shortHash(`salt:${site.slug}:${site.createdAt}`, 43);
}

/** A PHP single-quoted string literal: only backslash and quote are special. */
function phpString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Drupal 8+ (10): the connection array with the core mysql driver's namespace and autoload path. */
function databasesD10(db: SiteDatabase | undefined): string[] {
  if (!db) return ['$databases = [];'];
  return [
    "$databases['default']['default'] = [",
    `  'database' => ${phpString(db.name)},`,
    `  'username' => ${phpString(db.user)},`,
    `  'password' => ${phpString(db.password)},`,
    `  'host' => ${phpString(db.host)},`,
    `  'port' => ${phpString(String(db.port))},`,
    "  'driver' => 'mysql',",
    "  'prefix' => '',",
    "  'collation' => 'utf8mb4_general_ci',",
    "  'namespace' => 'Drupal\\mysql\\Driver\\Database\\mysql',",
    "  'autoload' => 'core/modules/mysql/src/Driver/Database/mysql/',",
    '];',
  ];
}

/** Drupal 7: the nested array() form, no namespace or autoload keys. */
function databasesD7(db: SiteDatabase | undefined): string[] {
  if (!db) return ['$databases = array();'];
  return [
    '$databases = array(',
    "  'default' => array(",
    "    'default' => array(",
    `      'database' => ${phpString(db.name)},`,
    `      'username' => ${phpString(db.user)},`,
    `      'password' => ${phpString(db.password)},`,
    `      'host' => ${phpString(db.host)},`,
    `      'port' => ${phpString(String(db.port))},`,
    "      'driver' => 'mysql',",
    "      'prefix' => '',",
    '    ),',
    '  ),',
    ');',
  ];
}

/**
 * `proxies`: the balancers' private addresses, the only hosts whose X-Forwarded-For Drupal may
 * believe. Apache has already put the client's address in REMOTE_ADDR; this keeps Drupal right
 * even where it has not.
 */
function settingsD10(site: Site, db: SiteDatabase | undefined, proxies: readonly string[]): string {
  return [
    '<?php',
    header('//', `site ${site.domain}; Drupal ${site.drupal} settings`).trimEnd(),
    '',
    ...databasesD10(db),
    `$settings['hash_salt'] = '${salt(site)}';`,
    "$settings['config_sync_directory'] = '../config/sync';",
    "$settings['file_private_path'] = '../private';",
    "$settings['file_temp_path'] = '../tmp';",
    `$settings['trusted_host_patterns'] = ['^${site.domain.replace(/\./g, '\\.')}$'];`,
    "$settings['reverse_proxy'] = TRUE;",
    `$settings['reverse_proxy_addresses'] = [${proxies.map(phpString).join(', ')}];`,
    '',
  ].join('\n');
}

function settingsD7(site: Site, db: SiteDatabase | undefined, proxies: readonly string[]): string {
  return [
    '<?php',
    header('//', `site ${site.domain}; Drupal ${site.drupal} settings`).trimEnd(),
    '',
    ...databasesD7(db),
    `$drupal_hash_salt = '${salt(site)}';`,
    "$conf['reverse_proxy'] = TRUE;",
    `$conf['reverse_proxy_addresses'] = array(${proxies.map(phpString).join(', ')});`,
    "$conf['file_temporary_path'] = '../tmp';",
    '',
  ].join('\n');
}

function composerJson(site: Site): string {
  return `${JSON.stringify(
    {
      name: `vard/${site.slug}`,
      type: 'project',
      require: { 'drupal/core-recommended': `^${site.drupal}` },
      extra: { 'drupal-scaffold': { locations: { 'web-root': 'web/' } } },
    },
    null,
    2,
  )}\n`;
}

/**
 * A stand-in front controller until the site's real Drupal code is deployed. It behaves like
 * Drupal's page cache for the proxies: cacheable for anonymous visitors, private with a session.
 */
function indexPhp(site: Site): string {
  return `<?php
// Placeholder front controller for ${site.domain}; replace with the site's Drupal code.
$session = false;
foreach ($_COOKIE as $name => $value) {
  if (preg_match('/^S?SESS[A-Za-z0-9_]+$/', $name)) { $session = true; }
}
$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
$user = function_exists('posix_geteuid') ? (posix_getpwuid(posix_geteuid())['name'] ?? '?') : get_current_user();
header('X-Vard-PHP-User: ' . $user);
if ($_SERVER['REQUEST_METHOD'] === 'POST' && $path === '/user/login') {
  setcookie('SESS' . substr(sha1('${site.slug}'), 0, 32), bin2hex(random_bytes(16)), 0, '/', '', false, true);
}
if ($session || preg_match('#^/(user|admin)(/|$)#', $path) || $_SERVER['REQUEST_METHOD'] !== 'GET') {
  header('Cache-Control: private, no-cache');
} else {
  header('Cache-Control: public, max-age=300');
}
header('Content-Type: text/html; charset=utf-8');
printf("<!DOCTYPE html><html><head><title>%s</title></head><body><h1>%s</h1><p>Drupal ${site.drupal} site, served by %s as %s at %s for %s</p></body></html>\\n",
  '${site.domain}', '${site.domain}', gethostname(), $user, gmdate('c'), htmlspecialchars($path));
`;
}

/**
 * Proves the web tier → database path: one write and one read through the database VIP with the
 * site's own credentials from settings.php. One row per web server, rewritten on every request,
 * so the table never outgrows the tier. The answer names no host and no address: it reaches the
 * balancers only, but an answer is still an answer. Never cached (no-store).
 */
function dbCheckPhp(site: Site): string {
  return `<?php
// Vard's database check for ${site.domain}: one row per web server, rewritten on every request.
header('Cache-Control: no-store');
header('Content-Type: application/json');
$databases = array(); $settings = array(); $conf = array();
require __DIR__ . '/sites/default/settings.php';
$d = $databases['default']['default'] ?? null;
if (!$d) { http_response_code(503); echo json_encode(['ok' => false, 'error' => 'no database configured']), "\n"; exit; }
try {
  $pdo = new PDO('mysql:host=' . $d['host'] . ';port=' . $d['port'] . ';dbname=' . $d['database'], $d['username'], $d['password'],
    [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 2]);
  $pdo->prepare('INSERT INTO ${DB_CHECK_TABLE} (at, web) VALUES (NOW(6), ?) ON DUPLICATE KEY UPDATE at = NOW(6)')->execute([gethostname()]);
  $n = (int) $pdo->query('SELECT COUNT(*) FROM ${DB_CHECK_TABLE}')->fetchColumn();
  echo json_encode(['ok' => true, 'rows' => $n]), "\n";
} catch (Throwable $e) {
  // Driver messages carry host names and addresses: they go to the site's PHP log only.
  error_log('vard db-check: ' . $e->getMessage());
  http_response_code(503);
  echo json_encode(['ok' => false, 'error' => 'the database did not answer']), "\n";
}
`;
}

/** Host-level files a web server needs whatever its sites: Apache's and PHP-FPM's own health pages. */
export function renderWebSupport(): RenderedFile[] {
  return [
    { path: 'health.txt', content: 'OK\n' },
    { path: 'health.php', content: "<?php\nheader('Cache-Control: no-store');\necho \"OK\\n\";\n" },
  ];
}
