/**
 * Trust on purpose (issue 10): the host keys the operator pinned, kept in the state store
 * (src/store/host-keys.ts), and Vard's own SSH key pair, generated once and kept private
 * (src/store/ssh-identity.ts).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import ssh2 from 'ssh2';
import { isVardError } from '../../src/errors/index.ts';
import { HostKeyStore, openDb } from '../../src/store/index.ts';
import { ensureSshIdentity } from '../../src/store/ssh-identity.ts';

const FP_A = 'SHA256:uO7QXvD0sRkP1e6Z0dSHb3tq8yE2JgqkP8nq1Yw0xXo';
const FP_B = 'SHA256:Lr2m3uC4m2uJ3xX0n9b7xWZtqf1rQd3pB8h2Kq5cVvE';
const T0 = new Date('2026-03-02T09:00:00Z');
const T1 = new Date('2026-03-03T10:30:00Z');

const scratch = mkdtempSync(join(tmpdir(), 'vard-host-trust-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function modeOf(path: string): number {
  return statSync(path).mode & 0o7777;
}

test('HostKeyStore: pin, pinned, all, re-pin and forget', () => {
  // GIVEN a fresh in-memory state store
  const keys = new HostKeyStore(openDb(':memory:'));
  assert.equal(keys.pinned('web1'), undefined);
  assert.deepEqual(keys.all(), []);

  // WHEN two hosts are pinned
  keys.pin('web2', FP_B, 'ssh-ed25519', T0);
  keys.pin('web1', FP_A, 'ecdsa-sha2-nistp256', T0);

  // THEN each is read back as pinned, and all() lists them by name
  assert.deepEqual(keys.pinned('web1'), { host: 'web1', sha256: FP_A, keyType: 'ecdsa-sha2-nistp256', pinnedAt: T0.toISOString() });
  assert.deepEqual(keys.all().map((k) => k.host), ['web1', 'web2']);

  // A re-pin (a reinstalled host, after `host trust --replace`) replaces key, type and time; one row per host.
  keys.pin('web1', FP_B, 'ssh-ed25519', T1);
  assert.deepEqual(keys.pinned('web1'), { host: 'web1', sha256: FP_B, keyType: 'ssh-ed25519', pinnedAt: T1.toISOString() });
  assert.equal(keys.all().length, 2);

  // forget removes only that host's pin; forgetting an unpinned host is harmless.
  keys.forget('web1');
  keys.forget('nosuch');
  assert.equal(keys.pinned('web1'), undefined);
  assert.deepEqual(keys.all().map((k) => k.host), ['web2']);
});

test('HostKeyStore: only SHA-256 fingerprints are stored', () => {
  const keys = new HostKeyStore(openDb(':memory:'));
  // The CLI validates the form first (`host trust --fingerprint`); the table refuses anything else too.
  assert.throws(() => keys.pin('web1', 'MD5:11:22:33', 'ssh-rsa', T0));
  assert.throws(() => keys.pin('web1', 'uO7QXvD0sRkP1e6Z0dSHb3tq8yE2JgqkP8nq1Yw0xXo', 'ssh-ed25519', T0));
  assert.equal(keys.pinned('web1'), undefined);
});

test('HostKeyStore: pins survive reopening the state file (migrations run once)', () => {
  // GIVEN a state file on disk with a pin
  const path = join(scratch, 'state', 'prod.db');
  const db1 = openDb(path);
  new HostKeyStore(db1).pin('lb1', FP_A, 'ssh-ed25519', T0);
  db1.close();
  // WHEN it is opened again and the store constructed twice
  const db2 = openDb(path);
  new HostKeyStore(db2);
  const keys = new HostKeyStore(db2);
  // THEN the pin is still there, and the state file is root's only
  assert.equal(keys.pinned('lb1')?.sha256, FP_A);
  db2.close();
  assert.equal(modeOf(path), 0o600);
  assert.equal(modeOf(join(scratch, 'state')), 0o700);
});

test('ensureSshIdentity: generated once, then the same key', () => {
  // GIVEN an empty directory that does not exist yet
  const dir = join(scratch, 'home1', 'ssh');
  // WHEN
  const first = ensureSshIdentity(dir);
  const second = ensureSshIdentity(dir);
  // THEN the pair was made by the first call only
  assert.equal(first.created, true);
  assert.equal(second.created, false);
  assert.equal(second.privateKey, first.privateKey);
  assert.equal(second.publicKey, first.publicKey);
  assert.equal(first.privatePath, join(dir, 'id_ed25519'));
  assert.equal(first.publicPath, join(dir, 'id_ed25519.pub'));
  assert.match(first.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
  // The line the operator installs in authorized_keys.
  assert.match(first.publicKey, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]+=* vard@\S+$/);
});

test('ensureSshIdentity: private key 0600 and directory 0700, even when loosened before a call', () => {
  const dir = join(scratch, 'home2', 'ssh');
  const k = ensureSshIdentity(dir);
  assert.equal(modeOf(dir), 0o700);
  assert.equal(modeOf(k.privatePath), 0o600);
  assert.equal(modeOf(k.publicPath), 0o600);

  // GIVEN someone loosened them
  chmodSync(dir, 0o755);
  chmodSync(k.privatePath, 0o644);
  chmodSync(k.publicPath, 0o666);
  // WHEN Vard reads the key again
  const again = ensureSshIdentity(dir);
  // THEN they are tightened, and the key is the same
  assert.equal(again.created, false);
  assert.equal(again.privateKey, k.privateKey);
  assert.equal(modeOf(dir), 0o700);
  assert.equal(modeOf(k.privatePath), 0o600);
  assert.equal(modeOf(k.publicPath), 0o600);
});

test('ensureSshIdentity: the public line is the private key\'s, and a wrong or missing .pub is repaired', () => {
  const dir = join(scratch, 'home3', 'ssh');
  const k = ensureSshIdentity(dir);
  const parsed = ssh2.utils.parseKey(k.privateKey);
  assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed));
  assert.equal(parsed.type, 'ssh-ed25519');
  const [type, blob] = k.publicKey.split(' ');
  assert.equal(type, parsed.type);
  assert.equal(blob, parsed.getPublicSSH().toString('base64'));
  assert.equal(readFileSync(k.publicPath, 'utf8'), `${k.publicKey}\n`);

  // GIVEN a .pub that belongs to another key (copied over by mistake)
  const other = ssh2.utils.generateKeyPairSync('ed25519', { comment: 'someone@else' });
  writeFileSync(k.publicPath, `${other.public}\n`);
  // THEN what Vard prints and writes is derived from its private key again
  assert.equal(ensureSshIdentity(dir).publicKey, k.publicKey);
  assert.equal(readFileSync(k.publicPath, 'utf8'), `${k.publicKey}\n`);

  // GIVEN the .pub deleted
  rmSync(k.publicPath);
  const again = ensureSshIdentity(dir);
  assert.equal(again.created, false, 'a missing public half does not mean a new pair');
  assert.equal(again.publicKey, k.publicKey);
  assert.equal(readFileSync(k.publicPath, 'utf8'), `${k.publicKey}\n`);
  assert.equal(modeOf(k.publicPath), 0o600);
});

test('ensureSshIdentity: a private key file that is no key is refused, not replaced', () => {
  const dir = join(scratch, 'home4', 'ssh');
  ensureSshIdentity(dir);
  writeFileSync(join(dir, 'id_ed25519'), 'not a key\n');
  assert.throws(() => ensureSshIdentity(dir), (e) => isVardError(e, 'VARD_ERR_STATE') && /not a usable SSH private key/.test(e.message));
  assert.equal(readFileSync(join(dir, 'id_ed25519'), 'utf8'), 'not a key\n');
});
