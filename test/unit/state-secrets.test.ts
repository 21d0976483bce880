/**
 * Issue 9, finding 2 (file modes): the state store holds every generated password, so it, its
 * SQLite side files, the lock beside it and the final dumps are root's only — also when an older
 * Vard created them with the usual 0755/0644. And no `--json` listing of sites carries a password.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { addressTopology, newSite } from '../../src/model/index.ts';
import { PlatformService } from '../../src/platform/service.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { openDb, PlatformStore, withFileLock, writePrivateFile } from '../../src/store/index.ts';
import { FIXED_NOW } from '../helpers/model.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, '0');
}

/** Runs with the most permissive umask, so that only Vard's own modes can keep others out. */
async function withUmask<T>(mask: number, fn: () => T | Promise<T>): Promise<T> {
  const old = process.umask(mask);
  try {
    return await fn();
  } finally {
    process.umask(old);
  }
}

test('a fresh state store: directory 0700, the file and its -wal/-shm 0600, the lock 0600', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'vard-modes-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const dir = join(home, 'state');
  const file = join(dir, 'vard.db');
  await withUmask(0, async () => {
    const db = openDb(file);
    const store = new PlatformStore(db);
    store.setTopology('t', addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG), FIXED_NOW);
    store.ensureSecret('db:replication', FIXED_NOW);
    assert.equal(mode(dir), '0700');
    for (const f of [file, `${file}-wal`, `${file}-shm`]) assert.equal(mode(f), '0600', f);
    await withFileLock(`${file}.lock`, async () => assert.equal(mode(`${file}.lock`), '0600'));
    db.close();
  });
});

test('a state directory and files an older Vard left 0755/0644 are tightened when the store is opened', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'vard-modes-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const dir = join(home, 'state');
  const file = join(dir, 'vard.db');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  // As the previous release left it: a store with a secret, another process still holding it
  // open (so -wal and -shm exist), a lock file, all readable by everyone.
  const older = new Database(file);
  older.pragma('journal_mode = WAL');
  older.exec("CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL); INSERT INTO secrets VALUES ('db:replication', 'SecretSecretSecretSecretSecret12', 'x')");
  writeFileSync(`${file}.lock`, '1 1\n');
  for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}.lock`]) {
    assert.ok(existsSync(f), f);
    chmodSync(f, 0o644);
  }
  try {
    const db = openDb(file);
    assert.equal(mode(dir), '0700');
    for (const f of [file, `${file}-wal`, `${file}-shm`, `${file}.lock`]) assert.equal(mode(f), '0600', f);
    db.close();
  } finally {
    older.close();
  }
});

test('a state file in a directory shared with other things tightens the file, never the directory', (t) => {
  const shared = mkdtempSync(join(tmpdir(), 'vard-modes-'));
  t.after(() => rmSync(shared, { recursive: true, force: true }));
  chmodSync(shared, 0o755);
  writeFileSync(join(shared, 'notes.txt'), 'not vard’s\n');
  const file = join(shared, 'x.db');
  writeFileSync(file, '');
  chmodSync(file, 0o644);
  openDb(file).close();
  assert.equal(mode(file), '0600');
  // Chmodding e.g. /etc or a home directory because `--state` pointed there would break other things.
  assert.equal(mode(shared), '0755');
});

test('final dumps: written 0600 into a 0700 directory, also one an older Vard left 0755; older dumps are tightened with the store', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'vard-modes-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const state = join(home, 'state');
  const dumps = join(state, 'dumps', 'lab1');
  mkdirSync(dumps, { recursive: true, mode: 0o755 });
  for (const d of [state, join(state, 'dumps'), dumps]) chmodSync(d, 0o755);
  const old = join(dumps, 'old.example.com-site_old.sql');
  writeFileSync(old, 'old dump');
  chmodSync(old, 0o644);
  await withUmask(0, () => {
    const local = writePrivateFile(dumps, 'www.example.com-site_www.sql', Buffer.from('dump'));
    assert.equal(local, join(dumps, 'www.example.com-site_www.sql'));
    assert.equal(mode(local), '0600');
    assert.equal(mode(dumps), '0700');
    const fresh = writePrivateFile(join(state, 'dumps', 'lab2'), 'a.sql', Buffer.from('dump'));
    assert.equal(mode(fresh), '0600');
    assert.equal(mode(join(state, 'dumps', 'lab2')), '0700');
  });
  openDb(join(state, 'lab1.db')).close();
  for (const d of [state, join(state, 'dumps'), dumps]) assert.equal(mode(d), '0700', d);
  assert.equal(mode(old), '0600');
});

test('no --json output of `vard site list|show|create` carries a password', (t) => {
  const home = mkdtempSync(join(tmpdir(), 'vard-json-'));
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const state = join(home, 'state', 'json.db');
  const db = openDb(state);
  const store = new PlatformStore(db);
  const svc = new PlatformService({ store, hostOf: () => assert.fail('no host is needed'), now: () => FIXED_NOW });
  const topology = addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG);
  svc.setTopology('json', topology);
  for (const domain of ['www.example.com', 'shop.example.org']) store.addNewSite((cur) => newSite({ domain }, cur, FIXED_NOW));
  svc.setTopology('json', topology);
  // What `site create --json` prints is the site record itself: names, never credentials.
  assert.deepEqual(Object.keys(store.sites()[0]!).sort(), ['createdAt', 'customer', 'dbName', 'dbUser', 'domain', 'drupal', 'port', 'slug', 'unixUser']);
  const secrets = (db.prepare('SELECT value FROM secrets').all() as { value: string }[]).map((r) => r.value);
  assert.ok(secrets.length >= 3, 'the replication password and one per site');
  db.close();

  const vard = (...args: string[]) =>
    spawnSync(process.execPath, [join(ROOT, 'bin/vard.mjs'), '--state', state, '--lab', 'nolab', '--json', ...args], {
      encoding: 'utf8',
      env: { ...process.env, VARD_HOME: home },
      timeout: 60_000,
    });
  const outputs = [vard('site', 'list'), vard('site', 'show', 'www.example.com'), vard('site', 'create', 'new.example.com')];
  const [list, show, create] = outputs;
  assert.equal(list!.status, 0, list!.stderr);
  assert.equal((JSON.parse(list!.stdout) as unknown[]).length, 2);
  assert.equal(show!.status, 0, show!.stderr);
  assert.equal((JSON.parse(show!.stdout) as { domain: string }).domain, 'www.example.com');
  // Without a lab the create cannot converge; whatever it prints (the site or the error) is JSON too.
  JSON.parse(create!.stdout);
  for (const r of outputs) {
    for (const s of secrets) assert.ok(!r.stdout.includes(s) && !r.stderr.includes(s), 'a stored secret was printed');
    assert.doesNotMatch(r.stdout, /"(password|secret)[^"]*"\s*:/i);
  }
});
