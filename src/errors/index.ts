/**
 * The one catalogue of coded errors. Every error Vard raises on purpose has a code here, an HTTP
 * status for the API and an exit code for the CLI. Callers throw `vardError(code, ...args)`;
 * the message template keeps wording in one place.
 */

interface Def {
  readonly status: number;
  readonly exit: number;
  readonly template: string;
}

function def(status: number, exit: number, template: string): Def {
  return { status, exit, template };
}

export const catalogue = {
  VARD_ERR_TOPOLOGY_INVALID: def(400, 2, 'The topology is invalid:\n%s'),
  VARD_ERR_TOPOLOGY_UNREADABLE: def(400, 2, 'Cannot read the topology file %s: %s'),
  VARD_ERR_USAGE: def(400, 2, '%s'),
  VARD_ERR_SITE_INVALID: def(400, 2, 'The site is invalid:\n%s'),
  VARD_ERR_SITE_NOT_FOUND: def(404, 3, 'Site %s not found'),
  VARD_ERR_SITE_EXISTS: def(409, 4, 'Site %s already exists for customer %s'),
  VARD_ERR_HOST_UNKNOWN: def(404, 3, 'Host %s is not part of the topology (known: %s)'),
  VARD_ERR_HOST_DOWN: def(503, 5, 'Host %s is down'),
  VARD_ERR_COMMAND_FAILED: def(502, 5, 'On %s, `%s` failed (exit %s): %s'),
  VARD_ERR_CONFIG_REJECTED: def(409, 6, '%s on %s rejected the rendered configuration: %s'),
  VARD_ERR_APPLY_FAILED: def(502, 6, 'Applying %s on %s failed and was rolled back: %s'),
  VARD_ERR_NOT_READY: def(504, 7, '%s on %s did not become ready within %s ms: %s'),
  VARD_ERR_LAB_EXISTS: def(409, 4, 'A lab named %s is already running (owner pid %s); run `vard lab down --name %s` first'),
  VARD_ERR_LAB_NOT_RUNNING: def(404, 3, 'No lab named %s is running; start one with `vard lab up --name %s`'),
  VARD_ERR_LAB_NAME_INVALID: def(400, 2, 'Lab name %s is invalid: use 1-8 lowercase letters or digits, starting with a letter'),
  VARD_ERR_LAB_PREFLIGHT: def(500, 8, 'The lab cannot start on this machine:\n%s'),
  VARD_ERR_LAB_RESIDUE: def(500, 8, 'Teardown of lab %s left things behind:\n%s'),
  VARD_ERR_LAB_NO_SUBNET: def(503, 8, 'No free /24 for a lab inside 198.18.0.0/15'),
  VARD_ERR_LAB_HOST_FAILED: def(500, 8, 'Lab host %s did not start: %s'),
  VARD_ERR_LAB_STATE: def(409, 4, 'Lab host %s is %s; %s'),
  VARD_ERR_PLATFORM_MISSING: def(404, 3, 'No platform is defined in %s; run `vard lab up` first'),
  VARD_ERR_SSH_HOSTKEY_MISMATCH: def(502, 9, 'Host key of %s does not match its pinned fingerprint (expected %s, got %s): nothing was run on it. If the machine was reinstalled, compare the key on its console and pin it again with `vard host trust NAME --fingerprint … --replace`'),
  VARD_ERR_SSH_CONNECT: def(502, 9, 'Cannot connect to %s over ssh: %s'),
  VARD_ERR_SSH_SFTP: def(502, 9, 'On %s, sftp %s %s failed: %s'),
  VARD_ERR_STATE: def(500, 10, 'State store error: %s'),
  // Real servers (issue 10): inventory, trust, bootstrap.
  VARD_ERR_INVENTORY_INVALID: def(400, 2, 'The inventory %s is invalid; nothing was recorded:\n%s'),
  VARD_ERR_INVENTORY_UNREADABLE: def(400, 2, 'Cannot read the inventory file %s: %s'),
  VARD_ERR_PLATFORM_KIND: def(409, 4, 'Platform %s %s'),
  VARD_ERR_SSH_UNTRUSTED: def(409, 9, 'Host %s has no pinned host key, so Vard will not log in; check and pin it with `vard host trust %s`'),
  VARD_ERR_SSH_TRUST_MISMATCH: def(409, 9, 'Host %s offers the key %s, not the fingerprint %s you gave; nothing was pinned'),
  VARD_ERR_SSH_TRUST_CHANGED: def(409, 9, 'Host %s is pinned to %s but now offers %s; if the machine was really replaced, run `vard host trust %s --fingerprint <new> --replace`'),
  VARD_ERR_HOST_UNSUPPORTED: def(422, 14, 'Host %s cannot be bootstrapped: %s'),
  VARD_ERR_BOOTSTRAP_FAILED: def(502, 14, 'Bootstrap failed on %s of %s hosts; nothing was converged:\n%s'),
  // Service desk (issue 4): customers, contracts, tickets, incidents, mail, API access.
  VARD_ERR_DESK_DATE_INVALID: def(400, 2, 'Date "%s" does not exist or is not written YYYY-MM-DD'),
  VARD_ERR_DESK_MONTH_INVALID: def(400, 2, 'Month "%s" is not a month written YYYY-MM'),
  VARD_ERR_DESK_CUSTOMER_INVALID: def(400, 2, 'The customer is invalid:\n%s'),
  VARD_ERR_DESK_CUSTOMER_NOT_FOUND: def(404, 3, 'Customer %s not found'),
  VARD_ERR_DESK_CUSTOMER_EXISTS: def(409, 4, 'Customer %s already exists'),
  VARD_ERR_DESK_USER_INVALID: def(400, 2, 'The user is invalid:\n%s'),
  VARD_ERR_DESK_USER_NOT_FOUND: def(404, 3, 'User %s not found'),
  VARD_ERR_DESK_USER_EXISTS: def(409, 4, 'User %s already exists'),
  VARD_ERR_DESK_EMAIL_INVALID: def(400, 2, 'E-mail address "%s" is invalid'),
  VARD_ERR_DESK_CONTRACT_NOT_FOUND: def(404, 3, 'Customer %s has no contract'),
  VARD_ERR_DESK_CONTRACT_INVALID: def(400, 2, 'The contract is invalid:\n%s'),
  VARD_ERR_DESK_NOTICE_EXISTS: def(409, 4, 'Customer %s has already given notice; the contract ends on %s'),
  VARD_ERR_DESK_NOTICE_NONE: def(409, 4, 'Customer %s has no notice in force to withdraw'),
  VARD_ERR_DESK_NOTICE_TOO_LATE: def(409, 4, 'The notice of %s can no longer be withdrawn: the contract ended on %s'),
  VARD_ERR_DESK_NOTICE_INVALID: def(400, 2, 'A notice on %s is invalid: %s'),
  VARD_ERR_DESK_TICKET_INVALID: def(400, 2, 'The ticket is invalid:\n%s'),
  VARD_ERR_DESK_TICKET_NOT_FOUND: def(404, 3, 'Ticket %s not found'),
  VARD_ERR_DESK_TICKET_CLOSED: def(409, 4, 'Ticket %s is closed; a new message opens a new ticket instead'),
  VARD_ERR_DESK_INCIDENT_NOT_FOUND: def(404, 3, 'Incident %s not found'),
  VARD_ERR_DESK_INCIDENT_RESOLVED: def(409, 4, 'Incident %s is already resolved'),
  VARD_ERR_DESK_INBOX_NOT_FOUND: def(404, 3, 'Inbound message %s not found'),
  VARD_ERR_MAIL_SEND_FAILED: def(502, 5, 'Sending mail to %s failed: %s'),
  VARD_ERR_MAIL_LISTEN_FAILED: def(500, 8, 'Cannot listen for mail on %s: %s'),
  VARD_ERR_API_INVALID: def(400, 2, 'The request is invalid:\n%s'),
  VARD_ERR_API_NOT_FOUND: def(404, 3, 'No such endpoint: %s %s'),
  VARD_ERR_API_LISTEN_FAILED: def(500, 8, 'Cannot listen on %s: %s'),
  VARD_ERR_AUTH_REQUIRED: def(401, 11, 'Authentication required: send "Authorization: Bearer <token>"'),
  VARD_ERR_AUTH_INVALID: def(401, 11, 'Wrong e-mail, password or token'),
  VARD_ERR_AUTH_FORBIDDEN: def(403, 11, '%s may not %s'),
  // Database tier (issue 3).
  VARD_ERR_DB_IDENTIFIER: def(400, 2, 'Cannot use %s as a database identifier: %s'),
  VARD_ERR_DB_NO_TIER: def(404, 3, 'Platform %s has no database tier (no host with the role "db")'),
  VARD_ERR_DB_NO_PRIMARY: def(503, 12, 'No database primary is available: %s'),
  VARD_ERR_DB_QUERY: def(502, 12, 'On %s, MariaDB refused a statement: %s'),
  VARD_ERR_DB_CLUSTER: def(502, 12, 'The database cluster on %s: %s'),
  VARD_ERR_DB_SWITCHOVER: def(502, 12, 'Switchover to %s failed: %s'),
  VARD_ERR_DB_REJOIN: def(502, 12, 'Rejoining %s as a replica failed: %s'),
  VARD_ERR_DB_DUMP: def(502, 12, 'The final dump of %s failed, so its database was kept: %s'),
  VARD_ERR_INTERNAL: def(500, 1, 'Internal error: %s'),
} as const satisfies Record<string, Def>;

export type ErrorCode = keyof typeof catalogue;

function format(template: string, args: readonly unknown[]): string {
  let i = 0;
  return template.replace(/%s/g, () => {
    const a = args[i++];
    return a === undefined ? '' : String(a);
  });
}

export class VardError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly exitCode: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VardError';
    this.code = code;
    this.status = catalogue[code].status;
    this.exitCode = catalogue[code].exit;
    this.details = opts.details;
  }

  toJSON(): { code: ErrorCode; message: string; details?: Record<string, unknown> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** Builds a coded error; `args` fill the template's `%s` in order. */
export function vardError(
  code: ErrorCode,
  args: readonly unknown[] = [],
  opts: { cause?: unknown; details?: Record<string, unknown> } = {},
): VardError {
  return new VardError(code, format(catalogue[code].template, args), opts);
}

export function isVardError(e: unknown, code?: ErrorCode): e is VardError {
  return e instanceof VardError && (code === undefined || e.code === code);
}

/** One problem found by validation, with the path of the offending value. */
export interface Problem {
  readonly path: string;
  readonly message: string;
}

export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `  [${p.path || '(root)'}] ${p.message}`).join('\n');
}
