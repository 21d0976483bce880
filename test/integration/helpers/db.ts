import { spawn } from 'node:child_process';
import type { LabHandle } from '../../../src/lab/index.ts';
import { onLines } from './platform.ts';
import type { SiteDatabase } from '../../../src/model/index.ts';

/**
 * A client that commits continuously through the database VIP from inside a web host (the VIP is
 * on the private segment, which root cannot reach): PHP CLI with PDO, one autocommit INSERT of a
 * fresh id at a time. It prints `ok <id> <ms>` only after the server acknowledged the commit and
 * `err <id> <ms> <message>` otherwise, then reconnects. The password travels in the environment.
 */
const WRITER = String.raw`
$host = $argv[1]; $port = $argv[2]; $db = $argv[3]; $user = $argv[4]; $table = $argv[5]; $pause = (int) $argv[6];
$pw = getenv('VARD_DB_PASSWORD');
stream_set_blocking(STDIN, false);
$pdo = null; $i = 0;
while (!feof(STDIN)) {
  fread(STDIN, 1024);
  $i++;
  try {
    if (!$pdo) {
      $pdo = new PDO("mysql:host=$host;port=$port;dbname=$db", $user, $pw, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 1]);
    }
    $pdo->exec("INSERT INTO $table (id, at) VALUES ($i, NOW(6))");
    fwrite(STDOUT, "ok $i " . round(microtime(true) * 1000) . "\n");
  } catch (Throwable $e) {
    fwrite(STDOUT, "err $i " . round(microtime(true) * 1000) . ' ' . str_replace("\n", ' ', $e->getMessage()) . "\n");
    $pdo = null;
    usleep(20000);
  }
  if ($pause > 0) usleep($pause * 1000);
}
`;

export interface WriterReport {
  /** Ids whose commit the server acknowledged. */
  readonly acked: number[];
  readonly errors: string[];
  /** [t ms since epoch, id] of every acknowledgement, in order. */
  readonly ackTimes: [number, number][];
  /** The longest time between two acknowledgements, and when it started. */
  readonly longestGapMs: number;
  readonly longestGapFrom: number;
}

export function startWriter(lab: LabHandle, web: string, db: SiteDatabase, table: string, pauseMs = 10) {
  // mysqlnd's read timeout bounds a commit sent to a primary that vanished without a reset.
  const child = spawn(
    'ip',
    ['netns', 'exec', lab.nsName(web), 'php', '-d', 'mysqlnd.net_read_timeout=3', '-r', WRITER, db.host, String(db.port), db.name, db.user, table, String(pauseMs)],
    { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, VARD_DB_PASSWORD: db.password } },
  );
  const acked: number[] = [];
  const ackTimes: [number, number][] = [];
  const errors: string[] = [];
  let stderr = '';
  onLines(child.stdout, (line) => {
    const [kind, id, t] = line.split(' ');
    if (kind === 'ok') {
      acked.push(Number(id));
      ackTimes.push([Number(t), Number(id)]);
    } else if (kind === 'err' && errors.length < 200) errors.push(line);
  });
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  return {
    acked,
    errors,
    ackCount: () => acked.length,
    lastAckAt: () => ackTimes[ackTimes.length - 1]?.[0] ?? 0,
    stderr: () => stderr,
    async stop(): Promise<WriterReport> {
      child.stdin.end();
      await Promise.race([exited, new Promise((r) => setTimeout(r, 8000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      let longestGapMs = 0;
      let longestGapFrom = 0;
      for (let k = 1; k < ackTimes.length; k++) {
        const gap = (ackTimes[k]?.[0] ?? 0) - (ackTimes[k - 1]?.[0] ?? 0);
        if (gap > longestGapMs) {
          longestGapMs = gap;
          longestGapFrom = ackTimes[k - 1]?.[0] ?? 0;
        }
      }
      return { acked: [...acked], errors: [...errors], ackTimes: [...ackTimes], longestGapMs, longestGapFrom };
    },
  };
}

/**
 * Polls every db host's writability (`@@read_only`, via the host's own socket) as fast as one
 * process per host allows, and records each moment more than one was writable.
 */
/** Samples through the lab's console (namespace entry), not Vard's path: a cut-off host is still seen. */
export function watchWritable(lab: LabHandle, hosts: readonly string[]) {
  const overlaps: { atMs: number; hosts: string[] }[] = [];
  const samples: Record<string, number> = {};
  const writable: Record<string, boolean> = {};
  let running = true;
  const t0 = Date.now();
  const loops = hosts.map(async (h) => {
    samples[h] = 0;
    while (running) {
      let w = false;
      try {
        const r = await lab.console(h).run(['mariadb', '--socket=/run/mysqld/mysqld.sock', '--user=root', '-N', '-B', '--connect-timeout=1', '-e', 'SELECT @@read_only'], { allowFail: true, timeoutMs: 3000 });
        w = r.exitCode === 0 && r.stdout.trim() === '0';
      } catch {
        w = false; // host down: nothing there accepts writes
      }
      writable[h] = w;
      samples[h] = (samples[h] ?? 0) + 1;
      const now = hosts.filter((x) => writable[x]);
      if (now.length > 1) overlaps.push({ atMs: Date.now() - t0, hosts: now });
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  return {
    overlaps,
    samples,
    writable: () => hosts.filter((x) => writable[x]),
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
