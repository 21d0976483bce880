import type { GlobalOptions } from '../cli/context.ts';
import { vardError } from '../errors/index.ts';
import type { LabHandle } from '../lab/index.ts';
import type { Platform } from '../model/index.ts';
import { ensureReplicaRejoined } from '../db/index.ts';
import { openPlatform } from './context.ts';
import { vipHolders } from './support.ts';

/** Called by `vard lab up` once the hosts exist: record the topology, bring the daemons up, apply the sites. */
export async function onLabUp(g: GlobalOptions, lab: LabHandle, progress: (m: string) => void): Promise<void> {
  const ctx = openPlatform(g, progress, lab);
  try {
    ctx.service.setTopology(lab.name, lab.topology);
    progress('configuring and starting the daemons');
    await ctx.service.reconcile();
    await waitForVip(ctx.service.platform(), lab, progress);
  } finally {
    ctx.close();
  }
}

async function waitForVip(p: Platform, lab: LabHandle, progress: (m: string) => void): Promise<void> {
  progress(`waiting for a load balancer to take the public address ${p.topology.publicVip}`);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const holders = await vipHolders(p, (n) => lab.host(n));
    if (holders.length === 1) {
      progress(`${holders[0]} holds ${p.topology.publicVip}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw vardError('VARD_ERR_NOT_READY', ['keepalived', 'the load balancers', 30_000, 'no load balancer took the public address']);
}

/** Called after `vard lab revive HOST`: the machine booted again, so converge it (starts its daemons). */
export async function onHostRevived(g: GlobalOptions, lab: LabHandle, host: string, progress: (m: string) => void): Promise<void> {
  const ctx = openPlatform(g, progress, lab);
  try {
    progress(`starting the daemons of ${host}`);
    await ctx.service.reconcile();
    const p = ctx.service.platform();
    // A database host that was the primary may carry a transaction nobody acknowledged; if it
    // cannot resume replication on its own it is rebuilt from the primary (vard db rejoin).
    if (p.topology.hosts.find((h) => h.name === host)?.roles.includes('db')) {
      const how = await ensureReplicaRejoined(p, (n) => lab.host(n), host, progress);
      progress(`${host} is a replica again (${how})`);
    }
  } finally {
    ctx.close();
  }
}

/** Called before `vard lab down`. The desired state stays in the store; the next `lab up` applies it again. */
export async function onLabDown(_g: GlobalOptions, _name: string, _progress: (m: string) => void): Promise<void> {}
