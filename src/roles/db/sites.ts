/**
 * One database and one user per site, created on the primary (replication carries them to the
 * replica). The user may connect from the private segment only and has privileges on its own
 * database only. Deleting takes a final dump first; without a dump the database stays.
 */
import { createHash } from 'node:crypto';
import { vardError } from '../../errors/index.ts';
import type { Host } from '../../host/index.ts';
import { DB_CHECK_TABLE, DB_NAME_MAX, DB_USER_MAX, type Platform, type SiteDatabase } from '../../model/index.ts';
import { DB_PATHS, privateNetMask } from './render.ts';
import { currentPrimary, type HostOf } from './cluster.ts';
import { query, sqlId, sqlString } from './sql.ts';

/**
 * Connections one site's user may hold at once, so a busy or hostile site cannot take the
 * server's `max-connections` (300) from the rest: a PHP worker holds one, a pool has 8 per web
 * server, three web servers make 24, and drush or cron want a few more.
 */
export const SITE_DB_MAX_CONNECTIONS = 30;

/** The statements that create (or converge) a site's database and user. Pure; exported for tests. */
export function siteDatabaseSql(p: Platform, db: SiteDatabase): string {
  const name = sqlId(db.name, DB_NAME_MAX);
  const user = `${sqlString(db.user)}@${sqlString(privateNetMask(p.topology))}`;
  sqlId(db.user, DB_USER_MAX);
  const check = `${name}.${sqlId(DB_CHECK_TABLE)}`;
  return [
    `CREATE DATABASE IF NOT EXISTS ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;`,
    `CREATE USER IF NOT EXISTS ${user} IDENTIFIED BY ${sqlString(db.password)} WITH MAX_USER_CONNECTIONS ${SITE_DB_MAX_CONNECTIONS};`,
    // The stored secret and the limit are the truth: a re-run puts them back if someone changed them.
    `ALTER USER ${user} IDENTIFIED BY ${sqlString(db.password)} WITH MAX_USER_CONNECTIONS ${SITE_DB_MAX_CONNECTIONS};`,
    `GRANT ALL PRIVILEGES ON ${name}.* TO ${user};`,
    // db-check.php keeps one row per web server (upserted by `web`).
    `CREATE TABLE IF NOT EXISTS ${check} (id BIGINT AUTO_INCREMENT PRIMARY KEY, at DATETIME(6) NOT NULL, web VARCHAR(64) NOT NULL, UNIQUE KEY web (web)) ENGINE=InnoDB;`,
    // An older Vard added a row per request: IGNORE keeps one per web server as the key goes on.
    `ALTER IGNORE TABLE ${check} ADD UNIQUE KEY IF NOT EXISTS web (web);`,
    '',
  ].join('\n');
}

/** What the primary holds of the sites' databases and accounts, read in one call. */
export interface SiteDbState {
  readonly databases: ReadonlySet<string>;
  /** Site accounts on the private segment: password hash and connection limit. */
  readonly users: ReadonlyMap<string, { readonly hash: string; readonly maxConnections: number }>;
  /** `db.user` pairs that hold a grant on the database. */
  readonly grants: ReadonlySet<string>;
  /** Databases whose check table has its one-row-per-web-server key. */
  readonly checkKeyed: ReadonlySet<string>;
}

/** MariaDB's mysql_native_password hash of a password: `*` and the upper-case hex of SHA1(SHA1(pw)). */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

/**
 * Pure: the statements that bring the sites' databases from `have` to the platform's, and only
 * those. Every statement is written to the binary log and, with semi-sync, waits for the replica:
 * re-running all of them for every site on every converge made a converge at 1,000 sites cost
 * tens of seconds for nothing.
 */
export function siteDatabaseChanges(p: Platform, have: SiteDbState): string {
  const out: string[] = [];
  for (const db of Object.values(p.databases ?? {})) {
    const u = have.users.get(db.user);
    const whole =
      have.databases.has(db.name) &&
      u !== undefined && u.hash === nativePasswordHash(db.password) && u.maxConnections === SITE_DB_MAX_CONNECTIONS &&
      have.grants.has(`${db.name}.${db.user}`) &&
      have.checkKeyed.has(db.name);
    if (!whole) out.push(siteDatabaseSql(p, db));
  }
  return out.join('');
}

/** Reads `SiteDbState` from the primary: four small queries in one client call. */
async function siteDbState(p: Platform, h: Host): Promise<SiteDbState> {
  const mask = sqlString(privateNetMask(p.topology));
  // Each row is tagged with what it is, so one result set carries all four answers.
  const rows =
    (await query(
      h,
      [
        "SELECT 'db', schema_name, '', '' FROM information_schema.schemata",
        `UNION ALL SELECT 'user', User, authentication_string, max_user_connections FROM mysql.user WHERE Host = ${mask}`,
        `UNION ALL SELECT 'grant', Db, User, '' FROM mysql.db WHERE Host = ${mask}`,
        `UNION ALL SELECT 'keyed', table_schema, '', '' FROM information_schema.statistics WHERE table_name = ${sqlString(DB_CHECK_TABLE)} AND index_name = 'web';`,
      ].join('\n'),
    )) ?? [];
  const databases = new Set<string>();
  const users = new Map<string, { hash: string; maxConnections: number }>();
  const grants = new Set<string>();
  const checkKeyed = new Set<string>();
  for (const [kind, a = '', b = '', c = ''] of rows) {
    if (kind === 'db') databases.add(a);
    else if (kind === 'user') users.set(a, { hash: b, maxConnections: Number(c) });
    // mysql.db keeps `_` in names escaped as `\_` when the grant was given on a quoted name.
    else if (kind === 'grant') grants.add(`${a.replace(/\\_/g, '_')}.${b}`);
    else if (kind === 'keyed') checkKeyed.add(a);
  }
  return { databases, users, grants, checkKeyed };
}

/**
 * Creates or repairs every site's database and user on the primary, and touches nothing that is
 * already as it should be. Idempotent. Returns the primary's name.
 */
export async function ensureSiteDatabases(p: Platform, hostOf: HostOf): Promise<string | undefined> {
  const dbs = Object.values(p.databases ?? {});
  if (!dbs.length) return undefined;
  const primary = await currentPrimary(p, hostOf);
  const h = hostOf(primary);
  const sql = siteDatabaseChanges(p, await siteDbState(p, h));
  if (sql) await query(h, sql, { timeoutMs: 600_000 });
  return primary;
}

export interface DropResult {
  readonly dumpPath: string;
  readonly dumpHost: string;
  readonly bytes: number;
}

/**
 * The finalizer of a site's database: a consistent dump (`mariadb-dump --single-transaction`) on
 * the primary into the dumps directory, verified non-empty and complete, then DROP DATABASE and
 * DROP USER. If the dump fails the database is kept (VARD_ERR_DB_DUMP). `stamp` names the file.
 */
export async function dumpAndDropSiteDatabase(p: Platform, hostOf: HostOf, domain: string, db: SiteDatabase, stamp: string): Promise<DropResult> {
  const primary = await currentPrimary(p, hostOf);
  const h = hostOf(primary);
  const name = sqlId(db.name, DB_NAME_MAX);
  const exists = await query(h, `SELECT 1 FROM information_schema.schemata WHERE schema_name = ${sqlString(db.name)}`);
  const dumpPath = `${DB_PATHS.dumps}/${db.name}-${stamp}.sql`;
  if (exists?.length) {
    // A fixed script; the names arrive as positional parameters. The trailing "-- Dump completed on …" line proves the dump is whole.
    const r = await h.run(
      [
        'sh', '-c', 'mariadb-dump --socket="$1" --user=root --single-transaction --routines --events --triggers --hex-blob --order-by-primary --databases "$2" > "$3.part" && mv "$3.part" "$3"',
        'vard-dump', DB_PATHS.socket, db.name, dumpPath,
      ],
      { allowFail: true, timeoutMs: 600_000 },
    );
    const text = (await h.readFile(dumpPath))?.toString('utf8') ?? '';
    if (r.exitCode !== 0 || !/-- Dump completed/.test(text.slice(-200))) {
      throw vardError('VARD_ERR_DB_DUMP', [db.name, r.stderr.trim().slice(-500) || 'the dump is incomplete'], { details: { domain, host: primary } });
    }
    await h.run(['chmod', '600', dumpPath]);
  }
  const user = `${sqlString(db.user)}@${sqlString(privateNetMask(p.topology))}`;
  // Ownership: the account is the one Vard derived for this site and holds the secret of (the
  // store row); a user on another host mask, made by hand, is never touched.
  sqlId(db.user, DB_USER_MAX);
  await query(h, `DROP DATABASE IF EXISTS ${name};\nDROP USER IF EXISTS ${user};`);
  const bytes = Number((await h.run(['stat', '-c', '%s', dumpPath], { allowFail: true })).stdout.trim()) || 0;
  return { dumpPath, dumpHost: primary, bytes };
}
