import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { vardError } from '../errors/index.ts';

export type Db = Database.Database;

export interface Migration {
  readonly id: number;
  readonly sql: string;
}

/** Opens (creating if needed) the SQLite state file. `:memory:` gives a throwaway store for tests. */
export function openDb(path: string): Db {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (domain TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (domain, id))');
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
      db.exec(m.sql);
      db.prepare('INSERT INTO schema_migrations (domain, id) VALUES (?, ?)').run(domain, m.id);
    })();
  }
}
