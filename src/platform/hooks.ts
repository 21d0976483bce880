import { vardError } from '../errors/index.ts';
import type { LabHandle } from '../lab/index.ts';
import type { RoleContext } from '../roles/contract.ts';
import { ROLES } from '../roles/registry.ts';
import { openPlatform, type PlatformLocation } from './context.ts';

/** Called by `vard lab up` once the hosts exist: record the topology, bring the daemons up, apply the sites. */
export async function onLabUp(g: PlatformLocation, lab: LabHandle, progress: (m: string) => void): Promise<void> {
  const ctx = openPlatform(g, progress, lab);
  try {
    ctx.service.setTopology(lab.name, lab.topology);
    progress('configuring and starting the daemons');
    await ctx.service.reconcile();
    await waitForPublicAddress({ platform: ctx.service.platform(), hostOf: (n) => lab.host(n), say: progress });
  } finally {
    ctx.close();
  }
}

/** Waits until exactly one host of the balancing role holds the public address. */
async function waitForPublicAddress(ctx: RoleContext): Promise<void> {
  const vip = ctx.platform.topology.publicVip;
  for (const r of ROLES) {
    if (!r.balancer) continue;
    ctx.say(`waiting for a load balancer to take the public address ${vip}`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const holders = await r.balancer.holders(ctx);
      if (holders.length === 1) {
        ctx.say(`${holders[0]} holds ${vip}`);
        break;
      }
      if (Date.now() > deadline) throw vardError('VARD_ERR_NOT_READY', [r.id, 'the load balancers', 30_000, 'no load balancer took the public address']);
      await new Promise((res) => setTimeout(res, 200));
    }
  }
}

/** Called after `vard lab revive HOST`: the machine booted again, so converge it (starts its daemons), then each role's repair. */
export async function onHostRevived(g: PlatformLocation, lab: LabHandle, host: string, progress: (m: string) => void): Promise<void> {
  const ctx = openPlatform(g, progress, lab);
  try {
    progress(`starting the daemons of ${host}`);
    await ctx.service.reconcile();
    const rc: RoleContext = { platform: ctx.service.platform(), hostOf: (n) => lab.host(n), say: progress };
    for (const r of ROLES) await r.onHostRevived?.(rc, host);
  } finally {
    ctx.close();
  }
}
