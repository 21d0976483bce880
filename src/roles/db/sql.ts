/**
 * Talking to MariaDB on a host: the `mariadb` client over the local socket as root (unix_socket
 * authentication, so no password exists to leak). SQL travels on standard input, never in argv,
 * so statements that carry a password are not visible in the process list; identifiers and
 * literals are escaped here and nowhere else.
 */
import { vardError } from '../../errors/index.ts';
import type { Host } from '../../host/index.ts';
import { redact } from '../../host/exec.ts';
import { dbIdentifierProblems } from '../../model/index.ts';
import { DB_PATHS } from './render.ts';

/** A backtick-quoted identifier; the name must also pass the allow-list (defence in depth). */
export function sqlId(name: string, max?: number): string {
  const problems = dbIdentifierProblems(name, max);
  if (problems.length) throw vardError('VARD_ERR_DB_IDENTIFIER', [JSON.stringify(name), problems.join('; ')]);
  return `\`${name.replace(/`/g, '``')}\``;
}

/** Quotes a name read back from the server (any table a site made); never for names Vard chooses. */
export function sqlQuoteExisting(name: string): string {
  return `\`${name.replace(/`/g, '``')}\``;
}

/** A single-quoted string literal with MariaDB's escapes (NO_BACKSLASH_ESCAPES is off by default). */
export function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\0/g, '\\0').replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\x1a/g, '\\Z')}'`;
}

/** Text for errors: statements may carry passwords (IDENTIFIED BY '…'). */
function scrub(s: string): string {
  return redact(s).replace(/IDENTIFIED BY '[^']*'/gi, "IDENTIFIED BY '***'").replace(/PASSWORD\s*=\s*'[^']*'/gi, "PASSWORD='***'");
}

export interface QueryOptions {
  readonly timeoutMs?: number;
  /** Return undefined instead of throwing when the server refuses or is not running. */
  readonly allowFail?: boolean;
  readonly database?: string;
}

/**
 * Runs statements and returns the rows of the last result set as arrays of strings (tab-separated
 * batch output: `mariadb -N -B`, e.g. `db1\t0-1-42`). NULL comes back as the string "NULL".
 */
export async function query(host: Host, sql: string, o: QueryOptions = {}): Promise<string[][] | undefined> {
  const argv = ['mariadb', `--socket=${DB_PATHS.socket}`, '--user=root', '--batch', '--skip-column-names', '--connect-timeout=3'];
  if (o.database) argv.push(`--database=${o.database}`);
  const r = await host.run(argv, { input: sql, allowFail: true, timeoutMs: o.timeoutMs ?? 30_000 });
  if (r.exitCode !== 0) {
    if (o.allowFail) return undefined;
    throw vardError('VARD_ERR_DB_QUERY', [host.name, scrub(r.stderr.trim() || `exit ${r.exitCode}`)], { details: { host: host.name, statement: scrub(sql).slice(0, 500) } });
  }
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/** The first column of the first row, or undefined. */
export async function scalar(host: Host, sql: string, o: QueryOptions = {}): Promise<string | undefined> {
  return (await query(host, sql, o))?.[0]?.[0];
}

/**
 * `SHOW SLAVE STATUS` as a record, from the vertical form:
 * ```
 * *************************** 1. row ***************************
 *                 Slave_IO_State: Waiting for master to send event
 *                    Master_Host: db1
 *              Slave_IO_Running: Yes
 * ```
 * Undefined when the server is not a replica (empty output) or does not answer.
 */
export async function slaveStatus(host: Host): Promise<Record<string, string> | undefined> {
  const r = await host.run(['mariadb', `--socket=${DB_PATHS.socket}`, '--user=root', '--connect-timeout=3', '--vertical'], {
    input: 'SHOW SLAVE STATUS',
    allowFail: true,
    timeoutMs: 15_000,
  });
  if (r.exitCode !== 0 || !r.stdout.trim()) return undefined;
  return parseVertical(r.stdout);
}

export function parseVertical(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_]+):\s?(.*)$/.exec(line);
    if (m && m[1]) out[m[1]] = m[2] ?? '';
  }
  return out;
}
