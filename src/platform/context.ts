import { dirname, join } from 'node:path';
import { vardError } from '../errors/index.ts';
import { sshHost, type Host } from '../host/index.ts';
import { isInventoryTopology } from '../inventory/index.ts';
import { labOpen, type LabHandle } from '../lab/index.ts';
import type { HostSpec, Platform } from '../model/index.ts';
import { ensureSshIdentity, HostKeyStore, openDb, PlatformStore } from '../store/index.ts';
import { bootstrapOrThrow, hostPackages, type BootstrapOptions, type BootstrapReport } from './bootstrap.ts';
import { PlatformService } from './service.ts';

/** Which platform: its lab (or inventory) name and its SQLite state file. */
export interface PlatformLocation {
  readonly lab: string;
  readonly state: string;
}

export interface PlatformContext {
  readonly service: PlatformService;
  /** The lab behind a lab platform; throws VARD_ERR_LAB_NOT_RUNNING for an inventory platform. */
  readonly lab: LabHandle;
  /** Pinned host keys (inventory platforms). */
  readonly hostKeys: HostKeyStore;
  /** Every action on a host goes through this: a lab host, or a real server over SSH with its pinned key. */
  hostOf(name: string): Host;
  /** True when the stored platform's hosts are real servers from an inventory. */
  isInventory(): boolean;
  /** Checks the inventory hosts (reachable, Debian 12, root) and installs their roles' packages; see bootstrap.ts. */
  bootstrap(names?: readonly string[], o?: BootstrapOptions): Promise<BootstrapReport>;
  close(): void;
}

/** An inventory host over SSH: Vard's own key, the host key the operator pinned (refused when it changes). */
function serverOf(spec: HostSpec, keys: HostKeyStore): Host {
  const ssh = spec.ssh;
  if (!ssh) throw vardError('VARD_ERR_INTERNAL', [`${spec.name} has no ssh endpoint`]);
  const pin = keys.pinned(spec.name);
  if (!pin) throw vardError('VARD_ERR_SSH_UNTRUSTED', [spec.name, spec.name]);
  return sshHost({
    name: spec.name,
    host: ssh.address,
    port: ssh.port,
    username: ssh.user,
    privateKey: ensureSshIdentity().privateKey,
    hostKeySha256: pin.sha256,
    ...(ssh.proxy ? { proxyArgv: ssh.proxy } : {}),
  });
}

/**
 * Wires the state store and the platform's hosts into a PlatformService for one CLI invocation.
 * A lab platform's hosts are the lab's; an inventory platform's are real servers over SSH, one
 * connection each for the whole invocation, and each converge starts with their bootstrap.
 */
export function openPlatform(g: PlatformLocation, progress?: (m: string) => void, lab?: LabHandle): PlatformContext {
  // The lab is looked up only when a host is needed: reading the model works with no lab running.
  let handle = lab;
  const theLab = (): LabHandle => (handle ??= labOpen(g.lab));
  const db = openDb(g.state);
  const store = new PlatformStore(db);
  const hostKeys = new HostKeyStore(db);
  const servers = new Map<string, Host>();
  const inventory = (): Platform['topology'] | undefined => {
    const t = store.platform()?.topology;
    return t && isInventoryTopology(t) ? t : undefined;
  };
  const hostOf = (name: string): Host => {
    if (lab) return lab.host(name);
    const t = inventory();
    if (!t) return theLab().host(name);
    let h = servers.get(name);
    if (!h) {
      const spec = t.hosts.find((x) => x.name === name);
      if (!spec) throw vardError('VARD_ERR_HOST_UNKNOWN', [name, t.hosts.map((x) => x.name).join(', ')]);
      h = serverOf(spec, hostKeys);
      servers.set(name, h);
    }
    return h;
  };
  const bootstrap = (names?: readonly string[], o: BootstrapOptions = {}): Promise<BootstrapReport> => {
    const t = inventory();
    if (!t) throw vardError('VARD_ERR_PLATFORM_KIND', [g.lab, 'is a lab platform; bootstrap is for the real servers of an inventory (`vard platform init NAME --inventory hosts.yml`)']);
    const chosen = (names?.length ? names : t.hosts.map((h) => h.name)).map((n) => {
      const spec = t.hosts.find((h) => h.name === n);
      if (!spec) throw vardError('VARD_ERR_HOST_UNKNOWN', [n, t.hosts.map((h) => h.name).join(', ')]);
      return spec;
    });
    const targets = chosen.map((spec: HostSpec) => {
      let host: Host;
      try {
        host = hostOf(spec.name);
      } catch (e) {
        // An untrusted host is reported with the others, not thrown alone.
        const fail = (): Promise<never> => Promise.reject(e);
        host = { name: spec.name, run: fail, readFile: fail, writeFile: fail, rename: fail, symlink: fail, readlink: fail, exists: fail, mkdir: fail, list: fail, remove: fail, close: async () => undefined };
      }
      return { name: spec.name, host, packages: hostPackages(spec) };
    });
    return bootstrapOrThrow(targets, { ...(progress ? { say: progress } : {}), ...o });
  };
  // Final dumps of deleted sites' databases live beside the state file, per platform.
  const dumpDir = g.state === ':memory:' ? undefined : join(dirname(g.state), 'dumps', g.lab);
  let bootstrapped = false;
  const service = new PlatformService({
    store,
    hostOf,
    now: () => new Date(),
    ...(progress ? { progress } : {}),
    ...(dumpDir ? { dumpDir, lockPath: `${g.state}.lock` } : {}),
    // Real servers are checked and given their packages before the first converge of this invocation.
    beforeConverge: async () => {
      if (bootstrapped || lab || !inventory()) return;
      await bootstrap();
      bootstrapped = true;
    },
  });
  return {
    service,
    get lab() {
      return theLab();
    },
    hostKeys,
    hostOf,
    isInventory: () => inventory() !== undefined,
    bootstrap,
    close: () => {
      // SSH connections end in the background; the state store closes now.
      for (const h of servers.values()) void h.close().catch(() => undefined);
      servers.clear();
      // A lab handle this context opened itself (SSH mode keeps a connection per host); a caller's stays the caller's.
      if (!lab && handle) void handle.close().catch(() => undefined);
      db.close();
    },
  };
}
