/** A file a daemon must hold, as rendered: a path relative to its config set, exact bytes, a mode. */
export interface RenderedFile {
  readonly path: string;
  readonly content: string;
  readonly mode?: number;
}

/** The daemons Vard configures on hosts so far; each has one driver in src/daemon. */
export const DAEMONS = ['nftables', 'keepalived', 'haproxy', 'varnish', 'php-fpm', 'apache2'] as const;
export type DaemonName = (typeof DAEMONS)[number];

/**
 * Every file one daemon on one host reads, as one unit: it is staged, checked, swapped and
 * rolled back together, so a daemon never sees half of a change.
 */
export interface ConfigSet {
  readonly daemon: DaemonName;
  readonly files: readonly RenderedFile[];
}

/** Where config sets live on a host: `<root>/<version>/…` with `<root>/current` pointing at one version. */
export function configRoot(daemon: DaemonName): string {
  return `/etc/vard/${daemon}`;
}

export function currentDir(daemon: DaemonName): string {
  return `${configRoot(daemon)}/current`;
}

/** Paths shared by renderers and the daemon drivers. */
export const PATHS = {
  sitesRoot: '/srv/vard/sites',
  phpRunDir: '/run/php',
  haproxySocket: '/run/haproxy/admin.sock',
  varnishWorkdir: '/run/varnish',
  apacheDefaultRoot: '/srv/vard/default',
  binDir: '/etc/vard/bin',
} as const;

export function siteHome(slug: string): string {
  return `${PATHS.sitesRoot}/${slug}`;
}
export function siteDocroot(slug: string): string {
  return `${siteHome(slug)}/web`;
}
export function fpmSocket(name: string): string {
  return `${PATHS.phpRunDir}/vard-${name}.sock`;
}

export function header(comment: string, source: string): string {
  return `${comment} managed by Vard — do not edit; source: ${source}\n`;
}
