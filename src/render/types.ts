/** A file a daemon must hold, as rendered: a path relative to its config set, exact bytes, a mode. */
export interface RenderedFile {
  readonly path: string;
  readonly content: string;
  readonly mode?: number;
}

/**
 * Every file one daemon on one host reads, as one unit: it is staged, checked, swapped and
 * rolled back together, so a daemon never sees half of a change. `daemon` names the driver of
 * the role that rendered it.
 */
export interface ConfigSet {
  readonly daemon: string;
  readonly files: readonly RenderedFile[];
}

/** Where config sets live on a host: `<root>/<version>/…` with `<root>/current` pointing at one version. */
export function configRoot(daemon: string): string {
  return `/etc/vard/${daemon}`;
}

export function currentDir(daemon: string): string {
  return `${configRoot(daemon)}/current`;
}

/** Where Vard keeps its own scripts on a host (track scripts, helpers). */
export const BIN_DIR = '/etc/vard/bin';
/** Every site's tree lives below this on the hosts that serve or store it. */
export const SITES_ROOT = '/srv/vard/sites';

/**
 * Open files every daemon is started with (as far as the host's hard limit allows): Apache holds a
 * listening socket and two logs per site in every process, PHP-FPM's master a socket per pool, and
 * a thousand sites pass the usual 1,024. Not PHP-FPM's `rlimit_files`: that one fails the start
 * outright where the hard limit is lower.
 */
export const DAEMON_OPEN_FILES = 65536;

export function header(comment: string, source: string): string {
  return `${comment} managed by Vard — do not edit; source: ${source}\n`;
}

export function bySlug<T extends { readonly slug: string }>(a: T, b: T): number {
  return a.slug < b.slug ? -1 : a.slug > b.slug ? 1 : 0;
}
