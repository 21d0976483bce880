/**
 * Talking to the running load balancers: HAProxy's runtime API and varnishadm, to take a server
 * out of rotation and back, and to see who holds the public address.
 */
import { addressHolders, type Host } from '../../host/index.ts';
import { hostsWithRole, type Platform } from '../../model/index.ts';
import type { HostOf, LbContribution, RoleContext } from '../contract.ts';
import { LB_DAEMONS } from './drivers.ts';
import { backendName, checkedBackends, checkedServer, LB_PATHS, LB_ROLE, PUBLIC_IF } from './render.ts';

/** Sends commands to HAProxy's runtime API on a load balancer. */
export async function haproxyCommand(host: Host, commands: readonly string[]): Promise<string> {
  if (!commands.length) return '';
  const r = await host.run(['socat', '-t', '2', 'STDIO', `UNIX-CONNECT:${LB_PATHS.haproxySocket}`], { input: `${commands.join('; ')}\n`, allowFail: true });
  return r.stdout;
}

/** Which load balancers carry the public VIP right now. */
export function vipHolders(p: Platform, hostOf: HostOf): Promise<string[]> {
  return addressHolders(hostsWithRole(p.topology, LB_ROLE).map((h) => h.name), hostOf, PUBLIC_IF, p.topology.publicVip);
}

/**
 * Takes a server out of rotation in every load balancer — in every backend it serves in (HAProxy
 * drain: no new requests, running ones finish) — or puts it back. An HTTP service's server follows
 * the one that is checked (`track`), and HAProxy passes a drain on to the servers tracking it, so
 * it is one command per server, not one per site (a thousand do not fit the runtime API's line).
 * Varnish sends its misses through HAProxy, so it needs nothing. Taking it out waits (bounded)
 * until no request to it is in flight.
 */
export async function setRotation(ctx: RoleContext, server: string, inRotation: boolean, lb: LbContribution): Promise<void> {
  const checked = checkedBackends(lb);
  const http = (lb.http ?? []).filter((s) => s.servers.some((x) => x.host === server)).map((s) => checkedServer(checked, s, server));
  const tcp = (lb.tcp ?? []).filter((s) => s.servers.some((x) => x.host === server)).map((s) => `${backendName(s)}/${server}`);
  const targets = [...new Set([...http, ...tcp])];
  const lbs = hostsWithRole(ctx.platform.topology, LB_ROLE);
  for (const node of lbs) {
    const h = ctx.hostOf(node.name);
    try {
      if (await LB_DAEMONS.haproxy!.running(h)) {
        await haproxyCommand(h, targets.map((t) => `set server ${t} state ${inRotation ? 'ready' : 'drain'}`));
      }
    } catch {
      // A load balancer that is down routes nothing; there is nothing to drain there.
    }
  }
  if (!inRotation) await waitForIdle(lbs.map((n) => ctx.hostOf(n.name)), server);
}

/** Waits (bounded) until no load balancer has a request in flight to `server`. */
async function waitForIdle(lbs: readonly Host[], server: string): Promise<void> {
  const deadline = Date.now() + 5000;
  for (const h of lbs) {
    for (;;) {
      let busy = 0;
      try {
        // `show stat` CSV: pxname,svname,qcur,qmax,scur,… (scur = current sessions)
        const csv = await haproxyCommand(h, ['show stat']);
        for (const line of csv.split('\n')) {
          const c = line.split(',');
          if (c[0]?.startsWith('be_') && c[1] === server) busy += Number(c[4]) || 0;
        }
      } catch {
        break;
      }
      if (busy === 0 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
