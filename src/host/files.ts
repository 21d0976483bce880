import { createHash } from 'node:crypto';
import type { Host } from './types.ts';

/** Writes `content` unless the file already holds exactly it; true when it wrote. */
export async function writeIfChanged(host: Host, path: string, content: string, mode: number): Promise<boolean> {
  const cur = await host.readFile(path);
  if (cur && cur.toString('utf8') === content) return false;
  await host.writeFile(path, content, { mode });
  return true;
}

interface IpAddrJson {
  flags?: string[];
  addr_info?: { family?: string; local?: string }[];
}

/**
 * A host's interface: whether its link is up and its IPv4 addresses. Sample of
 * `ip -j -4 addr show dev pub`:
 * `[{"ifname":"pub","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"addr_info":[{"family":"inet","local":"198.18.0.2","prefixlen":25}]}]`
 */
export async function interfaceState(host: Host, dev: string): Promise<{ up: boolean; addrs: string[] }> {
  const r = await host.run(['ip', '-j', '-4', 'addr', 'show', 'dev', dev], { allowFail: true });
  if (r.exitCode !== 0) return { up: false, addrs: [] };
  try {
    const [link] = JSON.parse(r.stdout) as IpAddrJson[];
    return { up: link?.flags?.includes('UP') ?? false, addrs: (link?.addr_info ?? []).map((a) => a.local ?? '').filter(Boolean) };
  } catch {
    return { up: false, addrs: [] };
  }
}

/**
 * Which of `hosts` hold `address` on interface `dev` right now: the address is there and the link
 * is up (an address on a downed link reaches no one). Hosts that are down are left out.
 */
export async function addressHolders(hosts: readonly string[], hostOf: (n: string) => Host, dev: string, address: string): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(
    hosts.map(async (name) => {
      try {
        const st = await interfaceState(hostOf(name), dev);
        if (st.up && st.addrs.includes(address)) out.push(name);
      } catch {
        // down hosts hold nothing we can see
      }
    }),
  );
  return hosts.filter((h) => out.includes(h));
}

/**
 * The SHA-256 (hex) of each path's bytes on the host, undefined where no readable regular file is:
 * one command for all of them, so a thousand files cost one round trip (over SSH, one channel
 * instead of a thousand SFTP reads). Paths go in on stdin, NUL-separated: a long list would not
 * fit in the one shell word sshd turns an argv into.
 */
export async function fileDigests(host: Host, paths: readonly string[]): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>(paths.map((p) => [p, undefined]));
  if (!paths.length) return out;
  // Exit status 1 only says some path was missing or not a file: those stay undefined.
  const r = await host.run(['xargs', '-0', '-r', 'sha256sum', '-z', '--'], { input: `${paths.join('\0')}\0`, allowFail: true, timeoutMs: 120_000 });
  for (const rec of r.stdout.split('\0')) {
    // `<64 hex>  <path>`; with -z the name is printed as it is, never escaped.
    if (rec.length > 66 && rec[64] === ' ') {
      const path = rec.slice(66);
      if (out.has(path)) out.set(path, rec.slice(0, 64));
    }
  }
  return out;
}

/** One entry below a directory: its path relative to it, its kind (`f`ile, `d`irectory, `l`ink…) and permission bits. */
export interface TreeEntry {
  readonly path: string;
  readonly kind: string;
  readonly mode: number;
}

/** Everything below `dir` (not `dir` itself; `dir` may be a link to it), in one command; empty when `dir` does not exist. */
export async function treeEntries(host: Host, dir: string): Promise<TreeEntry[]> {
  const r = await host.run(['find', '-H', dir, '-mindepth', '1', '-printf', '%y %m %P\\0'], { allowFail: true, timeoutMs: 120_000 });
  const out: TreeEntry[] = [];
  for (const rec of r.stdout.split('\0')) {
    const m = /^(\S) ([0-7]+) (.+)$/s.exec(rec);
    if (m) out.push({ kind: m[1]!, mode: parseInt(m[2]!, 8), path: m[3]! });
  }
  return out;
}

/** The SHA-256 (hex) of a string's UTF-8 bytes, to compare with `fileDigests`. */
export function digestOf(content: string | Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}
