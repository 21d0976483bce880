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
