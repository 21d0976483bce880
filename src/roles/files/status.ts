/** The files tier's health: the pool, the bricks, what waits to be healed, and who has the volume mounted. */
import { isVardError } from '../../errors/index.ts';
import type { Platform } from '../../model/index.ts';
import type { HostOf } from '../contract.ts';
import { parseHealSummary, parsePoolList, parseVolumeStatus, poolMember, type BrickHeal } from './parse.ts';
import { FILES_PATHS, filesHosts, VOLUME } from './render.ts';
import { clientHosts, gluster, liveFilesHosts, volumeInfo } from './volume.ts';

export interface FilesStatus {
  readonly volume: string;
  readonly exists: boolean;
  readonly started: boolean;
  /** Each files host: whether its glusterd answers and the others see it connected. */
  readonly peers: readonly { readonly host: string; readonly address: string; readonly glusterd: boolean; readonly connected: boolean }[];
  readonly bricks: readonly { readonly host: string; readonly brick: string; readonly arbiter: boolean; readonly online: boolean; readonly healPending: number | undefined; readonly splitBrain: number | undefined }[];
  /** Total entries waiting for a heal (the largest count of any brick); undefined when no brick could tell. */
  readonly healPending: number | undefined;
  /** Hosts that mount the volume (web servers, files hosts) and whether the mount answers. */
  readonly mounts: readonly { readonly host: string; readonly mounted: boolean }[];
}

export async function filesStatus(p: Platform, hostOf: HostOf): Promise<FilesStatus> {
  const hosts = filesHosts(p.topology);
  const live = await liveFilesHosts(p, hostOf);
  const asker = live[0] ? hostOf(live[0].name) : undefined;
  const info = asker ? await volumeInfo(asker) : undefined;
  const pool = asker ? parsePoolList((await gluster(asker, ['pool', 'list'])).stdout) : [];
  const peers = hosts.map((h) => ({
    host: h.name,
    address: h.privateAddress,
    glusterd: live.some((x) => x.name === h.name),
    connected: h.name === live[0]?.name ? true : poolMember(pool, h)?.connected === true,
  }));
  const st = asker && info ? parseVolumeStatus((await gluster(asker, ['volume', 'status', VOLUME, '--xml'])).stdout) : { bricks: [], healDaemons: [] };
  let heal: BrickHeal[] = [];
  if (asker && info?.started) heal = parseHealSummary((await gluster(asker, ['volume', 'heal', VOLUME, 'info', 'summary', '--xml'], { timeoutMs: 60_000 })).stdout);
  const bricks = hosts.map((h, i) => {
    const brick = `${h.privateAddress}:${FILES_PATHS.brick}`;
    const hh = heal.find((x) => x.brick === brick);
    return {
      host: h.name,
      brick,
      arbiter: info?.bricks.find((b) => b.name === brick)?.arbiter ?? i === hosts.length - 1,
      online: st.bricks.some((b) => `${b.hostname}:${b.path}` === brick && b.online),
      healPending: hh?.pending,
      splitBrain: hh?.splitBrain,
    };
  });
  const counts = bricks.map((b) => b.healPending).filter((n): n is number => n !== undefined);
  const mounts = await Promise.all(
    clientHosts(p).map(async (h) => {
      try {
        const host = hostOf(h.name);
        const r = await host.run(['sh', '-c', 'mountpoint -q "$1" && stat -t "$1/." >/dev/null', 'vard-files-mounted', FILES_PATHS.mount], { allowFail: true, timeoutMs: 20_000 });
        return { host: h.name, mounted: r.exitCode === 0 };
      } catch (e) {
        if (isVardError(e, 'VARD_ERR_HOST_DOWN')) return { host: h.name, mounted: false };
        throw e;
      }
    }),
  );
  return {
    volume: VOLUME,
    exists: info !== undefined,
    started: info?.started ?? false,
    peers,
    bricks,
    healPending: counts.length ? Math.max(...counts) : undefined,
    mounts,
  };
}

/** Problems, one line each; none when the tier is whole. */
export function filesAlerts(s: FilesStatus): string[] {
  const out: string[] = [];
  if (!s.exists) return [`the volume ${s.volume} does not exist (yet)`];
  if (!s.started) out.push(`the volume ${s.volume} is not started`);
  for (const p of s.peers) if (!p.glusterd || !p.connected) out.push(`${p.host}: glusterd ${p.glusterd ? 'not connected to the pool' : 'does not answer'}`);
  for (const b of s.bricks) {
    if (!b.online) out.push(`${b.host}: brick ${b.brick} offline`);
    if (b.splitBrain) out.push(`${b.host}: ${b.splitBrain} entries in split brain`);
  }
  if (s.healPending) out.push(`${s.healPending} entries wait to be healed`);
  for (const m of s.mounts) if (!m.mounted) out.push(`${m.host}: the volume is not mounted at ${FILES_PATHS.mount}`);
  return out;
}

export function formatFilesStatus(s: FilesStatus, alerts: readonly string[]): string {
  const lines = [`volume ${s.volume}: ${s.exists ? (s.started ? 'started' : 'stopped') : 'missing'}, replica 3 arbiter 1; ${alerts.length ? 'UNHEALTHY' : 'healthy'}`];
  for (const p of s.peers) lines.push(`  peer  ${p.host.padEnd(8)} ${p.address.padEnd(15)} ${p.glusterd ? (p.connected ? 'connected' : 'not connected') : 'glusterd down'}`);
  for (const b of s.bricks) {
    lines.push(`  brick ${b.host.padEnd(8)} ${b.online ? 'online ' : 'OFFLINE'} ${b.arbiter ? 'arbiter' : 'data   '} heal pending ${b.healPending ?? '?'}${b.splitBrain ? `, split brain ${b.splitBrain}` : ''}`);
  }
  lines.push(`  mounted on ${s.mounts.filter((m) => m.mounted).map((m) => m.host).join(', ') || 'no host'}`);
  for (const a of alerts) lines.push(`  ! ${a}`);
  return lines.join('\n');
}
