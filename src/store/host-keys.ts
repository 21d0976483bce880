import { migrate, type Db } from './db.ts';

const MIGRATIONS = [
  {
    // Issue 10: real servers. The host key each inventory host is trusted with, pinned by its
    // SHA-256 fingerprint (as `ssh-keygen -lf` prints it). The rest of what Vard knows about the
    // host (address, port, user, roles) is in the platform's topology; a key is not desired state
    // but a fact the operator confirmed, so it lives apart and survives a re-init of the inventory.
    id: 1,
    sql: `
      CREATE TABLE host_keys (
        host TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL CHECK (sha256 LIKE 'SHA256:%'),
        key_type TEXT NOT NULL,
        pinned_at TEXT NOT NULL
      );`,
  },
];

export interface PinnedKey {
  readonly host: string;
  readonly sha256: string;
  readonly keyType: string;
  readonly pinnedAt: string;
}

/** The pinned host keys of an inventory platform's servers. */
export class HostKeyStore {
  private readonly db: Db;
  constructor(db: Db) {
    this.db = db;
    migrate(db, 'host-keys', MIGRATIONS);
  }

  pinned(host: string): PinnedKey | undefined {
    const r = this.db.prepare('SELECT host, sha256, key_type, pinned_at FROM host_keys WHERE host = ?').get(host) as
      | { host: string; sha256: string; key_type: string; pinned_at: string }
      | undefined;
    return r ? { host: r.host, sha256: r.sha256, keyType: r.key_type, pinnedAt: r.pinned_at } : undefined;
  }

  all(): PinnedKey[] {
    return (this.db.prepare('SELECT host, sha256, key_type, pinned_at FROM host_keys ORDER BY host').all() as { host: string; sha256: string; key_type: string; pinned_at: string }[]).map(
      (r) => ({ host: r.host, sha256: r.sha256, keyType: r.key_type, pinnedAt: r.pinned_at }),
    );
  }

  /** Pins (or re-pins) a host's key. Callers decide whether replacing a different pin is allowed. */
  pin(host: string, sha256: string, keyType: string, now: Date): void {
    this.db
      .prepare(
        `INSERT INTO host_keys (host, sha256, key_type, pinned_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (host) DO UPDATE SET sha256 = excluded.sha256, key_type = excluded.key_type, pinned_at = excluded.pinned_at`,
      )
      .run(host, sha256, keyType, now.toISOString());
  }

  forget(host: string): void {
    this.db.prepare('DELETE FROM host_keys WHERE host = ?').run(host);
  }
}
