import { randomBytes } from 'node:crypto';
import { vardError } from '../errors/index.ts';
import { dbNameForSlug, dbUserForSlug, firstFreeName, takenNames, type Platform, type Site, type TakenNames, type Topology } from '../model/index.ts';
import { migrate, type Db } from './db.ts';

/** The sites table with every name a site owns on the hosts recorded, each unique (migration 4). */
const SITES_V4 = `
  CREATE TABLE sites_v4 (
    domain TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    customer TEXT NOT NULL,
    drupal INTEGER NOT NULL,
    port INTEGER NOT NULL UNIQUE,
    unix_user TEXT NOT NULL UNIQUE,
    db_name TEXT NOT NULL UNIQUE,
    db_user TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
  );`;

/**
 * Records the database name and user every existing site had, derived as the db role derived them
 * when reading the state, so nothing on the database servers is renamed. The one exception is a
 * clash that derivation let happen (two long slugs truncated to one user): the site created
 * first keeps the name, the later one gets the next distinct name and with it an account of its own.
 */
function recordDatabaseNames(db: Db): void {
  db.exec(SITES_V4);
  const rows = db.prepare('SELECT * FROM sites ORDER BY created_at, domain').all() as Omit<SiteRow, 'db_name' | 'db_user'>[];
  const names = new Map<string, { dbName?: string; dbUser?: string }>(rows.map((r) => [r.domain, {}]));
  const dbNames = new Set<string>();
  const dbUsers = new Set<string>();
  // Every name that clashes with no other site first, so a renamed site never takes one of those.
  for (const r of rows) {
    const own = names.get(r.domain)!;
    const name = dbNameForSlug(r.slug);
    const user = dbUserForSlug(r.slug);
    if (!dbNames.has(name)) {
      own.dbName = name;
      dbNames.add(name);
    }
    if (!dbUsers.has(user)) {
      own.dbUser = user;
      dbUsers.add(user);
    }
  }
  const insert = db.prepare(
    'INSERT INTO sites_v4 (domain, slug, customer, drupal, port, unix_user, db_name, db_user, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  for (const r of rows) {
    const own = names.get(r.domain)!;
    const dbName = own.dbName ?? firstFreeName((k) => dbNameForSlug(r.slug, k), dbNames);
    const dbUser = own.dbUser ?? firstFreeName((k) => dbUserForSlug(r.slug, k), dbUsers);
    dbNames.add(dbName);
    dbUsers.add(dbUser);
    insert.run(r.domain, r.slug, r.customer, r.drupal, r.port, r.unix_user, dbName, dbUser, r.created_at);
  }
  db.exec('DROP TABLE sites; ALTER TABLE sites_v4 RENAME TO sites;');
}

const MIGRATIONS = [
  {
    id: 1,
    sql: `
      CREATE TABLE platform (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        topology TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE sites (
        domain TEXT PRIMARY KEY,
        slug TEXT NOT NULL UNIQUE,
        customer TEXT NOT NULL,
        drupal INTEGER NOT NULL,
        port INTEGER NOT NULL UNIQUE,
        unix_user TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL
      );`,
  },
  {
    // Issue 3: generated secrets (database passwords). Kept out of the sites table so no query
    // that lists sites can carry one by accident; read only where a secret is needed.
    id: 2,
    sql: `
      CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        created_at TEXT NOT NULL
      );`,
  },
  {
    // Issue 8: a role's private address moved from `dbVip` to `vips.<role>` (the db role's is `vips.db`).
    id: 3,
    sql: `
      UPDATE platform
         SET topology = json_set(json_remove(topology, '$.dbVip'), '$.vips', json_object('db', json_extract(topology, '$.dbVip')))
       WHERE json_extract(topology, '$.dbVip') IS NOT NULL;`,
  },
  {
    // Issue 9: names derived on read could collide; every name is now recorded and unique.
    id: 4,
    run: recordDatabaseNames,
  },
];

/** A password for MariaDB accounts: 32 characters of [A-Za-z0-9], about 190 bits. Safe in SQL, PHP and CIB XML unescaped. */
export function generatePassword(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const out: string[] = [];
  while (out.length < 32) {
    // Rejection sampling keeps every character equally likely (256 is not a multiple of 62).
    for (const b of randomBytes(48)) if (b < 248 && out.length < 32) out.push(alphabet[b % 62] as string);
  }
  return out.join('');
}

interface SiteRow {
  domain: string;
  slug: string;
  customer: string;
  drupal: number;
  port: number;
  unix_user: string;
  db_name: string;
  db_user: string;
  created_at: string;
}

function toSite(r: SiteRow): Site {
  return {
    domain: r.domain,
    slug: r.slug,
    customer: r.customer,
    drupal: r.drupal === 7 ? 7 : 10,
    port: r.port,
    unixUser: r.unix_user,
    dbName: r.db_name,
    dbUser: r.db_user,
    createdAt: r.created_at,
  };
}

/** The desired state of the platform: its topology and its sites. */
export class PlatformStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
    migrate(db, 'platform', MIGRATIONS);
  }

  setTopology(name: string, topology: Topology, now: Date): void {
    this.db
      .prepare(
        `INSERT INTO platform (id, name, topology, updated_at) VALUES (1, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, topology = excluded.topology, updated_at = excluded.updated_at`,
      )
      .run(name, JSON.stringify(topology), now.toISOString());
  }

  platform(): Platform | undefined {
    const row = this.db.prepare('SELECT name, topology FROM platform WHERE id = 1').get() as { name: string; topology: string } | undefined;
    if (!row) return undefined;
    // Role-specific parts (database credentials from their secrets) are added by the roles.
    return { name: row.name, topology: JSON.parse(row.topology) as Topology, sites: this.sites() };
  }

  /** A stored secret's value, or undefined. Callers must never log it. */
  secret(name: string): string | undefined {
    return (this.db.prepare('SELECT value FROM secrets WHERE name = ?').get(name) as { value: string } | undefined)?.value;
  }

  /** Returns the secret, generating and storing it first if it does not exist yet. */
  ensureSecret(name: string, now: Date, make: () => string = generatePassword): string {
    const cur = this.secret(name);
    if (cur) return cur;
    const value = make();
    this.db.prepare('INSERT INTO secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING').run(name, value, now.toISOString());
    return this.secret(name) as string;
  }

  removeSecret(name: string): void {
    this.db.prepare('DELETE FROM secrets WHERE name = ?').run(name);
  }

  sites(): Site[] {
    return (this.db.prepare('SELECT * FROM sites ORDER BY domain').all() as SiteRow[]).map(toSite);
  }

  site(domain: string): Site | undefined {
    const r = this.db.prepare('SELECT * FROM sites WHERE domain = ?').get(domain) as SiteRow | undefined;
    return r ? toSite(r) : undefined;
  }

  /** Records a site with its names; a name another site owns is refused, never shared. */
  addSite(s: Site): void {
    try {
      this.db
        .prepare('INSERT INTO sites (domain, slug, customer, drupal, port, unix_user, db_name, db_user, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
        .run(s.domain, s.slug, s.customer, s.drupal, s.port, s.unixUser, s.dbName, s.dbUser, s.createdAt);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw vardError('VARD_ERR_SITE_EXISTS', [s.domain, s.customer], { cause: e });
      if (code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw vardError('VARD_ERR_STATE', [`${s.domain}: a name it was given is already recorded for another site (${(e as Error).message})`], { cause: e });
      }
      throw vardError('VARD_ERR_STATE', [(e as Error).message], { cause: e });
    }
  }

  /**
   * Reads the sites and the names they own and inserts the one `build` makes from them in one
   * immediate transaction, so two processes creating sites at once never take the same name or port.
   */
  addNewSite(build: (existing: Site[], taken: TakenNames) => Site): Site {
    return this.db
      .transaction(() => {
        const existing = this.sites();
        const site = build(existing, takenNames(existing));
        this.addSite(site);
        return site;
      })
      .immediate();
  }

  removeSite(domain: string): void {
    this.db.prepare('DELETE FROM sites WHERE domain = ?').run(domain);
  }
}
