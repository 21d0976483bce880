import { createHash } from 'node:crypto';
import type { DaemonDriver } from '../daemon/index.ts';
import { isVardError, vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import { configRoot, type ConfigSet } from '../render/index.ts';
import { crashInApply, failInApply } from './faults.ts';

/** Version name of a config set: a hash of its paths, modes and bytes. Same set, same name. */
export function versionOf(set: ConfigSet): string {
  const h = createHash('sha256');
  for (const f of [...set.files].sort((a, b) => (a.path < b.path ? -1 : 1))) {
    h.update(f.path).update('\0').update(String(f.mode ?? 0o644)).update('\0').update(f.content).update('\0');
  }
  return `v-${h.digest('hex').slice(0, 12)}`;
}

export type SetOutcome = 'unchanged' | 'started' | 'reloaded';

export interface SetStatus {
  readonly daemon: string;
  readonly desired: string;
  readonly current: string | undefined;
  readonly running: boolean;
}

/**
 * Whether a version directory holds exactly the set: every file's bytes, and no file more in any
 * of its directories (an extra `sites/x.conf` would be read by Apache's IncludeOptional).
 */
async function intact(host: Host, dir: string, set: ConfigSet): Promise<boolean> {
  const expected = new Map<string, Set<string>>();
  for (const f of set.files) {
    const cut = f.path.lastIndexOf('/');
    const d = cut < 0 ? '' : f.path.slice(0, cut);
    for (let p = d; ; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
      const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
      if (p) (expected.get(parent) ?? expected.set(parent, new Set()).get(parent)!).add(p.slice(parent ? parent.length + 1 : 0));
      if (!p) break;
    }
    (expected.get(d) ?? expected.set(d, new Set()).get(d)!).add(f.path.slice(cut + 1));
  }
  for (const [d, names] of expected) {
    const have = await host.list(d ? `${dir}/${d}` : dir);
    if (have.length !== names.size || have.some((n) => !names.has(n))) return false;
  }
  for (const f of set.files) {
    const b = await host.readFile(`${dir}/${f.path}`);
    if (!b || b.toString('utf8') !== f.content) return false;
  }
  return true;
}

/** Marks a current version whose files were changed by hand: it differs from every rendered version. */
const MODIFIED = '+modified';

/**
 * Where a host records the version its daemon last loaded (written once `ready` passed): `current`
 * alone cannot tell, since a `vard` that dies between the swap and the reload leaves `current` at
 * the new version while the daemon runs the old one. Under /run, which every boot empties: a
 * daemon that has not been started since holds nothing.
 */
export function loadedFileOf(daemon: string): string {
  return `/run/vard/${daemon}.loaded`;
}

/** Written instead of a version when a failed reload left the daemon running something unknown. */
const UNKNOWN = 'unknown';

/**
 * The version the daemon loaded. A running daemon with no record at all (started by a Vard from
 * before the record existed) is taken to run `current`, as then: only a record that names
 * another version (or `unknown`) says otherwise. Without that, the first apply after an upgrade
 * would reload every daemon of the platform, a restart through the cluster for the databases.
 */
async function effectiveLoaded(host: Host, daemon: string, link: string | undefined, running: boolean): Promise<{ loaded: string | undefined; recorded: boolean }> {
  const raw = (await host.readFile(loadedFileOf(daemon)))?.toString('utf8').trim() || undefined;
  return { loaded: raw ?? (running ? link : undefined), recorded: raw !== undefined };
}

/**
 * `current` is the version the daemon runs, as far as can be known: the one `current` points at
 * when the daemon loaded it and its files are still the rendered ones (else `<version>+modified`),
 * the one it loaded when `current` points elsewhere, undefined when that is unknown.
 */
export async function setStatus(host: Host, set: ConfigSet, driver: DaemonDriver): Promise<SetStatus> {
  const root = configRoot(set.daemon);
  const desired = versionOf(set);
  const link = await host.readlink(`${root}/current`);
  const running = await driver.running(host);
  const { loaded } = await effectiveLoaded(host, set.daemon, link, running);
  let current: string | undefined;
  // Loaded but no longer linked (a hand-moved link) would restart into another version: not in sync either.
  if (loaded !== link) current = loaded === desired ? undefined : loaded;
  else current = link === desired && !(await intact(host, `${root}/${link}`, set)) ? `${link}${MODIFIED}` : link;
  return { daemon: set.daemon, desired, current, running };
}

/**
 * Stage → check → keep previous → swap → reload → verify → record it loaded → roll back.
 * If this throws, the daemon runs the configuration it ran before (or, if the check failed,
 * never saw the new one) and `current` points at that previous version again. Killed at any
 * point, the next call finds what the daemon loaded (`loadedFileOf`) and finishes the change.
 */
export async function applyConfigSet(host: Host, set: ConfigSet, driver: DaemonDriver): Promise<SetOutcome> {
  const root = configRoot(set.daemon);
  const version = versionOf(set);
  const dir = `${root}/${version}`;
  const link = await host.readlink(`${root}/current`);
  const wasRunning = await driver.running(host);
  const { loaded, recorded } = await effectiveLoaded(host, set.daemon, link, wasRunning);
  const whole = (await host.exists(dir)) && (await intact(host, dir, set));
  if (link === version && loaded === version && wasRunning && whole) {
    if (!recorded) await host.writeFile(loadedFileOf(set.daemon), `${version}\n`);
    return 'unchanged';
  }
  // What a failure goes back to: what the daemon runs, which after a crash past the swap is not `current`.
  const previous = wasRunning && loaded !== undefined ? loaded : link;

  // A version directory changed by hand is staged afresh: same name, the rendered bytes again.
  const created = !whole;
  if (created) {
    const staging = `${dir}.staging`;
    await host.remove(staging, { recursive: true });
    for (const f of set.files) await host.writeFile(`${staging}/${f.path}`, f.content, f.mode === undefined ? {} : { mode: f.mode });
    if (await host.exists(dir)) {
      await host.remove(`${dir}.modified`, { recursive: true });
      await host.rename(dir, `${dir}.modified`);
    }
    await host.rename(staging, dir);
    await host.remove(`${dir}.modified`, { recursive: true });
  }
  await driver.prepare(host);
  try {
    await driver.check(host, dir);
  } catch (e) {
    // Only what this call staged goes; an existing version may be the one `current` points at.
    if (created && link !== version && previous !== version) await host.remove(dir, { recursive: true });
    throw e;
  }

  await host.symlink(version, `${root}/current`);
  crashInApply('after-swap', set.daemon, host.name);
  try {
    if (wasRunning) await driver.reload(host, dir);
    else await driver.start(host);
    await driver.ready(host);
    if (failInApply(set.daemon, host.name)) throw vardError('VARD_ERR_NOT_READY', [set.daemon, host.name, 0, 'VARD_FAIL_IN_APPLY (test hook)']);
  } catch (e) {
    // Half-reloaded, the daemon runs something unknown: the next run reloads whatever it finds.
    await host.writeFile(loadedFileOf(set.daemon), `${UNKNOWN}\n`).catch(() => undefined);
    if (previous !== undefined && previous !== version && (await host.exists(`${root}/${previous}`))) {
      await host.symlink(previous, `${root}/current`);
      try {
        if (await driver.running(host)) await driver.reload(host, `${root}/${previous}`);
        else if (wasRunning) await driver.start(host);
        if (await driver.running(host)) await host.writeFile(loadedFileOf(set.daemon), `${previous}\n`);
      } catch {
        // The original error is the one the operator needs; the rollback's own failure is secondary.
      }
    }
    const why = isVardError(e) ? e.message : (e as Error).message;
    throw vardError('VARD_ERR_APPLY_FAILED', [set.daemon, host.name, why], { cause: e });
  }
  await host.writeFile(loadedFileOf(set.daemon), `${version}\n`);
  await collectGarbage(host, root, [version, previous]);
  return wasRunning ? 'reloaded' : 'started';
}

/** Keeps the current and previous versions (the rollback target); removes older ones. */
async function collectGarbage(host: Host, root: string, keep: readonly (string | undefined)[]): Promise<void> {
  for (const name of await host.list(root)) {
    if (name === 'current' || keep.includes(name) || !name.startsWith('v-')) continue;
    await host.remove(`${root}/${name}`, { recursive: true });
  }
}
