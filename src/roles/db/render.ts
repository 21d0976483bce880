/**
 * The database tier's files, rendered purely from the model: MariaDB's my.cnf, Corosync's
 * corosync.conf, the Pacemaker configuration (CIB) and Vard's thin wrapper around the
 * `ocf:heartbeat:mariadb` resource agent. Decisions: docs/designs/0001-database-tier.md.
 */
import { hostsWithRole, type HostSpec, type Platform, type Topology } from '../../model/index.ts';
import { currentDir, header, type ConfigSet } from '../../render/index.ts';

/** Where the database tier keeps things on a db or quorum host. /srv survives a reboot in the lab; /run does not. */
export const DB_PATHS = {
  /** The daemons read their configuration through `current` (a config set, src/apply/config-set.ts). */
  myCnf: `${currentDir('mariadb')}/my.cnf`,
  mysqlHome: '/srv/vard/mysql',
  datadir: '/srv/vard/mysql/data',
  socket: '/run/mysqld/mysqld.sock',
  pidFile: '/run/mysqld/mysqld.pid',
  errorLog: '/var/log/mysql/error.log',
  corosyncConf: `${currentDir('corosync')}/corosync.conf`,
  /** Corosync's cluster key, in the same config set as corosync.conf (root only). */
  corosyncKey: `${currentDir('corosync')}/authkey`,
  /** This db host's TLS key pair and the platform's CA (root only): the rebuild stream between db hosts. */
  tls: '/etc/vard/tls',
  /** Pacemaker and Corosync hard-code /var/lib paths; these persistent directories are bound over them. */
  clusterState: '/srv/vard/cluster',
  dumps: '/srv/vard/dumps',
  agentDir: '/usr/lib/ocf/resource.d/vard',
  agent: '/usr/lib/ocf/resource.d/vard/mariadb',
} as const;

export const DB_PORT = 3306;
/** Corosync's knet port, and the port a replica being rebuilt receives the primary's backup on. */
export const COROSYNC_PORT = 5405;
export const REJOIN_PORT = 4444;
/** The account replication and the resource agent use (a local admin and a network replication login). */
export const REPL_USER = 'vard_repl';
/** Pacemaker resource ids. */
export const DB_RESOURCE = 'db';
export const DB_CLONE = 'db-clone';
export const DB_VIP_RESOURCE = 'db-vip';
export const DB_PRIVATE_IF = 'priv';
/**
 * How long a primary waits for the replica's acknowledgement before it falls back to asynchronous
 * replication. Long enough that a loaded replica never causes a silent fallback (which would void
 * "no acknowledged write lost"), short enough that losing the replica stalls writes only once, briefly.
 */
export const SEMI_SYNC_TIMEOUT_MS = 5000;

export const DB_ROLE = 'db';
/** The cluster's third vote: Corosync and Pacemaker, never MariaDB (docs/designs/0001-database-tier.md). */
export const QUORUM_ROLE = 'quorum';

export function dbHosts(t: Topology): HostSpec[] {
  return hostsWithRole(t, DB_ROLE);
}
export function clusterHosts(t: Topology): HostSpec[] {
  return t.hosts.filter((h) => h.roles.includes(DB_ROLE) || h.roles.includes(QUORUM_ROLE));
}
/** The database's private address, held by the primary; undefined without a database tier. */
export function dbVip(t: Topology): string | undefined {
  return t.vips?.[DB_ROLE];
}

/** The private segment as MariaDB writes a host mask: `198.18.0.128/255.255.255.128`. */
export function privateNetMask(t: Topology): string {
  const any = t.hosts[0]?.privateAddress ?? '0.0.0.0';
  const ip = any.split('.').map(Number);
  const bits = t.privatePrefix;
  const mask = [0, 1, 2, 3].map((i) => {
    const b = Math.max(0, Math.min(8, bits - i * 8));
    return b === 0 ? 0 : (0xff << (8 - b)) & 0xff;
  });
  const net = ip.map((o, i) => o & (mask[i] ?? 0));
  return `${net.join('.')}/${mask.join('.')}`;
}

/** 1 for the first db host, 2 for the second: MariaDB server ids, Corosync node ids. */
export function serverId(t: Topology, host: string): number {
  return clusterHosts(t).findIndex((h) => h.name === host) + 1;
}

export function renderMyCnf(p: Platform, self: HostSpec): string {
  const t = p.topology;
  const L = [
    header('#', `platform ${p.name}, host ${self.name}; MariaDB, started and promoted by Pacemaker`).trimEnd(),
    '[client-server]',
    `socket = ${DB_PATHS.socket}`,
    `port = ${DB_PORT}`,
    '',
    '[mariadbd]',
    // First: placed later, log-basename silently overrides the log and binlog names set before it.
    `log-basename = ${self.name}`,
    'user = mysql',
    `datadir = ${DB_PATHS.datadir}`,
    `socket = ${DB_PATHS.socket}`,
    `pid-file = ${DB_PATHS.pidFile}`,
    `log-error = ${DB_PATHS.errorLog}`,
    'tmpdir = /tmp',
    // Its own address and the VIP, which arrives and leaves while the server runs.
    'bind-address = 0.0.0.0',
    'skip-name-resolve',
    `server-id = ${serverId(t, self.name)}`,
    // The same binlog and relay log names on both hosts, so a datadir copied from one works on the other.
    `log-bin = ${DB_PATHS.datadir}/binlog`,
    `relay-log = ${DB_PATHS.datadir}/relay`,
    'binlog-format = ROW',
    'log-slave-updates = 1',
    'gtid-domain-id = 0',
    'gtid-strict-mode = 1',
    // Durability: an acknowledged commit is on disk here and (semi-sync) in the replica's relay log.
    'sync-binlog = 1',
    'innodb-flush-log-at-trx-commit = 1',
    'rpl-semi-sync-slave-enabled = 1',
    'rpl-semi-sync-master-wait-point = AFTER_SYNC',
    `rpl-semi-sync-master-timeout = ${SEMI_SYNC_TIMEOUT_MS}`,
    // Every start is as a read-only replica; only Pacemaker's promote makes a server writable.
    'read-only = 1',
    'skip-slave-start',
    // A replica notices a silent (cut) primary within seconds instead of the default minute.
    'slave-net-timeout = 4',
    'innodb-buffer-pool-size = 32M',
    'innodb-log-file-size = 16M',
    'performance-schema = 0',
    'max-connections = 300',
    '',
  ];
  return L.join('\n');
}

/** Corosync 3 (knet): the two db hosts and the quorum host, three votes, no two_node shortcut. */
export function renderCorosyncConf(p: Platform): string {
  const nodes = clusterHosts(p.topology);
  // The parser rejects anything after '{' on the same line: every key on its own line.
  const L = [
    header('#', `platform ${p.name}; database cluster membership`).trimEnd(),
    'totem {',
    '  version: 2',
    `  cluster_name: vard-db`,
    '  transport: knet',
    // Anyone on the private segment could otherwise join the membership or forge votes: every
    // packet is encrypted and authenticated with the platform's key.
    '  crypto_cipher: aes256',
    '  crypto_hash: sha256',
    `  keyfile: ${DB_PATHS.corosyncKey}`,
    '  token: 1000',
    '}',
    'nodelist {',
  ];
  for (const h of nodes) {
    L.push('  node {', `    ring0_addr: ${h.privateAddress}`, `    name: ${h.name}`, `    nodeid: ${serverId(p.topology, h.name)}`, '  }');
  }
  L.push(
    '}',
    'quorum {',
    '  provider: corosync_votequorum',
    '}',
    'logging {',
    '  to_stderr: yes',
    '  to_logfile: no',
    '  to_syslog: no',
    '  timestamp: on',
    '}',
    '',
  );
  return L.join('\n');
}

function xmlAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function nv(prefix: string, pairs: readonly (readonly [string, string])[]): string {
  return pairs.map(([k, v]) => `<nvpair id="${prefix}-${k}" name="${k}" value="${xmlAttr(v)}"/>`).join('');
}

/**
 * Pacemaker's configuration section. The database is a promotable clone of Vard's wrapper around
 * `ocf:heartbeat:mariadb` (GTID + semi-sync); the VIP is an IPaddr2 that follows the promoted
 * instance and starts only after the promotion. No fencing exists in the lab, so safety comes from
 * quorum: `no-quorum-policy=stop` makes a partitioned primary stop its database and drop the VIP.
 */
export function renderCibConfiguration(p: Platform, replicationPassword: string): string {
  const t = p.topology;
  const dbs = dbHosts(t);
  const quorum = hostsWithRole(t, QUORUM_ROLE);
  const vip = dbVip(t) ?? '';
  // Among equal GTIDs ocf:heartbeat:mariadb elects the first node of node_list (its comparison is
  // a strict "greater than"), so the first db host becomes the first primary.
  const nodeList = dbs.map((h) => h.name).join(' ');
  const dbParams: [string, string][] = [
    ['binary', '/usr/sbin/mariadbd'],
    ['client_binary', '/usr/bin/mariadb'],
    ['config', DB_PATHS.myCnf],
    ['datadir', DB_PATHS.datadir],
    ['pid', DB_PATHS.pidFile],
    ['socket', DB_PATHS.socket],
    ['log', DB_PATHS.errorLog],
    ['user', 'mysql'],
    ['group', 'mysql'],
    ['node_list', nodeList],
    ['replication_user', REPL_USER],
    ['replication_passwd', replicationPassword],
    ['test_user', 'root'],
    ['test_table', 'mysql.db'],
  ];
  const op = (name: string, interval: string, timeout: string, role?: string) =>
    `<op id="${DB_RESOURCE}-${name}-${interval}${role ? `-${role}` : ''}" name="${name}" interval="${interval}" timeout="${timeout}"${role ? ` role="${role}"` : ''}/>`;
  const X: string[] = [];
  X.push('<configuration>');
  X.push(
    '<crm_config><cluster_property_set id="vard-options">',
    nv('vard-options', [
      ['stonith-enabled', 'false'],
      ['no-quorum-policy', 'stop'],
      ['dc-deadtime', '2s'],
      ['cluster-recheck-interval', '1min'],
      ['cluster-name', 'vard-db'],
    ]),
    '</cluster_property_set></crm_config>',
  );
  X.push('<nodes/>');
  X.push('<resources>');
  X.push(
    `<clone id="${DB_CLONE}"><meta_attributes id="${DB_CLONE}-meta">`,
    nv(`${DB_CLONE}-meta`, [
      ['promotable', 'true'],
      ['promoted-max', '1'],
      ['promoted-node-max', '1'],
      ['clone-max', String(dbs.length)],
      ['clone-node-max', '1'],
      ['notify', 'true'],
    ]),
    '</meta_attributes>',
    `<primitive id="${DB_RESOURCE}" class="ocf" provider="vard" type="mariadb">`,
    `<instance_attributes id="${DB_RESOURCE}-params">${nv(`${DB_RESOURCE}-params`, dbParams)}</instance_attributes>`,
    // Failures are retried in place a few times, then the instance moves: no endless restart loop.
    `<meta_attributes id="${DB_RESOURCE}-meta">${nv(`${DB_RESOURCE}-meta`, [['migration-threshold', '3'], ['failure-timeout', '60s']])}</meta_attributes>`,
    '<operations>',
    op('start', '0', '120s'),
    op('stop', '0', '60s'),
    op('promote', '0', '60s'),
    op('demote', '0', '60s'),
    op('notify', '0', '60s'),
    // The agent chooses a new primary inside the replica's monitor: its interval is the promotion delay.
    op('monitor', '1s', '20s', 'Unpromoted'),
    op('monitor', '2s', '20s', 'Promoted'),
    '</operations></primitive></clone>',
  );
  X.push(
    `<primitive id="${DB_VIP_RESOURCE}" class="ocf" provider="heartbeat" type="IPaddr2">`,
    `<instance_attributes id="${DB_VIP_RESOURCE}-params">${nv(`${DB_VIP_RESOURCE}-params`, [['ip', vip], ['cidr_netmask', String(t.privatePrefix)], ['nic', DB_PRIVATE_IF], ['arp_count', '3']])}</instance_attributes>`,
    `<operations><op id="${DB_VIP_RESOURCE}-monitor-2s" name="monitor" interval="2s" timeout="20s"/></operations>`,
    '</primitive>',
  );
  X.push('</resources>');
  X.push('<constraints>');
  for (const q of quorum) {
    // The third vote never runs MariaDB, and is never even probed for it.
    X.push(`<rsc_location id="${DB_CLONE}-not-on-${q.name}" rsc="${DB_CLONE}" node="${q.name}" score="-INFINITY" resource-discovery="never"/>`);
    X.push(`<rsc_location id="${DB_VIP_RESOURCE}-not-on-${q.name}" rsc="${DB_VIP_RESOURCE}" node="${q.name}" score="-INFINITY" resource-discovery="never"/>`);
  }
  X.push(`<rsc_colocation id="${DB_VIP_RESOURCE}-with-primary" rsc="${DB_VIP_RESOURCE}" with-rsc="${DB_CLONE}" with-rsc-role="Promoted" score="INFINITY"/>`);
  X.push(`<rsc_order id="${DB_VIP_RESOURCE}-after-promote" first="${DB_CLONE}" first-action="promote" then="${DB_VIP_RESOURCE}" then-action="start" kind="Mandatory"/>`);
  X.push('</constraints>');
  X.push(`<rsc_defaults><meta_attributes id="rsc-defaults">${nv('rsc-defaults', [['resource-stickiness', '100']])}</meta_attributes></rsc_defaults>`);
  X.push('</configuration>');
  return X.join('\n') + '\n';
}

/**
 * `ocf:vard:mariadb`: delegates every action to `ocf:heartbeat:mariadb` and fixes two gaps found
 * reading that agent (resource-agents 4.12):
 * - its promote runs `STOP SLAVE` at once, so events already in the relay log — commits the old
 *   primary acknowledged under semi-sync — would never be applied; here the IO thread stops first
 *   and the SQL thread is waited for (MASTER_GTID_WAIT on the received position);
 * - its stop and demote leave the server writable until it is gone; here `read_only` comes first,
 *   so a primary that loses quorum stops accepting writes in milliseconds;
 * - its monitor fails a replica that lost its primary (IO errors other than 2003), so the replica
 *   that should be promoted is restarted instead (and then waits for every node before electing);
 *   here, once the primary has left the cluster, the replica applies what it has and stops
 *   replicating, and the agent's own election picks it;
 * - a server promoted because its peer died would make every first commit wait the full
 *   semi-sync timeout for a replica that cannot answer; here it commits at once.
 * Fixed text; the only data it reads is a GTID, checked against a strict pattern before use.
 */
export function vardAgentScript(): string {
  return `#!/bin/sh
# managed by Vard — do not edit; ocf:vard:mariadb, a wrapper around ocf:heartbeat:mariadb.
: "\${OCF_ROOT:=/usr/lib/ocf}"
export OCF_ROOT
RA="$OCF_ROOT/resource.d/heartbeat/mariadb"
sock="\${OCF_RESKEY_socket:-${DB_PATHS.socket}}"
sql() { mariadb -S "$sock" -u root -N -B -e "$1" 2>/dev/null; }
# The SQL thread runs (it does not once replication was stopped: nothing more can be applied).
sql_running() { mariadb -S "$sock" -u root -e 'SHOW SLAVE STATUS\\G' 2>/dev/null | grep -q 'Slave_SQL_Running: Yes'; }
# The SQL thread has applied every whole transaction in the relay log and waits for more.
relay_read() { mariadb -S "$sock" -u root -e 'SHOW SLAVE STATUS\\G' 2>/dev/null | grep -q 'Slave_SQL_Running_State: Slave has read all relay log'; }
case "$1" in
  promote)
    if sql "SELECT 1" >/dev/null; then
      sql "STOP SLAVE IO_THREAD" >/dev/null
      io=$(mariadb -S "$sock" -u root -e 'SHOW SLAVE STATUS\\G' 2>/dev/null | sed -n 's/^ *Gtid_IO_Pos: *//p')
      # Everything received is applied before the promotion: waited for until the SQL thread has
      # caught up or has read all the relay log (a transaction the dead primary sent only in part
      # never completes, and was never acknowledged: semi-sync acknowledges whole transactions).
      case "$io" in
        *[!0-9,-]*) ;;
        ?*) n=0
            while [ "$(sql "SELECT MASTER_GTID_WAIT('$io', 2)")" != 0 ] && sql_running && ! relay_read && [ "$n" -lt 25 ]; do n=$((n + 1)); done ;;
      esac
    fi
    "$RA" promote
    rc=$?
    # The agent promotes with rpl_semi_sync_master_wait_no_slave=ON: with the other server dead,
    # every first commit would wait the whole semi-sync timeout for a replica that cannot answer.
    # When no other database node is a cluster member, commit at once (semi-sync reports OFF, and
    # db status raises its alert, until a replica is back and caught up).
    if [ "$rc" -eq 0 ]; then
      me=$(crm_node -n 2>/dev/null)
      peer_alive=no
      for n in $OCF_RESKEY_node_list; do
        [ "$n" = "$me" ] && continue
        if crm_node -l 2>/dev/null | awk -v n="$n" '$2 == n && $3 == "member" { found = 1 } END { exit !found }'; then peer_alive=yes; fi
      done
      [ "$peer_alive" = no ] && sql "SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF" >/dev/null
    fi
    exit $rc ;;
  stop|demote)
    sql "SET GLOBAL read_only = ON" >/dev/null
    exec "$RA" "$1" ;;
  monitor)
    # The stock monitor fails a replica whose IO thread lost its primary with any error but 2003,
    # and Pacemaker then restarts the very replica it should promote; restarted with no primary
    # present, the agent waits for every node before it elects, i.e. forever. Once the primary
    # has left the cluster (Corosync no longer counts it a member), the replica applies what it
    # received and stops replicating: the agent then sees a read-only non-replica and elects.
    st=$(mariadb -S "$sock" -u root -e 'SHOW SLAVE STATUS\\G' 2>/dev/null)
    errno=$(printf '%s\\n' "$st" | sed -n 's/^ *Last_IO_Errno: *//p')
    primary=$(printf '%s\\n' "$st" | sed -n 's/^ *Master_Host: *//p')
    case "$errno" in
      2002|2003|2005|2006|2013|2026|1158|1159|1160|1161)
        if [ -n "$primary" ] && ! crm_node -l 2>/dev/null | awk -v n="$primary" '$2 == n && $3 == "member" { found = 1 } END { exit !found }'; then
          io=$(printf '%s\\n' "$st" | sed -n 's/^ *Gtid_IO_Pos: *//p')
          # Waits stay well inside the monitor's 20 s timeout: a monitor that times out fails this
          # replica, Pacemaker restarts it, and a replica restarted with no primary never elects
          # itself. Still applying: a healthy replica, looked at again next second. Applied all it
          # has (a transaction sent only in part never completes, and was never acknowledged):
          # replication stops, and the agent elects this server.
          case "$io" in
            *[!0-9,-]*) ;;
            ?*) if [ "$(sql "SELECT MASTER_GTID_WAIT('$io', 5)")" != 0 ] && ! relay_read; then exit 0; fi ;;
          esac
          sql "STOP SLAVE" >/dev/null
        elif [ "$(sql "SELECT @@read_only")" = 1 ]; then
          # The primary is unreachable but still a member: a replica waiting for its primary is a
          # healthy replica until the cluster decides the primary is gone (the branch above).
          exit 0
        fi ;;
    esac
    exec "$RA" monitor ;;
  *)
    exec "$RA" "$@" ;;
esac
`;
}

/** The files of the cluster's config sets, relative to their version directory. */
export const SET_FILES = { mariadb: 'my.cnf', corosync: 'corosync.conf', corosyncKey: 'authkey', pacemaker: 'cib-configuration.xml' } as const;

/**
 * The cluster membership and the Pacemaker configuration every cluster host holds (the same bytes
 * on each: the CIB is shared, so whichever host reloads first writes it for all). Without the
 * replication secret there is no CIB to render: the store creates that secret when the topology
 * is recorded, before anything converges, so only a bare model (tests, a plan read without
 * secrets) lacks it.
 */
export function clusterConfigSets(p: Platform): ConfigSet[] {
  const key = p.dbSecrets?.totemKey;
  // Without its key Corosync refuses to start: a cluster never runs unencrypted.
  const sets: ConfigSet[] = [{ daemon: 'corosync', files: [{ path: SET_FILES.corosync, content: renderCorosyncConf(p), mode: 0o644 }, ...(key ? [{ path: SET_FILES.corosyncKey, content: key, mode: 0o400 }] : [])] }];
  const pw = p.dbSecrets?.replicationPassword;
  // It carries the replication password: readable by root only.
  if (pw) sets.push({ daemon: 'pacemaker', files: [{ path: SET_FILES.pacemaker, content: renderCibConfiguration(p, pw), mode: 0o600 }] });
  return sets;
}

/**
 * A db host's sets in bring-up order: my.cnf first, so it is in place before Pacemaker first
 * starts the server (the mariadb driver starts nothing itself), then Corosync, then Pacemaker.
 */
export function dbConfigSets(p: Platform, self: HostSpec): ConfigSet[] {
  if (!dbVip(p.topology)) return [];
  return [{ daemon: 'mariadb', files: [{ path: SET_FILES.mariadb, content: renderMyCnf(p, self), mode: 0o644 }] }, ...clusterConfigSets(p)];
}

/** The quorum host's sets: the cluster daemons only, never MariaDB. */
export function quorumConfigSets(p: Platform): ConfigSet[] {
  return dbVip(p.topology) ? clusterConfigSets(p) : [];
}

/** Cluster traffic: Corosync between the cluster members only (db and quorum hosts). */
export const CLUSTER_ACCEPTS = { proto: 'udp', ports: [COROSYNC_PORT], from: [DB_ROLE, QUORUM_ROLE], why: 'Corosync (knet, encrypted): the cluster members' } as const;
