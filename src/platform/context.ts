import type { GlobalOptions } from '../cli/context.ts';
import { labOpen, type LabHandle } from '../lab/index.ts';
import { openDb, PlatformStore } from '../store/index.ts';
import { PlatformService } from './service.ts';

export interface PlatformContext {
  readonly service: PlatformService;
  readonly lab: LabHandle;
  close(): void;
}

/** Wires the state store and the lab's hosts into a PlatformService for one CLI invocation. */
export function openPlatform(g: GlobalOptions, progress?: (m: string) => void, lab: LabHandle = labOpen(g.lab)): PlatformContext {
  const db = openDb(g.state);
  const store = new PlatformStore(db);
  const service = new PlatformService({ store, hostOf: (n) => lab.host(n), now: () => new Date(), ...(progress ? { progress } : {}) });
  return { service, lab, close: () => db.close() };
}
