/**
 * Bootstrap of bare Debian 12 servers (issue 10, src/platform/bootstrap.ts): the parsers of what
 * the hosts print, the packages each role needs, and the decisions of `bootstrapHosts` — which
 * host is refused, what is reported, what is installed and when nothing is.
 *
 * The decisions are tested here against `FakeServer`, an in-test Host that answers the handful
 * of commands bootstrap runs from a small table. The real-host path (sshd, dpkg, apt-get and
 * systemd on a real Debian 12 machine, over SSH with a pinned key) is proven by the integration
 * tests in the lab's SSH mode (test/integration, `startPlatform(…, { transport: 'ssh' })`), not here.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isVardError, vardError, type VardError } from '../../src/errors/index.ts';
import type { Host, RunOptions, RunResult, WriteOptions } from '../../src/host/index.ts';
import {
  bootstrapHosts,
  bootstrapOrThrow,
  CORE_HOST_PACKAGES,
  formatBootstrap,
  hostPackages,
  parseDpkgInstalled,
  parseOsRelease,
  type BootstrapTarget,
} from '../../src/platform/bootstrap.ts';
import { ROLES } from '../../src/roles/registry.ts';

// ---- what real hosts print ---------------------------------------------------------------------

/** /etc/os-release of Debian 12.7 (bookworm), as shipped by base-files. */
const DEBIAN_12 = `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
`;

const DEBIAN_11 = `PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"
NAME="Debian GNU/Linux"
VERSION_ID="11"
VERSION="11 (bullseye)"
VERSION_CODENAME=bullseye
ID=debian
HOME_URL="https://www.debian.org/"
`;

const UBUNTU_24 = `PRETTY_NAME="Ubuntu 24.04.1 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION="24.04.1 LTS (Noble Numbat)"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
UBUNTU_CODENAME=noble
LOGO=ubuntu-logo
`;

/** Debian testing has no VERSION_ID. */
const DEBIAN_TESTING = `PRETTY_NAME="Debian GNU/Linux trixie/sid"
NAME="Debian GNU/Linux"
VERSION_CODENAME=trixie
ID=debian
`;

test('parseOsRelease: the fields of real os-release files', () => {
  const d = parseOsRelease(DEBIAN_12);
  assert.equal(d['ID'], 'debian');
  assert.equal(d['VERSION_ID'], '12');
  assert.equal(d['PRETTY_NAME'], 'Debian GNU/Linux 12 (bookworm)');
  assert.equal(d['VERSION_CODENAME'], 'bookworm');
  assert.equal(d['HOME_URL'], 'https://www.debian.org/');

  const u = parseOsRelease(UBUNTU_24);
  assert.deepEqual([u['ID'], u['VERSION_ID'], u['ID_LIKE']], ['ubuntu', '24.04', 'debian']);
  assert.equal(parseOsRelease(DEBIAN_TESTING)['VERSION_ID'], undefined);
});

test('parseOsRelease: quoting, escapes, comments, blank lines and CRLF (os-release(5))', () => {
  const text = [
    '# a comment',
    '',
    'ID=debian\r',
    "NAME='Single quoted'",
    'VARIANT="with \\"escaped\\" quotes, a \\$dollar, a \\`tick\\` and a \\\\backslash"',
    'EMPTY=',
    'URL=https://example.net/?a=b',
    '  INDENTED="yes"  ',
    'lower=ignored',
    'NOT A LINE',
  ].join('\n');
  assert.deepEqual(parseOsRelease(text), {
    ID: 'debian',
    NAME: 'Single quoted',
    VARIANT: 'with "escaped" quotes, a $dollar, a `tick` and a \\backslash',
    EMPTY: '',
    URL: 'https://example.net/?a=b',
    INDENTED: 'yes',
  });
  assert.deepEqual(parseOsRelease(''), {});
});

test('parseDpkgInstalled: installed means the state letter "i", held packages included', () => {
  // Output of `dpkg-query -W -f='${Package}\t${db:Status-Abbrev}\n' <names…>` on a half-set-up host:
  // three letters per package (wanted action, state, error flag); names dpkg never heard of go
  // to stderr only ("dpkg-query: no packages found matching varnish").
  const stdout = [
    'apache2\tii ', // install, installed
    'curl\tii ',
    'mariadb-server\thi ', // held by the operator (apt-mark hold), installed
    'haproxy\trc ', // removed, its configuration files left
    'php8.2-fpm\tun ', // known, never installed
    'keepalived\tiU ', // unpacked, not configured
    'corosync\tiF ', // half-configured
    'pacemaker\tiiR', // installed but needs reinstalling
    'socat\tpi ', // purge requested, still installed
    '',
  ].join('\n');
  assert.deepEqual([...parseDpkgInstalled(stdout)].sort(), ['apache2', 'curl', 'mariadb-server', 'socat']);
  assert.deepEqual([...parseDpkgInstalled('')], []);
  // Several architectures of one package (Multi-Arch: same) print one line each.
  assert.deepEqual([...parseDpkgInstalled('libc6-dev\tii \nlibc6-dev\tii \n')], ['libc6-dev']);
});

test('hostPackages: Vard\'s own, the firewall\'s on every host, then each role\'s, once each', () => {
  const firewall = ROLES.filter((r) => r.everyHost).flatMap((r) => r.packages);
  assert.ok(firewall.includes('nftables'));
  for (const role of ROLES.filter((r) => !r.everyHost)) {
    const pk = hostPackages({ roles: [role.id] });
    assert.deepEqual(pk, [...new Set([...CORE_HOST_PACKAGES, ...firewall, ...role.packages])], role.id);
    assert.equal(new Set(pk).size, pk.length, `${role.id}: no package twice`);
  }
  const by = (roles: string[]) => hostPackages({ roles });
  assert.ok(['haproxy', 'varnish', 'keepalived'].every((p) => by(['lb']).includes(p)));
  assert.ok(['apache2', 'php8.2-fpm'].every((p) => by(['web']).includes(p)));
  assert.ok(['mariadb-server', 'corosync', 'pacemaker'].every((p) => by(['db']).includes(p)));
  assert.ok(by(['quorum']).includes('corosync') && !by(['quorum']).includes('mariadb-server'), 'the third vote runs no database');
  assert.ok(!by(['web']).includes('haproxy') && !by(['lb']).includes('apache2'));
  // Both roles on one host (the `single` preset): the union, `curl` (both need it) once.
  const both = by(['web', 'lb']);
  assert.equal(both.filter((p) => p === 'curl').length, 1);
  assert.deepEqual(new Set(both), new Set([...by(['web']), ...by(['lb'])]));
  // A host of no known role still gets what Vard itself and the firewall need.
  assert.deepEqual(by([]), [...new Set([...CORE_HOST_PACKAGES, ...firewall])]);
});

// ---- bootstrapHosts against fake servers -------------------------------------------------------

interface FakeSpec {
  readonly os?: string;
  readonly uid?: number;
  readonly user?: string;
  readonly sudo?: boolean;
  /** Package → dpkg's status abbreviation; a package not listed is unknown to dpkg. */
  readonly dpkg?: Record<string, string>;
  /** The whole host cannot be reached: every call rejects with this error. */
  readonly unreachable?: VardError;
  /** Runs systemd as init (`/run/systemd/system` exists). */
  readonly systemd?: boolean;
  /** Package → the systemd units it ships; unit → its state. */
  readonly units?: Record<string, readonly string[]>;
  readonly unitState?: Record<string, { readonly pid: number; readonly enabled: boolean }>;
  /** `apt-get install` exits 100 ("Unable to locate package …"). */
  readonly aptFails?: boolean;
  /** Packages `apt-get install` claims to install but does not (a broken mirror, a diversion). */
  readonly aptSkips?: readonly string[];
  /** Files that exist from the start (an operator's own policy-rc.d). */
  readonly files?: Record<string, string>;
}

const DPKG_FORMAT = '-f=${Package}\\t${db:Status-Abbrev}\\n';
const POLICY_RC = '/usr/sbin/policy-rc.d';

/**
 * A Host that answers bootstrap's commands from a table: `cat /etc/os-release`, `id`, `sudo -n`,
 * `dpkg-query -W` and `-L`, `apt-get update|install`, `systemctl show|disable`. It does not model
 * a shell, real package dependencies (installing a package installs only that name), apt's own
 * locking, or file modes beyond recording the one asked for; any other command or Host method
 * fails the test, so bootstrap calling something new is noticed here.
 */
class FakeServer implements Host {
  readonly name: string;
  readonly log: string[] = [];
  readonly env: Record<string, string>[] = [];
  readonly dpkg: Map<string, string>;
  readonly files: Map<string, { data: string; mode: number | undefined }>;
  /** Whether policy-rc.d existed while `apt-get install` ran. */
  guardedInstall: boolean | undefined;
  private readonly s: FakeSpec;

  constructor(name: string, s: FakeSpec = {}) {
    this.name = name;
    this.s = s;
    this.dpkg = new Map(Object.entries(s.dpkg ?? {}));
    this.files = new Map(Object.entries(s.files ?? {}).map(([p, data]) => [p, { data, mode: 0o755 }]));
  }

  /** Commands that change the host: apt-get install, systemctl disable, writes and removals. */
  changes(): string[] {
    return this.log.filter((l) => /^(apt-get .*install|systemctl disable|write |remove )/.test(l));
  }

  private fail(argv: readonly string[], exit: number, why: string, o?: RunOptions): RunResult {
    if (o?.allowFail) return { exitCode: exit, stdout: '', stderr: why, durationMs: 1 };
    throw vardError('VARD_ERR_COMMAND_FAILED', [this.name, argv.join(' '), exit, why]);
  }

  async run(argv: readonly string[], o?: RunOptions): Promise<RunResult> {
    if (this.s.unreachable) throw this.s.unreachable;
    this.log.push(argv.join(' '));
    if (o?.env) this.env.push({ ...o.env });
    const ok = (stdout: string, stderr = '', exitCode = 0): RunResult => ({ exitCode, stdout, stderr, durationMs: 1 });
    const [cmd, ...args] = argv;
    if (cmd === 'cat' && args[0] === '/etc/os-release') return this.s.os === undefined ? this.fail(argv, 1, 'cat: /etc/os-release: No such file or directory', o) : ok(this.s.os);
    if (cmd === 'id' && args[0] === '-u') return ok(`${this.s.uid ?? 0}\n`);
    if (cmd === 'id' && args[0] === '-un') return ok(`${this.s.user ?? 'root'}\n`);
    if (cmd === 'sudo') return this.s.sudo ? ok('') : this.fail(argv, 1, 'sudo: a password is required', o);
    if (cmd === 'dpkg-query' && args[0] === '-W') {
      assert.equal(args[1], DPKG_FORMAT, 'the format parseDpkgInstalled reads');
      const names = args.slice(2);
      const known = names.filter((p) => this.dpkg.has(p));
      const unknown = names.filter((p) => !this.dpkg.has(p));
      const stdout = known.map((p) => `${p}\t${this.dpkg.get(p)}\n`).join('');
      const stderr = unknown.map((p) => `dpkg-query: no packages found matching ${p}\n`).join('');
      return unknown.length ? (o?.allowFail ? ok(stdout, stderr, 1) : this.fail(argv, 1, stderr, o)) : ok(stdout);
    }
    if (cmd === 'dpkg-query' && args[0] === '-L') {
      const lines = args.slice(1).flatMap((p) => [`/usr/share/doc/${p}`, ...(this.s.units?.[p] ?? []).map((u) => `/lib/systemd/system/${u}`)]);
      return ok(`/.\n${lines.join('\n')}\n`);
    }
    if (cmd === 'apt-get') {
      if (args.includes('update')) return ok('Reading package lists...\n');
      const i = args.indexOf('install');
      assert.ok(i >= 0, `apt-get ${args.join(' ')}`);
      this.guardedInstall = this.files.has(POLICY_RC);
      if (this.s.aptFails) return this.fail(argv, 100, 'E: Unable to locate package php8.2-fpm', o);
      for (const p of args.slice(i + 1).filter((a) => !a.startsWith('-'))) if (!this.s.aptSkips?.includes(p)) this.dpkg.set(p, 'ii ');
      return ok('Setting up …\n');
    }
    if (cmd === 'systemctl' && args[0] === 'show') {
      const st = this.s.unitState?.[args[args.length - 1]!] ?? { pid: 0, enabled: false };
      return ok(`MainPID=${st.pid}\nUnitFileState=${st.enabled ? 'enabled' : 'disabled'}\n`);
    }
    if (cmd === 'systemctl' && args[0] === 'disable') return ok('');
    throw new Error(`FakeServer ${this.name}: command not modelled: ${argv.join(' ')}`);
  }

  async exists(path: string): Promise<boolean> {
    if (this.s.unreachable) throw this.s.unreachable;
    if (path === '/run/systemd/system') return Boolean(this.s.systemd);
    return this.files.has(path);
  }
  async writeFile(path: string, data: string | Buffer, o?: WriteOptions): Promise<void> {
    this.log.push(`write ${path}`);
    this.files.set(path, { data: data.toString(), mode: o?.mode });
  }
  async remove(path: string): Promise<void> {
    this.log.push(`remove ${path}`);
    this.files.delete(path);
  }
  async close(): Promise<void> {}
  readFile(): Promise<Buffer | undefined> {
    return this.unmodelled('readFile');
  }
  rename(): Promise<void> {
    return this.unmodelled('rename');
  }
  symlink(): Promise<void> {
    return this.unmodelled('symlink');
  }
  readlink(): Promise<string | undefined> {
    return this.unmodelled('readlink');
  }
  mkdir(): Promise<void> {
    return this.unmodelled('mkdir');
  }
  list(): Promise<string[]> {
    return this.unmodelled('list');
  }
  private unmodelled(what: string): Promise<never> {
    return Promise.reject(new Error(`FakeServer ${this.name}: ${what} not modelled`));
  }
}

const WEB = hostPackages({ roles: ['web'] });
const LB = hostPackages({ roles: ['lb'] });
const DB = hostPackages({ roles: ['db'] });
const all = (pkgs: readonly string[], status = 'ii '): Record<string, string> => Object.fromEntries(pkgs.map((p) => [p, status]));
/** A fresh Debian 12 install: Vard's own tools are there (priority required/important), no role's package is. */
const FRESH = all(CORE_HOST_PACKAGES);

function target(host: FakeServer, roles: string[]): BootstrapTarget {
  return { name: host.name, host, packages: hostPackages({ roles }) };
}

test('check only: every host is checked and reported, nothing is installed anywhere', async () => {
  // GIVEN a fresh host, a half-installed one and a complete one
  const lb1 = new FakeServer('lb1', { os: DEBIAN_12, dpkg: FRESH, systemd: true });
  const web1 = new FakeServer('web1', { os: DEBIAN_12, dpkg: { ...FRESH, apache2: 'ii ', curl: 'ii ', 'php8.2-fpm': 'rc ' }, systemd: true });
  const db1 = new FakeServer('db1', { os: DEBIAN_12, dpkg: all(DB), systemd: true });
  const said: string[] = [];
  // WHEN
  const r = await bootstrapHosts([target(lb1, ['lb']), target(web1, ['web']), target(db1, ['db'])], { checkOnly: true, say: (m) => said.push(m) });
  // THEN
  assert.equal(r.ok, true);
  for (const h of [lb1, web1, db1]) assert.deepEqual(h.changes(), [], `${h.name} was not changed`);
  const by = Object.fromEntries(r.hosts.map((h) => [h.name, h]));
  assert.deepEqual(by['lb1']?.missing, LB.filter((p) => !CORE_HOST_PACKAGES.includes(p)));
  assert.deepEqual(by['web1']?.missing, WEB.filter((p) => !CORE_HOST_PACKAGES.includes(p) && p !== 'apache2' && p !== 'curl'));
  assert.deepEqual(by['db1']?.missing, []);
  assert.deepEqual(by['db1']?.present, DB);
  for (const h of r.hosts) {
    assert.equal(h.os, 'Debian GNU/Linux 12 (bookworm)');
    assert.deepEqual(h.installed, []);
    assert.deepEqual(h.disabledUnits, []);
  }
  const text = formatBootstrap(r).split('\n');
  assert.equal(text.length, 3);
  assert.equal(text[0], `lb1: Debian GNU/Linux 12 (bookworm), root, ${CORE_HOST_PACKAGES.length} of ${LB.length} packages present, missing ${by['lb1']!.missing.join(' ')}`);
  assert.equal(text[2], `db1: Debian GNU/Linux 12 (bookworm), root, ${DB.length} of ${DB.length} packages present`);
  assert.ok(said.some((m) => m.startsWith('web1: checking')));
});

test('a host that is not Debian 12 is refused with a clear error, the others are reported, and nothing is installed on any', async () => {
  for (const [os, shows] of [
    [UBUNTU_24, /it runs Ubuntu 24\.04\.1 LTS; Vard supports Debian 12 \(bookworm\) only \(\/etc\/os-release: ID=ubuntu, VERSION_ID=24\.04\)/],
    [DEBIAN_11, /it runs Debian GNU\/Linux 11 \(bullseye\); Vard supports Debian 12/],
    [DEBIAN_TESTING, /it runs Debian GNU\/Linux trixie\/sid; .*VERSION_ID=\)/],
  ] as const) {
    // GIVEN web2 runs another system, the other two are fresh Debian 12 hosts
    const web1 = new FakeServer('web1', { os: DEBIAN_12, dpkg: FRESH });
    const web2 = new FakeServer('web2', { os, dpkg: FRESH });
    const lb1 = new FakeServer('lb1', { os: DEBIAN_12, dpkg: FRESH });
    const targets = [target(web1, ['web']), target(web2, ['web']), target(lb1, ['lb'])];
    // WHEN bootstrapping for real (not check only)
    const r = await bootstrapHosts(targets);
    // THEN web2 is refused, the others are checked and reported, and no host was changed
    assert.equal(r.ok, false);
    const by = Object.fromEntries(r.hosts.map((h) => [h.name, h]));
    assert.equal(by['web2']?.ok, false);
    assert.equal(by['web2']?.error?.code, 'VARD_ERR_HOST_UNSUPPORTED');
    assert.match(by['web2']!.error!.message, /^Host web2 cannot be bootstrapped: /);
    assert.match(by['web2']!.error!.message, shows);
    assert.equal(by['web2']?.down, undefined);
    assert.equal(by['web1']?.ok, true);
    assert.equal(by['lb1']?.ok, true);
    assert.ok(by['lb1']!.missing.includes('haproxy'), 'the others are reported with what they lack');
    for (const h of [web1, web2, lb1]) assert.deepEqual(h.changes(), [], `${h.name} was not changed`);
    assert.ok(!web2.log.some((l) => l.startsWith('dpkg-query')), 'nothing more is asked of a refused host');
    assert.match(formatBootstrap(r), /^web2: FAILED: Host web2 cannot be bootstrapped: it runs /m);

    // and the throwing form names every host, with the whole report attached
    await assert.rejects(bootstrapOrThrow(targets), (e) => {
      assert.ok(isVardError(e, 'VARD_ERR_BOOTSTRAP_FAILED'));
      assert.match(e.message, /^Bootstrap failed on 1 of 3 hosts; nothing was converged:/);
      assert.match(e.message, /\n {2}web1: Debian GNU\/Linux 12 \(bookworm\), root, /);
      assert.match(e.message, /\n {2}web2: FAILED: /);
      assert.match(e.message, /\n {2}lb1: Debian GNU\/Linux 12/);
      assert.equal((e.details?.['report'] as { hosts: unknown[] }).hosts.length, 3);
      return true;
    });
    for (const h of [web1, web2, lb1]) assert.deepEqual(h.changes(), []);
  }
});

test('a host without /etc/os-release, or reached as another user than root, is refused', async () => {
  const noOs = new FakeServer('web1', {});
  const sudoer = new FakeServer('web2', { os: DEBIAN_12, uid: 1000, user: 'admin', sudo: true, dpkg: FRESH });
  const plain = new FakeServer('web3', { os: DEBIAN_12, uid: 1001, user: 'deploy', sudo: false, dpkg: FRESH });
  const r = await bootstrapHosts([target(noOs, ['web']), target(sudoer, ['web']), target(plain, ['web'])]);
  assert.equal(r.ok, false);
  const [a, b, c] = r.hosts;
  assert.equal(a?.error?.code, 'VARD_ERR_COMMAND_FAILED');
  assert.match(a!.error!.message, /os-release/);
  assert.equal(b?.error?.code, 'VARD_ERR_HOST_UNSUPPORTED');
  assert.match(b!.error!.message, /Vard logs in as admin, not root \(passwordless sudo works, but configuration is written over SFTP as the login user\)/);
  assert.match(b!.error!.message, /set ssh\.user: root/);
  assert.equal(b?.os, 'Debian GNU/Linux 12 (bookworm)');
  assert.match(c!.error!.message, /Vard logs in as deploy, not root, and passwordless sudo is not available either/);
  for (const h of [noOs, sudoer, plain]) assert.deepEqual(h.changes(), []);
});

test('an unreachable host is reported as down and left alone; the reachable ones are still bootstrapped', async () => {
  // GIVEN db2 has no sshd answering (as the SSH transport reports it) and web1 lacks its packages
  const down = vardError('VARD_ERR_HOST_DOWN', ['db2 (no sshd answering at root@10.20.0.32:22: connect ECONNREFUSED 10.20.0.32:22)']);
  const db2 = new FakeServer('db2', { unreachable: down });
  const web1 = new FakeServer('web1', { os: DEBIAN_12, dpkg: FRESH });
  const targets = [target(web1, ['web']), target(db2, ['db'])];
  // WHEN
  const r = await bootstrapHosts(targets);
  // THEN db2 is reported, as down, and web1 got its packages
  const [w, d] = r.hosts;
  assert.equal(d?.name, 'db2');
  assert.equal(d?.ok, false);
  assert.equal(d?.down, true);
  assert.equal(d?.error?.code, 'VARD_ERR_HOST_DOWN');
  assert.equal(w?.ok, true);
  assert.deepEqual(w?.installed, WEB.filter((p) => !CORE_HOST_PACKAGES.includes(p)));
  assert.equal(r.ok, false, 'not every host is bootstrapped');
  assert.match(formatBootstrap(r), /^db2: DOWN, left alone until it is back: Host db2 \(no sshd answering/m);
  // A down host alone does not stop a converge: it is left alone like a down host in every converge.
  const again = await bootstrapOrThrow([target(new FakeServer('web1', { os: DEBIAN_12, dpkg: all(WEB) }), ['web']), target(new FakeServer('db2', { unreachable: down }), ['db'])]);
  assert.equal(again.hosts[1]?.down, true);
});

test('a host that answers but cannot be logged in to (changed host key) stops the bootstrap of every host', async () => {
  const mismatch = vardError('VARD_ERR_SSH_HOSTKEY_MISMATCH', ['web2', 'SHA256:old', 'SHA256:new']);
  const web1 = new FakeServer('web1', { os: DEBIAN_12, dpkg: FRESH });
  const web2 = new FakeServer('web2', { unreachable: mismatch });
  const r = await bootstrapHosts([target(web1, ['web']), target(web2, ['web'])]);
  assert.equal(r.ok, false);
  assert.equal(r.hosts[1]?.error?.code, 'VARD_ERR_SSH_HOSTKEY_MISMATCH');
  assert.equal(r.hosts[1]?.down, undefined);
  assert.equal(r.hosts[0]?.ok, true);
  assert.deepEqual(web1.changes(), [], 'web1 is not half-changed while web2 is in doubt');
});

test('install: only what is missing, with no daemon started by the package scripts, then Debian\'s own units out of the way', async () => {
  // GIVEN a fresh systemd host whose packages ship units: haproxy's starts at install, nftables' is an enabled oneshot
  const lb1 = new FakeServer('lb1', {
    os: DEBIAN_12,
    dpkg: { ...FRESH, curl: 'ii ' },
    systemd: true,
    units: { haproxy: ['haproxy.service'], varnish: ['varnish.service', 'varnishncsa.service'], keepalived: ['keepalived.service'], nftables: ['nftables.service'], socat: [], 'openssh-sftp-server': ['ssh@.service'] },
    unitState: {
      'haproxy.service': { pid: 4242, enabled: true },
      'varnish.service': { pid: 0, enabled: true },
      'nftables.service': { pid: 0, enabled: true },
      'keepalived.service': { pid: 0, enabled: false },
      'varnishncsa.service': { pid: 0, enabled: false },
    },
  });
  const said: string[] = [];
  // WHEN
  const r = await bootstrapOrThrow([target(lb1, ['lb'])], { say: (m) => said.push(m) });
  // THEN exactly the missing packages were installed, non-interactively, behind a policy-rc.d guard
  const missing = LB.filter((p) => !CORE_HOST_PACKAGES.includes(p) && p !== 'curl');
  const h = r.hosts[0]!;
  assert.equal(h.ok, true);
  assert.deepEqual(h.missing, missing);
  assert.deepEqual(h.installed, missing);
  const install = lb1.log.find((l) => / install /.test(l));
  assert.equal(install, `apt-get -o DPkg::Lock::Timeout=600 -q -y install --no-install-recommends ${missing.join(' ')}`);
  assert.ok(lb1.log.indexOf('apt-get -o DPkg::Lock::Timeout=600 -q update') < lb1.log.indexOf(install!), 'the package lists are fetched first');
  assert.ok(lb1.env.every((e) => e['DEBIAN_FRONTEND'] === 'noninteractive'));
  assert.equal(lb1.guardedInstall, true, 'policy-rc.d was there while apt-get ran');
  assert.equal(lb1.files.has(POLICY_RC), false, 'and is gone afterwards');
  // Debian's own units: a running one stopped and disabled, an enabled one disabled only (a
  // oneshot such as nftables would flush every table if stopped), idle ones and templates left.
  assert.deepEqual(h.disabledUnits, ['haproxy.service', 'nftables.service', 'varnish.service']);
  assert.ok(lb1.log.includes('systemctl disable --now haproxy.service'));
  assert.ok(lb1.log.includes('systemctl disable nftables.service'));
  assert.ok(lb1.log.includes('systemctl disable varnish.service'));
  assert.ok(!lb1.log.some((l) => /systemctl disable .*(keepalived|varnishncsa|ssh@)/.test(l)));
  assert.ok(said.some((m) => m.startsWith(`lb1: installing ${missing.length} Debian packages: `)));
  assert.match(formatBootstrap(r), new RegExp(`^lb1: Debian GNU/Linux 12 \\(bookworm\\), root, ${LB.length - missing.length} of ${LB.length} packages present, installed ${missing.join(' ')}$`));

  // A second run has nothing to install (idempotent): no apt-get, no guard written.
  const before = lb1.log.length;
  const again = await bootstrapOrThrow([target(lb1, ['lb'])]);
  assert.deepEqual(again.hosts[0]?.installed, []);
  assert.ok(!lb1.log.slice(before).some((l) => l.startsWith('apt-get') || l.startsWith('write ')));
});

test('install: an operator\'s own policy-rc.d is used and left as it was; a held package counts as installed', async () => {
  const mine = '#!/bin/sh\n# ours: nothing starts during maintenance\nexit 101\n';
  const db1 = new FakeServer('db1', { os: DEBIAN_12, dpkg: { ...FRESH, 'mariadb-server': 'hi ' }, files: { [POLICY_RC]: mine } });
  const r = await bootstrapOrThrow([target(db1, ['db'])]);
  assert.equal(r.hosts[0]?.ok, true);
  assert.equal(db1.guardedInstall, true);
  assert.equal(db1.files.get(POLICY_RC)?.data, mine);
  assert.ok(!db1.log.some((l) => l.startsWith('write ') || l.startsWith('remove ')));
  // The held mariadb-server is not asked for again (apt-get would refuse to change a held package).
  assert.ok(r.hosts[0]?.present.includes('mariadb-server'));
  assert.ok(!db1.log.find((l) => / install /.test(l))?.includes('mariadb-server'));
  // A host without systemd as init (a lab host) has no units to quiet.
  assert.deepEqual(r.hosts[0]?.disabledUnits, []);
  assert.ok(!db1.log.some((l) => l.startsWith('dpkg-query -L') || l.startsWith('systemctl')));
});

test('install: a failed apt-get fails that host only, its guard is removed, and the throwing form reports it', async () => {
  const web1 = new FakeServer('web1', { os: DEBIAN_12, dpkg: FRESH, aptFails: true });
  const web2 = new FakeServer('web2', { os: DEBIAN_12, dpkg: FRESH });
  const web3 = new FakeServer('web3', { os: DEBIAN_12, dpkg: FRESH, aptSkips: ['php8.2-mysql'] });
  const targets = [target(web1, ['web']), target(web2, ['web']), target(web3, ['web'])];
  const r = await bootstrapHosts(targets);
  assert.equal(r.ok, false);
  const [a, b, c] = r.hosts;
  assert.equal(a?.ok, false);
  assert.equal(a?.error?.code, 'VARD_ERR_COMMAND_FAILED');
  assert.match(a!.error!.message, /Unable to locate package/);
  assert.equal(web1.files.has(POLICY_RC), false, 'the guard does not outlive a failed install');
  assert.equal(b?.ok, true, 'the hosts install in parallel; one failing does not undo another');
  assert.equal(c?.ok, false);
  assert.match(c!.error!.message, /apt-get finished but php8\.2-mysql is still not installed/);
  await assert.rejects(bootstrapOrThrow(targets), (e) => isVardError(e, 'VARD_ERR_BOOTSTRAP_FAILED') && /on 2 of 3 hosts/.test(e.message));
});

test('no hosts: nothing to do', async () => {
  const r = await bootstrapOrThrow([]);
  assert.deepEqual(r, { hosts: [], ok: true });
  assert.equal(formatBootstrap(r), '');
});
