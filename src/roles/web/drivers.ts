/** Drivers of the web server's daemons: Apache (graceful USR1) and PHP-FPM (USR2), both checked by their own -t. */
import { currentDir } from '../../render/index.ts';
import { httpStatus, supervised, type DaemonDriver } from '../../daemon/index.ts';
import { APACHE_HEALTH_PORT, fpmSocket, FPM_HEALTH_POOL, WEB_PATHS } from './render.ts';

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

const phpFpm = supervised({
  name: 'php-fpm',
  binary: 'php-fpm',
  dirs: [WEB_PATHS.phpRunDir],
  argv: () => ['php-fpm8.2', '--nodaemonize', '--fpm-config', `${currentDir('php-fpm')}/php-fpm.conf`],
  checkArgv: (dir) => ['php-fpm8.2', '-t', '--fpm-config', `${dir}/php-fpm.conf`],
  checkOk: /test is successful/,
  reloadSignal: 'USR2',
  probe: async (h) => h.exists(fpmSocket(FPM_HEALTH_POOL)),
});

export const WEB_DAEMONS: Readonly<Record<string, DaemonDriver>> = { 'php-fpm': phpFpm, apache2 };
