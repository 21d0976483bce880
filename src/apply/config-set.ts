import { createHash } from 'node:crypto';
import type { DaemonDriver } from '../daemon/index.ts';
import { isVardError, vardError } from '../errors/index.ts';
import { digestOf, fileDigests, treeEntries, type Host } from '../host/index.ts';
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
 * Sets with more files than this (Apache's vhost per site) are compared and staged by a few
 * commands on the host, whatever their size; smaller ones file by file, which for a lab host costs
 * no process at all.
 */
const BULK_FILES = 16;

/** What a version directory of the set holds: each file (`f`) and every directory above one (`d`), relative to it. */
function expectedEntries(set: ConfigSet): Map<string, string> {
  const want = new Map<string, string>();
  for (const f of set.files) {
    want.set(f.path, 'f');
    for (let cut = f.path.lastIndexOf('/'); cut > 0; cut = f.path.lastIndexOf('/', cut - 1)) want.set(f.path.slice(0, cut), 'd');
  }
  return want;
}

/**
 * Whether a version directory holds exactly the set: every file's bytes, and no file more in any
 * of its directories (an extra `sites/x.conf` would be read by Apache's IncludeOptional).
 */
async function intact(host: Host, dir: string, set: ConfigSet): Promise<boolean> {
  const want = expectedEntries(set);
  if (set.files.length > BULK_FILES) {
    const entries = await treeEntries(host, dir);
    if (entries.length !== want.size || entries.some((e) => want.get(e.path) !== e.kind)) return false;
    const sums = await fileDigests(host, set.files.map((f) => `${dir}/${f.path}`));
    return set.files.every((f) => sums.get(`${dir}/${f.path}`) === digestOf(f.content));
  }
  const byDir = new Map<string, Set<string>>([['', new Set()]]);
  for (const path of want.keys()) {
    const cut = path.lastIndexOf('/');
    const parent = cut < 0 ? '' : path.slice(0, cut);
    (byDir.get(parent) ?? byDir.set(parent, new Set()).get(parent)!).add(path.slice(cut + 1));
  }
  for (const [d, names] of byDir) {
    const have = await host.list(d ? `${dir}/${d}` : dir);
    if (have.length !== names.size || have.some((n) => !names.has(n))) return false;
  }
  for (const f of set.files) {
    const b = await host.readFile(`${dir}/${f.path}`);
    if (!b || b.toString('utf8') !== f.content) return false;
  }
  return true;
}

/**
 * Writes the set into `staging`. A large set starts from a copy of `from` (the version the daemon
 * runs) and rewrites only the files that differ, so adding one site writes one vhost, not a
 * thousand; what `from` holds beyond the set goes.
 */
async function stage(host: Host, staging: string, set: ConfigSet, from: string | undefined): Promise<void> {
  await host.remove(staging, { recursive: true });
  const writeOne = (f: ConfigSet['files'][number]) => host.writeFile(`${staging}/${f.path}`, f.content, f.mode === undefined ? {} : { mode: f.mode });
  if (set.files.length <= BULK_FILES || from === undefined || !(await host.exists(from))) {
    for (const f of set.files) await writeOne(f);
    return;
  }
  await host.run(['cp', '-a', '--', from, staging]);
  const want = expectedEntries(set);
  const entries = await treeEntries(host, staging);
  const extra = entries.filter((e) => want.get(e.path) !== e.kind).map((e) => `${staging}/${e.path}`);
  if (extra.length) await host.run(['xargs', '-0', 'rm', '-rf', '--'], { input: `${extra.join('\0')}\0` });
  const modes = new Map(entries.filter((e) => e.kind === 'f').map((e) => [e.path, e.mode]));
  const sums = await fileDigests(host, set.files.map((f) => `${staging}/${f.path}`));
  for (const f of set.files) {
    const same = sums.get(`${staging}/${f.path}`) === digestOf(f.content) && modes.get(f.path) === (f.mode ?? 0o644);
    if (!same) await writeOne(f);
  }
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

/** Writes the set's version directory afresh (beside it, then renamed into place), starting from `base`'s files. */
async function stageVersion(host: Host, set: ConfigSet, base: string | undefined): Promise<void> {
  const root = configRoot(set.daemon);
  const dir = `${root}/${versionOf(set)}`;
  const staging = `${dir}.staging`;
  await stage(host, staging, set, base === undefined || base === UNKNOWN ? undefined : `${root}/${base}`);
  if (await host.exists(dir)) {
    await host.remove(`${dir}.modified`, { recursive: true });
    await host.rename(dir, `${dir}.modified`);
  }
  await host.rename(staging, dir);
  await host.remove(`${dir}.modified`, { recursive: true });
}

/**
 * Stages a set's version and runs the daemon's checker on it, touching nothing that runs: what a
 * rolling change can do on every host at once before it takes them out of rotation one by one.
 * Returns true when the version is staged and passed its check (applyConfigSet may then skip the
 * check: `prechecked`), false when it is already `current` (applyConfigSet decides what is left).
 * A version that fails its check is removed again and the error thrown: no host was touched.
 */
export async function prestageConfigSet(host: Host, set: ConfigSet, driver: DaemonDriver): Promise<boolean> {
  const root = configRoot(set.daemon);
  const version = versionOf(set);
  const dir = `${root}/${version}`;
  const link = await host.readlink(`${root}/current`);
  if (link === version) return false;
  const whole = (await host.exists(dir)) && (await intact(host, dir, set));
  if (!whole) await stageVersion(host, set, link);
  await driver.prepare(host);
  try {
    await driver.check(host, dir);
  } catch (e) {
    if (!whole) await host.remove(dir, { recursive: true });
    throw e;
  }
  return true;
}

/**
 * Stage → check → keep previous → swap → reload → verify → record it loaded → roll back.
 * If this throws, the daemon runs the configuration it ran before (or, if the check failed,
 * never saw the new one) and `current` points at that previous version again. Killed at any
 * point, the next call finds what the daemon loaded (`loadedFileOf`) and finishes the change.
 */
export async function applyConfigSet(host: Host, set: ConfigSet, driver: DaemonDriver, o: { prechecked?: boolean } = {}): Promise<SetOutcome> {
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
  if (created) await stageVersion(host, set, previous ?? link);
  await driver.prepare(host);
  try {
    // Checked already in this run (prestageConfigSet) and intact since: the same bytes pass again.
    if (!(o.prechecked && whole)) await driver.check(host, dir);
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
  await collectGarbage(host, root, [version, previous], set.files.length > BULK_FILES);
  return wasRunning ? 'reloaded' : 'started';
}

/**
 * Keeps the current and previous versions (the rollback target); removes older ones. A large set's
 * directories go by one `rm` on the host: file by file, a thousand vhosts cost a round trip each.
 */
async function collectGarbage(host: Host, root: string, keep: readonly (string | undefined)[], bulk: boolean): Promise<void> {
  const old = (await host.list(root)).filter((name) => name !== 'current' && !keep.includes(name) && name.startsWith('v-')).map((name) => `${root}/${name}`);
  if (bulk && old.length) await host.run(['rm', '-rf', '--', ...old]);
  else for (const dir of old) await host.remove(dir, { recursive: true });
}
