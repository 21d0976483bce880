/**
 * Key material of the database tier, made once per platform on the operator's side and kept as
 * secrets in the state store: Corosync's cluster key, and a small PKI for mutual TLS between the
 * db hosts (the platform's own CA; one certificate per db host, its name as CN). The openssl CLI
 * makes the keys; nothing here runs on a platform host.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  readonly cert: string;
  readonly key: string;
}

/** Corosync reads the whole keyfile as the key (128 to 4096 bytes): 256 random bytes, as text. */
export function makeTotemKey(): string {
  return randomBytes(256).toString('base64');
}

function inTemp<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'vard-pki-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const openssl = (dir: string, args: readonly string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** The platform's CA for the database hosts, as JSON `{cert, key}`. */
export function makeCa(platform: string): string {
  return inTemp((dir) => {
    const cn = `vard ${platform.replace(/[^A-Za-z0-9 .-]/g, '')} database CA`;
    openssl(dir, ['req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '3650', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return JSON.stringify({ cert: readFileSync(join(dir, 'ca.pem'), 'utf8'), key: readFileSync(join(dir, 'ca.key'), 'utf8') } satisfies Pem);
  });
}

/** A db host's certificate (CN and DNS name: the host's name) signed by the CA, as JSON `{cert, key}`. */
export function makeHostCert(caJson: string, host: string): string {
  if (!/^[a-z][a-z0-9]{0,9}$/.test(host)) throw new Error(`not a host name: ${host}`);
  const ca = JSON.parse(caJson) as Pem;
  return inTemp((dir) => {
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key, { mode: 0o600 });
    writeFileSync(join(dir, 'ext.cnf'), ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth,clientAuth', `subjectAltName=DNS:${host}`, ''].join('\n'));
    openssl(dir, ['req', '-new', ...EC, '-keyout', 'host.key', '-out', 'host.csr', '-subj', `/CN=${host}`]);
    openssl(dir, ['x509', '-req', '-in', 'host.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '3650', '-extfile', 'ext.cnf', '-out', 'host.pem']);
    return JSON.stringify({ cert: readFileSync(join(dir, 'host.pem'), 'utf8'), key: readFileSync(join(dir, 'host.key'), 'utf8') } satisfies Pem);
  });
}
