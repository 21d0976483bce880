import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { vardError } from '../errors/index.ts';
import { vardHome } from './home.ts';
import { ensurePrivateDir, PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, tighten, tightenTree } from './private-files.ts';

export type Db = Database.Database;

export interface Migration {
  readonly id: number;
  readonly sql?: string;
  /** For what SQL alone cannot compute (names derived with a hash); runs after `sql`, in the same transaction. */
  readonly run?: (db: Db) => void;
}

/** Beside the state file: SQLite's own (they hold recent writes, secrets included) and the converge lock. */
const SIDE_SUFFIXES = ['-wal', '-shm', '-journal', '.lock'];
/** Final dumps of deleted sites' databases, kept beside the state (src/platform/context.ts). */
const DUMPS = 'dumps';

/**
 * Whether the directory holding a state file is Vard's to lock down: the default state directory,
 * or one that holds nothing but state stores and their dumps. `--state` may point into /etc, a home
 * directory or /tmp; making one of those 0700 would break everything else that lives there.
 */
function isVardStateDir(dir: string): boolean {
  const st = statSync(dir);
  if (st.mode & 0o1000) return false;
  if (resolve(dir) === resolve(vardHome(), 'state')) return true;
  return readdirSync(dir).every((n) => n === DUMPS || /\.db(-wal|-shm|-journal|\.lock)?$/.test(n));
}

/**
 * The state file holds every generated password: it, its side files and its directory are made
 * root's only before SQLite touches them, and tightened when an older Vard left them 0644/0755.
 */
function lockDownStateFiles(path: string): void {
  const dir = dirname(path);
  if (!existsSync(dir)) ensurePrivateDir(dir);
  else if (isVardStateDir(dir)) {
    tighten(dir, PRIVATE_DIR_MODE);
    if (existsSync(join(dir, DUMPS))) tightenTree(join(dir, DUMPS));
  }
  // Created here rather than by SQLite, which would create it with the umask's mode (0644).
  if (!existsSync(path)) closeSync(openSync(path, 'a', PRIVATE_FILE_MODE));
  for (const f of [path, ...SIDE_SUFFIXES.map((s) => `${path}${s}`)]) tighten(f, PRIVATE_FILE_MODE);
}

/** Opens (creating if needed) the SQLite state file. `:memory:` gives a throwaway store for tests. */
export function openDb(path: string): Db {
  const onDisk = path !== ':memory:' && path !== '';
  try {
    if (onDisk) lockDownStateFiles(path);
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (domain TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (domain, id))');
    // Switching to WAL creates -wal and -shm now.
    if (onDisk) for (const s of ['-wal', '-shm']) tighten(`${path}${s}`, PRIVATE_FILE_MODE);
    return db;
  } catch (e) {
    throw vardError('VARD_ERR_STATE', [`cannot open ${path}: ${(e as Error).message}`], { cause: e });
  }
}

/**
 * Applies a domain's migrations once each, in id order, each in its own transaction. Each domain
 * (platform, desk, …) owns its tables and its list, so domains never edit each other's schema.
 */
export function migrate(db: Db, domain: string, migrations: readonly Migration[]): void {
  const done = new Set(
    (db.prepare('SELECT id FROM schema_migrations WHERE domain = ?').all(domain) as { id: number }[]).map((r) => r.id),
  );
  for (const m of [...migrations].sort((a, b) => a.id - b.id)) {
    if (done.has(m.id)) continue;
    db.transaction(() => {
      if (m.sql) db.exec(m.sql);
      m.run?.(db);
      db.prepare('INSERT INTO schema_migrations (domain, id) VALUES (?, ?)').run(domain, m.id);
    })();
  }
}
