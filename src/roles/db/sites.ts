/**
 * One database and one user per site, created on the primary (replication carries them to the
 * replica). The user may connect from the private segment only and has privileges on its own
 * database only. Deleting takes a final dump first; without a dump the database stays.
 */
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

/** Which site databases exist on the primary (names only). */
export async function existingDatabases(host: Host): Promise<string[]> {
  return ((await query(host, "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'site\\_%'")) ?? []).map((r) => r[0] as string);
}

/** Creates every site's database and user on the primary; idempotent. Returns the primary's name. */
export async function ensureSiteDatabases(p: Platform, hostOf: HostOf): Promise<string | undefined> {
  const dbs = Object.values(p.databases ?? {});
  if (!dbs.length) return undefined;
  const primary = await currentPrimary(p, hostOf);
  const h = hostOf(primary);
  for (const db of dbs) await query(h, siteDatabaseSql(p, db));
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
