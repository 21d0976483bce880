/**
 * Drivers of the database cluster's daemons. Corosync and Pacemaker run on every cluster host
 * (db and quorum); MariaDB runs on the db hosts but is Pacemaker's to start, stop and promote, so
 * its driver never starts a server: it checks my.cnf and, when a running server must pick up a
 * new one, restarts that one instance through the cluster. Decisions: docs/designs/0001-database-tier.md.
 */
import { livePid, logTail, rejectOn, spawnDaemon, waitFor, type DaemonDriver } from '../../daemon/index.ts';
import { pidfileOf, signal } from '../../daemon/process.ts';
import { vardError } from '../../errors/index.ts';
import type { Host } from '../../host/index.ts';
import { currentDir } from '../../render/index.ts';
import { cibConfigurationDiffers, mergeCibConfiguration, scrubCib, serializeXml } from './cib.ts';
import { parseCrmMon } from './cluster.ts';
import { DB_CLONE, DB_PATHS, SET_FILES } from './render.ts';
import { scalar, slaveStatus } from './sql.ts';

export async function corosyncRunning(host: Host): Promise<boolean> {
  return (await livePid(host, 'corosync', 'corosync')) !== undefined;
}
export async function pacemakerRunning(host: Host): Promise<boolean> {
  return (await livePid(host, 'pacemaker', 'pacemakerd')) !== undefined;
}

async function stopByPid(host: Host, daemon: string, binary: string, alive: (h: Host) => Promise<boolean>): Promise<void> {
  const pid = await livePid(host, daemon, binary);
  if (pid === undefined) return;
  await signal(host, pid, 'TERM');
  await waitFor({ daemon, host: host.name }, async () => !(await alive(host)), { timeoutMs: 30_000 });
  await host.remove(pidfileOf(daemon));
}

const corosyncStart = async (host: Host): Promise<void> => {
  if (await corosyncRunning(host)) return;
  await spawnDaemon(host, 'corosync', ['corosync', '-f', '-c', DB_PATHS.corosyncConf]);
};

/** Fixed text; the staged directory and the file names arrive as "$1" "$2" "$3". */
const COROSYNC_CHECK = [
  'set -e',
  't=$(mktemp)',
  'trap \'rm -f "$t"\' EXIT',
  'sed "s#^\\([[:space:]]*keyfile:\\).*#\\1 $1/$3#" "$1/$2" > "$t"',
  'corosync -t -c "$t"',
].join('\n');

export const corosyncDriver: DaemonDriver = {
  name: 'corosync',
  // Its state directory is bound in place by the role's prepareHost.
  async prepare() {},
  // `-t` parses the file and checks every value's type and range, then exits (Corosync 3.1). It
  // also reads the keyfile, which the file names through `current`: the staged set's own key is
  // checked instead, from a copy pointing at it.
  check: (host, dir) => rejectOn(host, 'corosync', ['sh', '-c', COROSYNC_CHECK, 'vard-corosync-check', dir, SET_FILES.corosync, SET_FILES.corosyncKey]),
  running: corosyncRunning,
  start: corosyncStart,
  async reload(host) {
    if (!(await corosyncRunning(host))) return corosyncStart(host);
    // Every member re-reads the file it was started with (`current`, so the new version here);
    // settings Corosync cannot change at runtime keep their old value until its next start.
    await host.run(['corosync-cfgtool', '-R'], { timeoutMs: 30_000 });
  },
  ready: (host) =>
    waitFor({ daemon: 'corosync', host: host.name }, async () => (await host.run(['corosync-cfgtool', '-s'], { allowFail: true })).exitCode === 0, {
      timeoutMs: 20_000,
      alive: () => corosyncRunning(host),
      detail: () => logTail(host, 'corosync'),
    }),
  // Pacemaker first (its driver's stop): it cannot run without Corosync.
  stop: (host) => stopByPid(host, 'corosync', 'corosync', corosyncRunning),
};

const CIB = '/var/lib/pacemaker/cib/cib.xml';
const cibFile = (dir: string) => `${dir}/${SET_FILES.pacemaker}`;

/**
 * Checks a staged configuration with Pacemaker's own tools on a scratch CIB: `cibadmin` validates
 * it against the schema while replacing the empty configuration, `crm_verify` checks what the
 * scheduler would make of it. Fixed text; the file arrives as "$1".
 */
const PCMK_CHECK = [
  'set -e',
  't=$(mktemp -d)',
  'trap \'rm -rf "$t"\' EXIT',
  'cibadmin --empty > "$t/cib.xml"',
  'CIB_file="$t/cib.xml" cibadmin --replace --scope configuration --xml-file "$1"',
  'crm_verify --xml-file "$t/cib.xml"',
].join('\n');

/** Runs a Pacemaker tool whose output may echo the configuration (and so the replication password). */
async function runScrubbed(host: Host, what: string, argv: readonly string[], o: { input?: string; env?: Record<string, string> } = {}): Promise<void> {
  const r = await host.run(argv, { ...o, allowFail: true, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw vardError('VARD_ERR_DB_CLUSTER', [host.name, `${what} failed (exit ${r.exitCode}): ${scrubCib(`${r.stderr}\n${r.stdout}`.trim()).slice(-2000)}`]);
}

/**
 * Writes the CIB before Pacemaker's first start on a host, so the cluster comes up configured (no
 * 20 s default DC wait). Seeded under another name and renamed, so a failed seed is never taken
 * for a CIB. The configuration is read from the set's file: the password never reaches argv.
 */
async function seedCib(host: Host): Promise<void> {
  if (await host.exists(CIB)) return;
  const seed = `${CIB}.vard-seed`;
  await host.remove(seed);
  const empty = await host.run(['cibadmin', '--empty']);
  await host.writeFile(seed, empty.stdout, { mode: 0o600 });
  await runScrubbed(host, 'seeding the CIB', ['cibadmin', '--replace', '--scope', 'configuration', '--xml-file', cibFile(currentDir('pacemaker'))], { env: { CIB_file: seed } });
  await host.run(['chown', 'hacluster:haclient', seed]);
  await host.run(['chmod', '600', seed]);
  await host.rename(seed, CIB);
}

const crmMonAnswers = async (host: Host) => (await host.run(['crm_mon', '-1'], { allowFail: true, timeoutMs: 15_000 })).exitCode === 0;

const pacemakerStart = async (host: Host): Promise<void> => {
  if (await pacemakerRunning(host)) return;
  await seedCib(host);
  await spawnDaemon(host, 'pacemaker', ['env', 'PCMK_logfile=/var/log/pacemaker/pacemaker.log', 'pacemakerd']);
};

export const pacemakerDriver: DaemonDriver = {
  name: 'pacemaker',
  async prepare() {},
  async check(host, dir) {
    const r = await host.run(['sh', '-c', PCMK_CHECK, 'vard-cib-check', cibFile(dir)], { allowFail: true, timeoutMs: 60_000 });
    // cibadmin follows its verdict with the whole numbered configuration: keep the verdict.
    const why = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => l.trim() && !/^\s*\d+(\s+<|\s*$)/.test(l)).join('\n');
    if (r.exitCode !== 0) throw vardError('VARD_ERR_CONFIG_REJECTED', ['pacemaker', host.name, scrubCib(why).slice(-3000) || `exit ${r.exitCode}`], { details: { exitCode: r.exitCode } });
  },
  running: pacemakerRunning,
  start: pacemakerStart,
  /**
   * The configuration is the cluster's, not this host's: the first host to reload writes it for
   * every node, the others find it equal and change nothing. Only what Vard renders is replaced
   * (cib.ts): nodes, Pacemaker's and the agent's properties and `cli-*` bans stay.
   */
  async reload(host, dir) {
    if (!(await pacemakerRunning(host))) return pacemakerStart(host);
    await waitFor({ daemon: 'pacemaker', host: host.name }, () => crmMonAnswers(host), { timeoutMs: 30_000, alive: () => pacemakerRunning(host) });
    const desired = (await host.readFile(cibFile(dir)))?.toString('utf8');
    if (desired === undefined) throw vardError('VARD_ERR_DB_CLUSTER', [host.name, `${cibFile(dir)} is missing`]);
    const live = await host.run(['cibadmin', '--query', '--scope', 'configuration'], { timeoutMs: 30_000 });
    if (!cibConfigurationDiffers(desired, live.stdout)) return;
    // On standard input: the configuration carries the replication password.
    await runScrubbed(host, 'replacing the cluster configuration', ['cibadmin', '--replace', '--scope', 'configuration', '--xml-pipe'], { input: serializeXml(mergeCibConfiguration(desired, live.stdout)) });
  },
  ready: (host) =>
    waitFor({ daemon: 'pacemaker', host: host.name }, () => crmMonAnswers(host), {
      timeoutMs: 30_000,
      alive: () => pacemakerRunning(host),
      detail: () => logTail(host, 'pacemaker'),
    }),
  async stop(host) {
    if (!(await pacemakerRunning(host))) return;
    // Stops the resources here first (the database, the VIP), then Pacemaker's own daemons.
    await host.run(['pacemakerd', '--shutdown'], { allowFail: true, timeoutMs: 120_000 });
    await waitFor({ daemon: 'pacemaker', host: host.name }, async () => !(await pacemakerRunning(host)), { timeoutMs: 120_000 });
    await host.remove(pidfileOf('pacemaker'));
  },
};

/** An empty directory the option check may use as its datadir: `--help` probes the datadir (a case-sensitivity test file), and the real one belongs to the running server. */
const CHECK_DATADIR = '/run/vard/mariadb-check';

const serverAnswers = async (host: Host) => (await scalar(host, 'SELECT 1', { allowFail: true, timeoutMs: 5000 })) === '1';

/** This node's instance is back in its place: the primary, or a replica whose both threads run. */
async function serving(host: Host): Promise<boolean> {
  if (!(await serverAnswers(host))) return false;
  const r = await host.run(['crm_mon', '-1', '--output-as=xml'], { allowFail: true, timeoutMs: 15_000 });
  if (r.exitCode !== 0) return false;
  const view = parseCrmMon(r.stdout, host.name);
  if (view.promoted.includes(host.name)) return true;
  if (!view.promoted.length) return false;
  const s = await slaveStatus(host);
  return s?.Slave_IO_Running === 'Yes' && s.Slave_SQL_Running === 'Yes';
}

/**
 * Restarts this node's instance the way the cluster would: a ban stops it (a primary is demoted
 * first and the other server promoted), clearing the ban lets Pacemaker start it again from
 * `current`, as a replica when another server is primary.
 */
async function restartThroughCluster(host: Host): Promise<void> {
  const node = host.name;
  await host.run(['crm_resource', '--ban', '--resource', DB_CLONE, '--node', node], { timeoutMs: 30_000 });
  try {
    await waitFor({ daemon: 'mariadb stop (cluster ban)', host: node }, async () => !(await host.exists(DB_PATHS.pidFile)) && !(await serverAnswers(host)), {
      timeoutMs: 120_000,
      intervalMs: 200,
    });
  } finally {
    await host.run(['crm_resource', '--clear', '--resource', DB_CLONE, '--node', node], { timeoutMs: 30_000 });
  }
  await waitFor({ daemon: 'mariadb (restarted by the cluster)', host: node }, () => serving(host), {
    timeoutMs: 120_000,
    intervalMs: 250,
    detail: async () => (await host.readFile(DB_PATHS.errorLog))?.toString('utf8').slice(-1500) ?? '',
  });
}

export const mariadbDriver: DaemonDriver = {
  name: 'mariadb',
  async prepare(host) {
    await host.mkdir(CHECK_DATADIR);
  },
  /**
   * The server's own option parser on the staged file: `--help --verbose` reads every option group
   * the server reads and exits. An unknown option or a bad value exits non-zero; a bad value for a
   * plugin's option (InnoDB's) only disables the plugin and logs [ERROR], so that rejects too.
   */
  async check(host, dir) {
    const r = await host.run(['sh', '-c', 'mariadbd --defaults-file="$1" --datadir="$2" --help --verbose >/dev/null', 'vard-mariadb-check', `${dir}/${SET_FILES.mariadb}`, CHECK_DATADIR], {
      allowFail: true,
      timeoutMs: 60_000,
    });
    const lines = r.stderr.split('\n').filter((l) => l.trim() && !l.includes('[Warning]'));
    if (r.exitCode !== 0 || lines.some((l) => l.includes('[ERROR]'))) {
      throw vardError('VARD_ERR_CONFIG_REJECTED', ['mariadb', host.name, lines.join('\n').slice(-3000) || `exit ${r.exitCode}`], { details: { exitCode: r.exitCode } });
    }
  },
  // The server is Pacemaker's: what must run for it to be served is the cluster stack that owns it.
  running: pacemakerRunning,
  // Pacemaker starts the server, from `current`, once the cluster is up.
  async start() {},
  async reload(host) {
    // Stopped here (no cluster yet, or the cluster keeps it stopped): its next start reads `current`.
    if (!(await pacemakerRunning(host)) || !(await serverAnswers(host))) return;
    await restartThroughCluster(host);
  },
  async ready(host) {
    if (!(await pacemakerRunning(host)) || !(await host.exists(DB_PATHS.pidFile))) return;
    await waitFor({ daemon: 'mariadb', host: host.name }, () => serverAnswers(host), { timeoutMs: 60_000, intervalMs: 250, alive: () => pacemakerRunning(host) });
  },
  /** Stops this node's instance by a cluster ban; it stays stopped until `crm_resource --clear` (what `vard db rejoin` does). */
  async stop(host) {
    if (!(await pacemakerRunning(host))) return;
    await host.run(['crm_resource', '--ban', '--resource', DB_CLONE, '--node', host.name], { timeoutMs: 30_000 });
    await waitFor({ daemon: 'mariadb stop (cluster ban)', host: host.name }, async () => !(await serverAnswers(host)), { timeoutMs: 120_000, intervalMs: 200 });
  },
};

/** Drivers of a db host's sets; a quorum host uses the cluster's two. */
export const DB_DAEMONS: Readonly<Record<string, DaemonDriver>> = { mariadb: mariadbDriver, corosync: corosyncDriver, pacemaker: pacemakerDriver };
export const QUORUM_DAEMONS: Readonly<Record<string, DaemonDriver>> = { corosync: corosyncDriver, pacemaker: pacemakerDriver };
