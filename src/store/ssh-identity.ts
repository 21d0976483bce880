import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { vardError } from '../errors/index.ts';
import { vardHome } from './home.ts';
import { ensurePrivateDir, PRIVATE_FILE_MODE, tighten, writePrivateFile } from './private-files.ts';

/** Vard's own SSH key pair: one per operator machine, installed in root's authorized_keys on every server. */
export interface SshIdentity {
  /** OpenSSH private key (PEM-armoured `openssh-key-v1`); never printed. */
  readonly privateKey: string;
  /** `ssh-ed25519 AAAA… vard@<machine>`: the line the operator installs. */
  readonly publicKey: string;
  readonly privatePath: string;
  readonly publicPath: string;
  /** True when this call generated the pair. */
  readonly created: boolean;
}

/**
 * An ed25519 pair that ssh2 itself can read back. ssh2's generator drops every leading zero byte
 * of the public key, so about one pair in 256 is malformed (mscdex/ssh2#1390, #1513): such a
 * pair is thrown away and another drawn.
 */
function wellFormedPair(): { private: string; public: string } {
  for (let attempt = 0; attempt < 32; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync('ed25519', { comment: `vard@${hostname()}` });
    const priv = ssh2.utils.parseKey(pair.private);
    const pub = ssh2.utils.parseKey(pair.public);
    if (!(priv instanceof Error) && !(pub instanceof Error)) return pair;
  }
  throw vardError('VARD_ERR_INTERNAL', ['ssh2 generated 32 malformed ed25519 key pairs in a row']);
}

/** Where the key pair lives: `$VARD_HOME/ssh`, a 0700 directory beside the state. */
export function sshIdentityDir(): string {
  return join(vardHome(), 'ssh');
}

/**
 * Vard's SSH key pair, generated once (ed25519) and kept like every other secret: the private
 * key 0600 in a 0700 directory, tightened again on every read in case someone loosened it. The
 * pair is per operator machine, not per platform, so one line in `authorized_keys` serves every
 * platform this machine drives.
 */
export function ensureSshIdentity(dir: string = sshIdentityDir()): SshIdentity {
  ensurePrivateDir(dir);
  const privatePath = join(dir, 'id_ed25519');
  const publicPath = join(dir, 'id_ed25519.pub');
  let created = false;
  if (!existsSync(privatePath)) {
    const pair = wellFormedPair();
    // The public half first: a private key without it is repaired below, never the reverse.
    writePrivateFile(dir, 'id_ed25519.pub', Buffer.from(`${pair.public.trim()}\n`));
    writePrivateFile(dir, 'id_ed25519', Buffer.from(pair.private.endsWith('\n') ? pair.private : `${pair.private}\n`));
    created = true;
  }
  tighten(privatePath, PRIVATE_FILE_MODE);
  const privateKey = readFileSync(privatePath, 'utf8');
  const parsed = ssh2.utils.parseKey(privateKey);
  if (parsed instanceof Error || Array.isArray(parsed)) {
    throw vardError('VARD_ERR_STATE', [`${privatePath} is not a usable SSH private key: ${parsed instanceof Error ? parsed.message : 'several keys in one file'}`]);
  }
  // Derived from the private key, so the printed line always matches what Vard logs in with.
  const publicKey = `${parsed.type} ${parsed.getPublicSSH().toString('base64')} ${parsed.comment || `vard@${hostname()}`}`;
  if (!existsSync(publicPath) || readFileSync(publicPath, 'utf8').trim() !== publicKey) writePrivateFile(dir, 'id_ed25519.pub', Buffer.from(`${publicKey}\n`));
  tighten(publicPath, PRIVATE_FILE_MODE);
  return { privateKey, publicKey, privatePath, publicPath, created };
}
