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
];

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
    return { name: row.name, topology: JSON.parse(row.topology) as Topology, sites: this.sites() };
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

  removeSite(domain: string): void {
    this.db.prepare('DELETE FROM sites WHERE domain = ?').run(domain);
  }
}
