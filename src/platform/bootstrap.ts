/**
 * Bootstrap: what a bare Debian 12 server needs before Vard can converge it. Runs before every
 * converge of an inventory platform (cheap when nothing is missing: three commands per host).
 *
 * Two phases, so a bad host never leaves the others half-changed:
 * 1. check every host, read-only and in parallel: reachable, Debian 12 (`/etc/os-release`),
 *    logged in as root, which of its roles' Debian packages are missing;
 * 2. only if every host passed: install what is missing, host by host in parallel, with no
 *    daemon started by the package scripts (a `policy-rc.d` guard, as `scripts/setup.mjs` does),
 *    and take the packages' own systemd services out of the way (Vard supervises those daemons itself).
 * Users and directories are the roles' `prepareHost`, which every converge runs next.
 */
import { isVardError, vardError } from '../errors/index.ts';
import type { Host } from '../host/index.ts';
import type { HostSpec } from '../model/index.ts';
import { ROLES } from '../roles/registry.ts';

/**
 * What Vard itself uses on every host, whatever its roles: `timeout` (every command over SSH),
 * `setsid` (daemons), `ip` (who holds an address), `/proc` tools, the SFTP server (every file).
 */
export const CORE_HOST_PACKAGES: readonly string[] = ['coreutils', 'util-linux', 'iproute2', 'procps', 'openssh-sftp-server'];

/** The Debian packages a host needs: Vard's own, then each of its roles' (`src/roles/<role>/packages.json`), once each. */
export function hostPackages(spec: Pick<HostSpec, 'roles'>): string[] {
  const roles = ROLES.filter((r) => r.everyHost || spec.roles.includes(r.id));
  return [...new Set([...CORE_HOST_PACKAGES, ...roles.flatMap((r) => r.packages)])];
}

export interface BootstrapTarget {
  readonly name: string;
  readonly host: Host;
  readonly packages: readonly string[];
}

export interface HostBootstrap {
  readonly name: string;
  readonly ok: boolean;
  /** `PRETTY_NAME` from /etc/os-release, when it could be read. */
  readonly os?: string;
  readonly present: readonly string[];
  /** Missing at the check; after a successful install, also in `installed`. */
  readonly missing: readonly string[];
  readonly installed: readonly string[];
  /** Debian's own services of those packages that were stopped and disabled (systemd hosts only). */
  readonly disabledUnits: readonly string[];
  readonly error?: { readonly code: string; readonly message: string };
  /**
   * Unreachable (VARD_ERR_HOST_DOWN): left alone, like a down host in every converge, and
   * bootstrapped when it is back. Any other failure stops the bootstrap of every host.
   */
  readonly down?: boolean;
}

export interface BootstrapReport {
  readonly hosts: readonly HostBootstrap[];
  /** Every host checked (and installed) fine. */
  readonly ok: boolean;
}

export interface BootstrapOptions {
  readonly say?: (msg: string) => void;
  /** Check only: report what is missing and install nothing. */
  readonly checkOnly?: boolean;
  /** Per-command limit of the install (apt-get can take minutes on a bare host). @default 1_200_000 */
  readonly installTimeoutMs?: number;
}

/**
 * The fields of `/etc/os-release` (os-release(5): KEY=value, the value optionally quoted).
 * Sample: `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"` … `ID=debian` … `VERSION_ID="12"`.
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2] ?? '';
    if (/^".*"$/.test(v)) v = v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
    else if (/^'.*'$/.test(v)) v = v.slice(1, -1);
    out[m[1] as string] = v;
  }
  return out;
}

/**
 * Installed packages among `names`, from dpkg-query's status abbreviation: the second letter is
 * the state ("i" installed), whatever the first (the wanted action: "ii", and "hi" for a package
 * the operator put on hold); "rc" = removed, config left, counts as missing, and so does a third
 * letter "R" (reinstallation required).
 * Sample (`-f '${Package}\t${db:Status-Abbrev}\n'`): `apache2\tii \nmariadb-server\thi \nhaproxy\trc \n`;
 * names dpkg has never heard of appear only on stderr ("no packages found matching").
 */
export function parseDpkgInstalled(stdout: string): Set<string> {
  const out = new Set<string>();
  for (const line of stdout.split('\n')) {
    const [pkg, status] = line.split('\t');
    if (pkg && status?.[1] === 'i' && status[2] !== 'R') out.add(pkg);
  }
  return out;
}

const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' } as const;
/** Waits for another apt (unattended-upgrades) instead of failing at once on its lock. */
const APT_LOCK = ['-o', 'DPkg::Lock::Timeout=600'];
const POLICY_RC = '/usr/sbin/policy-rc.d';

function failure(e: unknown): { code: string; message: string } {
  return isVardError(e) ? { code: e.code, message: e.message } : { code: 'VARD_ERR_INTERNAL', message: (e as Error)?.message ?? String(e) };
}

interface Checked {
  readonly target: BootstrapTarget;
  result: HostBootstrap;
}

/** Phase 1 on one host: reads only. */
async function check(t: BootstrapTarget): Promise<HostBootstrap> {
  const base = { name: t.name, present: [] as string[], missing: [] as string[], installed: [] as string[], disabledUnits: [] as string[] };
  let os: string | undefined;
  try {
    // The first command doubles as the reachability check: an unreachable host, a refused or
    // changed host key, a key not installed all surface here, before anything else is asked.
    const osr = parseOsRelease((await t.host.run(['cat', '/etc/os-release'], { timeoutMs: 30_000 })).stdout);
    os = osr['PRETTY_NAME'] ?? `${osr['ID'] ?? '?'} ${osr['VERSION_ID'] ?? '?'}`;
    if (osr['ID'] !== 'debian' || osr['VERSION_ID'] !== '12') {
      throw vardError('VARD_ERR_HOST_UNSUPPORTED', [t.name, `it runs ${os}; Vard supports Debian 12 (bookworm) only (/etc/os-release: ID=${osr['ID'] ?? ''}, VERSION_ID=${osr['VERSION_ID'] ?? ''})`]);
    }
    const uid = (await t.host.run(['id', '-u'])).stdout.trim();
    if (uid !== '0') {
      const who = (await t.host.run(['id', '-un'], { allowFail: true })).stdout.trim() || `uid ${uid}`;
      const sudo = (await t.host.run(['sudo', '-n', 'true'], { allowFail: true, timeoutMs: 15_000 })).exitCode === 0;
      // Vard writes configuration over SFTP as the login user, which sudo cannot lift.
      throw vardError('VARD_ERR_HOST_UNSUPPORTED', [
        t.name,
        `Vard logs in as ${who}, not root${sudo ? ' (passwordless sudo works, but configuration is written over SFTP as the login user)' : ', and passwordless sudo is not available either'}; install Vard's key for root (PermitRootLogin prohibit-password) and set ssh.user: root`,
      ]);
    }
    const q = await t.host.run(['dpkg-query', '-W', '-f=${Package}\\t${db:Status-Abbrev}\\n', ...t.packages], { allowFail: true, timeoutMs: 60_000 });
    const installed = parseDpkgInstalled(q.stdout);
    return { ...base, ok: true, os, present: t.packages.filter((p) => installed.has(p)), missing: t.packages.filter((p) => !installed.has(p)) };
  } catch (e) {
    return { ...base, ok: false, ...(os ? { os } : {}), error: failure(e), ...(isVardError(e, 'VARD_ERR_HOST_DOWN') ? { down: true } : {}) };
  }
}

/** Debian's own units of `packages` that would start a second copy of a daemon Vard supervises. */
async function serviceUnits(host: Host, packages: readonly string[]): Promise<string[]> {
  const r = await host.run(['dpkg-query', '-L', ...packages], { allowFail: true, timeoutMs: 60_000 });
  // Sample: `/lib/systemd/system/haproxy.service` (Debian 12 ships units under /lib).
  const units = r.stdout.split('\n').map((l) => /^\/(?:usr\/)?lib\/systemd\/system\/([A-Za-z0-9@._-]+\.service)$/.exec(l.trim())?.[1]);
  return [...new Set(units.filter((u): u is string => u !== undefined && !u.includes('@')))].sort();
}

/**
 * Stops and disables Debian's units of the role packages on a systemd host: Vard runs those
 * daemons itself, with its own configuration, and a second copy would hold their ports. A unit
 * without a running process (nftables: a oneshot that would flush every table when stopped) is
 * only disabled. A host without systemd as init (a lab host) has nothing to do.
 */
async function quietUnits(host: Host, packages: readonly string[]): Promise<string[]> {
  if (!(await host.exists('/run/systemd/system'))) return [];
  const done: string[] = [];
  for (const unit of await serviceUnits(host, packages)) {
    // Sample: "MainPID=1234\nUnitFileState=enabled\n".
    const show = (await host.run(['systemctl', 'show', '-p', 'MainPID', '-p', 'UnitFileState', unit], { allowFail: true })).stdout;
    const pid = Number(/^MainPID=(\d+)/m.exec(show)?.[1] ?? '0');
    const enabled = /^UnitFileState=enabled/m.test(show);
    if (pid === 0 && !enabled) continue;
    await host.run(['systemctl', 'disable', ...(pid !== 0 ? ['--now'] : []), unit], { timeoutMs: 120_000 });
    done.push(unit);
  }
  return done;
}

/** Phase 2 on one host: installs what is missing, with no daemon started by the package scripts. */
async function install(c: Checked, o: BootstrapOptions): Promise<HostBootstrap> {
  const { host, name, packages } = c.target;
  const r = c.result;
  const say = o.say ?? (() => undefined);
  const timeoutMs = o.installTimeoutMs ?? 1_200_000;
  try {
    let installed: string[] = [];
    if (r.missing.length) {
      say(`${name}: installing ${r.missing.length} Debian package${r.missing.length === 1 ? '' : 's'}: ${r.missing.join(' ')}`);
      // Ours only if we create it; an operator's own guard is left as it was.
      const guard = !(await host.exists(POLICY_RC));
      if (guard) await host.writeFile(POLICY_RC, '#!/bin/sh\n# Vard bootstrap: no daemon starts while packages install.\nexit 101\n', { mode: 0o755 });
      try {
        await host.run(['apt-get', ...APT_LOCK, '-q', 'update'], { env: APT_ENV, timeoutMs });
        await host.run(['apt-get', ...APT_LOCK, '-q', '-y', 'install', '--no-install-recommends', ...r.missing], { env: APT_ENV, timeoutMs });
      } finally {
        if (guard) await host.remove(POLICY_RC).catch(() => undefined);
      }
      const after = parseDpkgInstalled((await host.run(['dpkg-query', '-W', '-f=${Package}\\t${db:Status-Abbrev}\\n', ...packages], { allowFail: true })).stdout);
      const still = packages.filter((p) => !after.has(p));
      if (still.length) throw vardError('VARD_ERR_HOST_UNSUPPORTED', [name, `apt-get finished but ${still.join(' ')} is still not installed`]);
      installed = [...r.missing];
    }
    const disabledUnits = await quietUnits(host, packages);
    if (disabledUnits.length) say(`${name}: stopped and disabled Debian's own ${disabledUnits.join(' ')} (Vard runs these daemons itself)`);
    return { ...r, installed, disabledUnits };
  } catch (e) {
    return { ...r, ok: false, error: failure(e) };
  }
}

function line(h: HostBootstrap): string {
  if (h.down) return `${h.name}: DOWN, left alone until it is back: ${h.error?.message ?? 'unreachable'}`;
  if (!h.ok) return `${h.name}: FAILED: ${h.error?.message ?? 'unknown error'}`;
  const inst = h.installed.length ? `, installed ${h.installed.join(' ')}` : h.missing.length ? `, missing ${h.missing.join(' ')}` : '';
  return `${h.name}: ${h.os ?? 'Debian 12'}, root, ${h.present.length} of ${h.present.length + h.missing.length} packages present${inst}`;
}

/** One line per host, for people. */
export function formatBootstrap(r: BootstrapReport): string {
  return r.hosts.map(line).join('\n');
}

/**
 * Checks every host, then (unless `checkOnly`) installs what each is missing. Returns the report
 * of every host whatever happened; `ok` is false when any host failed. Nothing is installed on
 * any host unless every host passed its check or is down (a down host waits for its return).
 */
export async function bootstrapHosts(targets: readonly BootstrapTarget[], o: BootstrapOptions = {}): Promise<BootstrapReport> {
  const say = o.say ?? (() => undefined);
  const checked: Checked[] = await Promise.all(
    targets.map(async (target) => {
      say(`${target.name}: checking (reachable, Debian 12, root, ${target.packages.length} packages)`);
      const result = await check(target);
      say(line(result));
      return { target, result };
    }),
  );
  if (o.checkOnly || checked.some((c) => !c.result.ok && !c.result.down)) {
    return { hosts: checked.map((c) => c.result), ok: checked.every((c) => c.result.ok) };
  }
  const hosts = await Promise.all(
    checked.map(async (c) => {
      if (c.result.down) return c.result;
      const r = await install(c, o);
      if (r.installed.length || !r.ok) say(line(r));
      return r;
    }),
  );
  return { hosts, ok: hosts.every((h) => h.ok) };
}

/**
 * `bootstrapHosts`, throwing when a host failed for another reason than being down: VARD_ERR_BOOTSTRAP_FAILED with every host's line
 * in the message and the whole report in `details`.
 */
export async function bootstrapOrThrow(targets: readonly BootstrapTarget[], o: BootstrapOptions = {}): Promise<BootstrapReport> {
  const r = await bootstrapHosts(targets, o);
  if (r.hosts.some((h) => !h.ok && !h.down)) {
    const failed = r.hosts.filter((h) => !h.ok && !h.down).length;
    throw vardError('VARD_ERR_BOOTSTRAP_FAILED', [failed, r.hosts.length, r.hosts.map((h) => `  ${line(h)}`).join('\n')], { details: { report: r } });
  }
  return r;
}
