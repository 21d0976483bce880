import { randomBytes } from 'node:crypto';
import { vardError } from '../errors/index.ts';
import type { Platform, Site, Topology } from '../model/index.ts';
import { migrate, type Db } from './db.ts';

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
  ensureSecret(name: string, now: Date): string {
    const cur = this.secret(name);
    if (cur) return cur;
    const value = generatePassword();
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

  addSite(s: Site): void {
    try {
      this.db
        .prepare('INSERT INTO sites (domain, slug, customer, drupal, port, unix_user, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(s.domain, s.slug, s.customer, s.drupal, s.port, s.unixUser, s.createdAt);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || (e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw vardError('VARD_ERR_SITE_EXISTS', [s.domain, s.customer], { cause: e });
      }
      throw vardError('VARD_ERR_STATE', [(e as Error).message], { cause: e });
    }
  }

  /**
   * Reads the sites and inserts the one `build` makes from them in one immediate transaction, so
   * two processes creating sites at once never both take the same port.
   */
  addNewSite(build: (existing: Site[]) => Site): Site {
    return this.db
      .transaction(() => {
        const site = build(this.sites());
        this.addSite(site);
        return site;
      })
      .immediate();
  }

  removeSite(domain: string): void {
    this.db.prepare('DELETE FROM sites WHERE domain = ?').run(domain);
  }
}
