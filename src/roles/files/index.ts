/**
 * The files tier [S17]: a GlusterFS volume, replica 3 with an arbiter (two data copies and a third
 * vote, so a cut-off brick never diverges), mounted on every web server, each site's public and
 * private files in a directory of its own on it. Field notes §2.12 and §3.6; NFS in production:
 * docs/files-tier.md.
 */
import type { RoleModule } from '../contract.ts';
import { registerFilesCommands } from './cli.ts';
import { bindOnce, FILES_DAEMONS } from './drivers.ts';
import packages from './packages.json' with { type: 'json' };
import { CLIENT_ROLE, FILES_PATHS, FILES_ROLE, filesAccepts, filesHosts, hasFilesTier, renderGlusterd, VOLUME } from './render.ts';
import { filesAlerts, filesStatus } from './status.ts';
import { convergeFiles, gluster, liveFilesHosts, removeSiteDir, siteDirsOnVolume } from './volume.ts';

export { FILES_ROLE, FILES_PATHS, VOLUME, siteFilesLayout, type SiteFilesLayout } from './render.ts';
export { filesAlerts, filesStatus, formatFilesStatus, type FilesStatus } from './status.ts';
export { parseHealSummary, parsePoolList, parseVolumeInfo, parseVolumeStatus } from './parse.ts';

export const filesRole: RoleModule = {
  id: FILES_ROLE,
  summary: 'files: a GlusterFS volume (replica 3, arbiter 1) mounted on every web server',
  packages,
  topology: {
    privateBlock: 181,
    rules(shape) {
      const n = shape.hosts.filter((h) => h.roles.includes(FILES_ROLE)).length;
      const out: { path: string; message: string }[] = [];
      // Two copies and an arbiter: with two hosts alone a cut between them lets both sides write (split brain).
      if (n !== 0 && n !== 3) out.push({ path: 'hosts', message: `${n} hosts have the role "${FILES_ROLE}"; the files tier takes exactly three (two data copies, the third the arbiter)` });
      if (n && !shape.hosts.some((h) => h.roles.includes(CLIENT_ROLE))) out.push({ path: 'hosts', message: `the role "${FILES_ROLE}" serves the "${CLIENT_ROLE}" hosts; there are none` });
      return out;
    },
  },
  reference: [
    { name: 'files1', roles: [FILES_ROLE] },
    { name: 'files2', roles: [FILES_ROLE] },
    // The arbiter brick: names and metadata only, the third vote that keeps the two copies from diverging.
    { name: 'filesq', roles: [FILES_ROLE] },
  ],
  // The volume's three hosts, two web servers that mount it, and the balancer a visitor comes through.
  testTopology: {
    source: 'test:files',
    hosts: [
      { name: 'lb1', roles: ['lb'] },
      { name: 'web1', roles: [CLIENT_ROLE] },
      { name: 'web2', roles: [CLIENT_ROLE] },
      { name: 'files1', roles: [FILES_ROLE] },
      { name: 'files2', roles: [FILES_ROLE] },
      { name: 'filesq', roles: [FILES_ROLE] },
    ],
  },
  daemons: FILES_DAEMONS,
  render: (p, host) => (hasFilesTier(p) ? [renderGlusterd(p, host)] : []),
  // glusterd restarts without touching the bricks it started, so every host may change at once.
  rollout: { kind: 'all-at-once' },
  accepts: (p) => filesAccepts(p),
  async prepareHost(ctx, host) {
    const h = ctx.hostOf(host.name);
    for (const d of [FILES_PATHS.state, FILES_PATHS.brick, '/run/gluster', '/var/log/glusterfs']) await h.mkdir(d);
    // glusterd, its bricks and glfsheal hard-code /var/lib/glusterd; the host's own /run covers the rest.
    await bindOnce(h, FILES_PATHS.state, FILES_PATHS.glusterdLib);
  },
  async converge(ctx) {
    if (!hasFilesTier(ctx.platform)) return;
    await convergeFiles(ctx.platform, ctx.hostOf, ctx.say);
  },
  async onHostRevived(ctx, host) {
    // The converge before this brought the host's brick back online (and remounted a web server);
    // a heal is asked for now rather than at the self-heal daemon's next crawl.
    const p = ctx.platform;
    if (!hasFilesTier(p) || !filesHosts(p.topology).some((h) => h.name === host)) return;
    const first = (await liveFilesHosts(p, ctx.hostOf))[0];
    if (!first) return;
    await gluster(ctx.hostOf(first.name), ['volume', 'heal', VOLUME]);
    ctx.say(`files: heal of ${VOLUME} started after ${host} came back`);
  },
  // A deleted site's directory goes last, after the web servers stopped serving it: seen through
  // each files host's own mount of the volume, removed through the first that finds it.
  siteResidue: siteDirsOnVolume,
  removeSiteResidue: removeSiteDir,
  async status(ctx) {
    if (!hasFilesTier(ctx.platform)) return { healthy: true, summary: 'no files tier', alerts: [] };
    const s = await filesStatus(ctx.platform, ctx.hostOf);
    const alerts = filesAlerts(s);
    return {
      healthy: alerts.length === 0,
      summary: `volume ${s.volume} ${s.started ? 'started' : 'not started'}, ${s.bricks.filter((b) => b.online).length}/${s.bricks.length} bricks online, heal pending ${s.healPending ?? '?'}`,
      alerts,
      details: s,
    };
  },
  cli: registerFilesCommands,
};
