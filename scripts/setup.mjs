#!/usr/bin/env node
// Installs what Vard needs on a Debian 12 machine: Debian packages (with a policy-rc.d guard so
// no daemon starts in the root namespace) and the npm packages. Idempotent; says what it does.
// Plain JavaScript with Node built-ins only: it runs before any npm package exists.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync, chmodSync, unlinkSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const say = (m) => process.stderr.write(`[setup] ${m}\n`);

/**
 * Debian packages: what the platform itself needs, then each role's own list
 * (`src/roles/<role>/packages.json`, the same list the role module declares).
 */
const CORE_PACKAGES = [
  // the lab and its probes
  'iproute2', 'util-linux', 'procps', 'coreutils', 'curl', 'socat', 'iputils-ping', 'iputils-arping', 'wrk',
  // the ssh transport's tests
  'openssh-server', 'openssh-client',
  // building better-sqlite3 when no prebuilt binary can be fetched
  'python3', 'make', 'g++',
];

function rolePackages() {
  const dir = join(root, 'src', 'roles');
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const file = join(dir, name, 'packages.json');
    if (existsSync(file)) out.push(...JSON.parse(readFileSync(file, 'utf8')));
  }
  return out;
}

const PACKAGES = [...new Set([...CORE_PACKAGES, ...rolePackages()])];

function run(argv, opts = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: opts.quiet ? 'pipe' : 'inherit', env: { ...process.env, ...opts.env }, cwd: opts.cwd ?? root });
  if (r.status !== 0 && !opts.allowFail) {
    say(`failed: ${argv.join(' ')}${r.stderr ? `\n${r.stderr}` : ''}`);
    process.exit(r.status ?? 1);
  }
  return r;
}

function missingPackages() {
  return PACKAGES.filter((p) => {
    const r = spawnSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8' });
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
}

function installDebian() {
  const missing = missingPackages();
  if (!missing.length) {
    say('Debian packages: all present');
    return;
  }
  if (process.getuid?.() !== 0) {
    say(`missing Debian packages: ${missing.join(' ')}; run as root (or install them) and try again`);
    process.exit(1);
  }
  say(`installing Debian packages: ${missing.join(' ')}`);
  const guard = '/usr/sbin/policy-rc.d';
  let createdGuard = false;
  const guardOk = existsSync(guard) && spawnSync(guard, [], {}).status === 101;
  if (!guardOk) {
    // Without this, package scripts start apache2, haproxy, varnish… in the root namespace.
    say('adding /usr/sbin/policy-rc.d so package installs start no daemons');
    writeFileSync(guard, '#!/bin/sh\nexit 101\n');
    chmodSync(guard, 0o755);
    createdGuard = true;
  }
  try {
    const env = { DEBIAN_FRONTEND: 'noninteractive' };
    run(['apt-get', '-o', 'DPkg::Lock::Timeout=600', '-q', 'update'], { env });
    run(['apt-get', '-o', 'DPkg::Lock::Timeout=600', '-q', '-y', 'install', '--no-install-recommends', ...missing], { env });
  } finally {
    if (createdGuard) unlinkSync(guard);
  }
  const still = missingPackages();
  if (still.length) {
    say(`still missing after install: ${still.join(' ')}`);
    process.exit(1);
  }
}

function installNpm() {
  const lock = join(root, 'package-lock.json');
  const stamp = join(root, 'node_modules', '.package-lock.json');
  if (existsSync(stamp) && statSync(stamp).mtimeMs >= statSync(lock).mtimeMs) {
    say('npm packages: up to date');
    return;
  }
  say('installing npm packages (npm ci)');
  run(['npm', 'ci', '--no-audit', '--no-fund']);
}

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  say(`Node ${process.versions.node} is too old; Vard needs Node 20 or later`);
  process.exit(1);
}
if (existsSync('/etc/debian_version')) say(`Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}, Node ${process.versions.node}`);
installDebian();
installNpm();
