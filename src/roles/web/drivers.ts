/** Drivers of the web server's daemons: Apache (graceful USR1) and PHP-FPM (USR2), both checked by their own -t. */
import { currentDir } from '../../render/index.ts';
import { httpStatus, supervised, type DaemonDriver } from '../../daemon/index.ts';
import { APACHE_HEALTH_PORT, fpmDaemon, fpmHealthPool, fpmSocket, FPM_SHARDS, WEB_PATHS } from './render.ts';

const apache2 = supervised({
  name: 'apache2',
  binary: 'apache2',
  dirs: ['/run/apache2', '/var/log/apache2', WEB_PATHS.apacheDefaultRoot],
  argv: () => ['apache2', '-d', currentDir('apache2'), '-f', 'apache2.conf', '-DFOREGROUND'],
  checkArgv: (dir) => ['apache2', '-t', '-d', dir, '-f', 'apache2.conf'],
  // USR1 is Apache's graceful restart: children finish their requests before they are replaced.
  reloadSignal: 'USR1',
  probe: async (h) => (await httpStatus(h, `http://127.0.0.1:${APACHE_HEALTH_PORT}/health.php`, {}, 2)) === 200,
});

/** One PHP-FPM master per shard (render.ts, FPM_SHARDS), each with its own config, pid file and health pool. */
function phpFpm(k: number): DaemonDriver {
  const name = fpmDaemon(k);
  return supervised({
    name,
    binary: 'php-fpm',
    dirs: [WEB_PATHS.phpRunDir],
    argv: () => ['php-fpm8.2', '--nodaemonize', '--fpm-config', `${currentDir(name)}/php-fpm.conf`],
    checkArgv: (dir) => ['php-fpm8.2', '-t', '--fpm-config', `${dir}/php-fpm.conf`],
    checkOk: /test is successful/,
    reloadSignal: 'USR2',
    probe: async (h) => h.exists(fpmSocket(fpmHealthPool(k))),
  });
}

/** Every PHP-FPM shard's driver, by daemon name. */
export const PHP_FPM_DAEMONS: Readonly<Record<string, DaemonDriver>> = Object.fromEntries(Array.from({ length: FPM_SHARDS }, (_, k) => [fpmDaemon(k), phpFpm(k)]));

export const WEB_DAEMONS: Readonly<Record<string, DaemonDriver>> = { ...PHP_FPM_DAEMONS, apache2 };
