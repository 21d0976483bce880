/**
 * Shared helpers for integration tests that use the lab: reachability probes and an independent
 * look at what a lab left on the machine (not through the lab module's own residue check).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { execArgv } from '../../../src/host/exec.ts';
import type { Host } from '../../../src/host/index.ts';
import { labDown } from '../../../src/lab/index.ts';

/** One ICMP echo from root, 1 s timeout. Sample failure: `connect: Network is unreachable` (exit 2). */
export async function pingFromRoot(addr: string): Promise<boolean> {
  const r = await execArgv('root', ['ping', '-n', '-c1', '-W1', addr], { allowFail: true, timeoutMs: 5000 });
  return r.exitCode === 0;
}

/** One ICMP echo from a lab host. */
export async function pingFrom(host: Host, addr: string): Promise<boolean> {
  const r = await host.run(['ping', '-n', '-c1', '-W1', addr], { allowFail: true, timeoutMs: 5000 });
  return r.exitCode === 0;
}

/**
 * Everything carrying a lab's prefix or directory, read straight from the kernel's views:
 * `ip netns list`, `ip link` in root, /proc/self/mountinfo and every process's cmdline.
 */
export async function tracesOf(lab: string): Promise<string[]> {
  const prefix = `vd${lab}-`;
  const out: string[] = [];
  const ns = await execArgv('root', ['ip', 'netns', 'list']);
  for (const l of ns.stdout.split('\n')) if (l.startsWith(prefix)) out.push(`netns ${l}`);
  const links = await execArgv('root', ['ip', '-o', 'link', 'show']);
  // Sample line: `7: vdtlab1-inet@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 …`
  for (const l of links.stdout.split('\n')) if (l.split(': ')[1]?.startsWith(prefix)) out.push(`link ${l.split(': ')[1]}`);
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = l.split(' ')[4] ?? '';
    if (mp.includes(prefix) || mp.includes(`/labs/${lab}/`) || mp.endsWith(`/labs/${lab}`)) out.push(`mount ${mp}`);
  }
  for (const p of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(prefix) || cmd.includes(`/labs/${lab}/`)) out.push(`process ${p} ${cmd.split('\0').join(' ')}`);
  }
  return out;
}

/**
 * Tears the given labs down on SIGINT/SIGTERM too, so an interrupted test run leaves nothing.
 * Returns a function that removes the handlers.
 */
export function teardownOnSignals(labs: readonly string[]): () => void {
  const handler = (sig: NodeJS.Signals): void => {
    void Promise.allSettled(labs.map((l) => labDown(l))).finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
