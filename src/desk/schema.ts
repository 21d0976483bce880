import type { Migration } from '../store/index.ts';

/** The desk domain's tables (prefix desk_). Sites stay in the platform domain; they join on the customer slug. */
export const DESK_MIGRATIONS: readonly Migration[] = [
  {
    id: 1,
    sql: `
      CREATE TABLE desk_customers (
        slug TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        mail_domains TEXT NOT NULL DEFAULT '[]',
        created_at TEXT NOT NULL
      );
      CREATE TABLE desk_users (
        id INTEGER PRIMARY KEY,
        email TEXT NOT NULL UNIQUE COLLATE NOCASE,
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('staff', 'customer')),
        customer TEXT REFERENCES desk_customers(slug),
        password_hash TEXT,
        oncall INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        CHECK ((role = 'customer') = (customer IS NOT NULL))
      );
      CREATE TABLE desk_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES desk_users(id),
        name TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        expires_at TEXT,
        revoked_at TEXT
      );
      CREATE TABLE desk_contracts (
        customer TEXT PRIMARY KEY REFERENCES desk_customers(slug),
        start_date TEXT NOT NULL,
        notice_months INTEGER NOT NULL,
        retention_days INTEGER NOT NULL,
        targets TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE desk_notices (
        id INTEGER PRIMARY KEY,
        customer TEXT NOT NULL REFERENCES desk_customers(slug),
        notice_date TEXT NOT NULL,
        end_date TEXT NOT NULL,
        exit_plan TEXT NOT NULL,
        given_at TEXT NOT NULL,
        given_by TEXT NOT NULL,
        withdrawn_at TEXT,
        withdrawn_by TEXT
      );
      CREATE TABLE desk_tickets (
        id INTEGER PRIMARY KEY,
        customer TEXT NOT NULL REFERENCES desk_customers(slug),
        subject TEXT NOT NULL,
        channel TEXT NOT NULL CHECK (channel IN ('email', 'phone', 'api')),
        requester TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        created_at TEXT NOT NULL,
        first_response_at TEXT,
        closed_at TEXT,
        closed_by TEXT,
        follow_up_of INTEGER REFERENCES desk_tickets(id)
      );
      CREATE TABLE desk_inbound (
        id INTEGER PRIMARY KEY,
        received_at TEXT NOT NULL,
        envelope_from TEXT NOT NULL,
        envelope_to TEXT NOT NULL,
        size INTEGER NOT NULL,
        raw BLOB NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('received', 'attached', 'unmatched', 'duplicate')),
        reason TEXT,
        ticket_id INTEGER REFERENCES desk_tickets(id),
        message_id TEXT,
        subject TEXT,
        sender TEXT
      );
      CREATE TABLE desk_messages (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES desk_tickets(id),
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
        channel TEXT NOT NULL,
        author TEXT NOT NULL,
        at TEXT NOT NULL,
        body TEXT NOT NULL,
        message_id TEXT UNIQUE,
        inbound_id INTEGER REFERENCES desk_inbound(id),
        delivery TEXT,
        delivery_error TEXT
      );
      CREATE INDEX desk_messages_ticket ON desk_messages(ticket_id);
      CREATE TABLE desk_incidents (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        customer TEXT,
        title TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
        opened_at TEXT NOT NULL,
        opened_by TEXT NOT NULL,
        down_since TEXT NOT NULL,
        response_rule TEXT NOT NULL,
        response_minutes INTEGER NOT NULL,
        response_due_at TEXT NOT NULL,
        acked_at TEXT,
        acked_by TEXT,
        up_at TEXT,
        downtime_seconds INTEGER,
        resolved_at TEXT,
        resolved_by TEXT
      );
      CREATE INDEX desk_incidents_site ON desk_incidents(site, opened_at);
      CREATE TABLE desk_incident_events (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES desk_incidents(id),
        at TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        text TEXT NOT NULL
      );
      CREATE TABLE desk_probes (
        id INTEGER PRIMARY KEY,
        site TEXT NOT NULL,
        at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL
      );
      CREATE INDEX desk_probes_site_at ON desk_probes(site, at);
      CREATE TABLE desk_audit (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details TEXT NOT NULL
      );`,
  },
];
