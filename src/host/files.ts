import type { Host } from './types.ts';

/** Writes `content` unless the file already holds exactly it; true when it wrote. */
export async function writeIfChanged(host: Host, path: string, content: string, mode: number): Promise<boolean> {
  const cur = await host.readFile(path);
  if (cur && cur.toString('utf8') === content) return false;
  await host.writeFile(path, content, { mode });
  return true;
}

/**
 * Which of `hosts` carry `address` on interface `dev` right now (`ip -o -4 addr show dev pub`,
 * sample line `3: pub    inet 198.18.0.100/25 scope global secondary pub`). Hosts that are
 * down hold nothing anyone can reach and are left out.
 */
export async function addressHolders(hosts: readonly string[], hostOf: (n: string) => Host, dev: string, address: string): Promise<string[]> {
  const out: string[] = [];
  await Promise.all(
    hosts.map(async (name) => {
      try {
        const r = await hostOf(name).run(['ip', '-o', '-4', 'addr', 'show', 'dev', dev], { allowFail: true });
        if (r.stdout.includes(` ${address}/`)) out.push(name);
      } catch {
        // down hosts hold nothing we can see
      }
    }),
  );
  return hosts.filter((h) => out.includes(h));
}
