import { dirname, join } from 'node:path';
import { labOpen, type LabHandle } from '../lab/index.ts';
import { openDb, PlatformStore } from '../store/index.ts';
import { PlatformService } from './service.ts';

/** Which platform: its lab (or inventory) name and its SQLite state file. */
export interface PlatformLocation {
  readonly lab: string;
  readonly state: string;
}

export interface PlatformContext {
  readonly service: PlatformService;
  readonly lab: LabHandle;
  close(): void;
}

/** Wires the state store and the lab's hosts into a PlatformService for one CLI invocation. */
export function openPlatform(g: PlatformLocation, progress?: (m: string) => void, lab?: LabHandle): PlatformContext {
  // The lab is looked up only when a host is needed: reading the model works with no lab running.
  let handle = lab;
  const theLab = (): LabHandle => (handle ??= labOpen(g.lab));
  const db = openDb(g.state);
  const store = new PlatformStore(db);
  // Final dumps of deleted sites' databases live beside the state file, per platform.
  const dumpDir = g.state === ':memory:' ? undefined : join(dirname(g.state), 'dumps', g.lab);
  const service = new PlatformService({ store, hostOf: (n) => theLab().host(n), now: () => new Date(), ...(progress ? { progress } : {}), ...(dumpDir ? { dumpDir, lockPath: `${g.state}.lock` } : {}) });
  return {
    service,
    get lab() {
      return theLab();
    },
    close: () => db.close(),
  };
}
