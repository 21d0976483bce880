import { execArgv } from './exec.ts';
import { FsHost } from './fs-host.ts';
import type { Host, RunOptions, RunResult } from './types.ts';

class LocalHost extends FsHost {
  protected root(): string {
    return '';
  }
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    return execArgv(this.name, argv, opts);
  }
}

/** This machine, for the smallest install where every role runs on one host. */
export function localHost(name = 'local'): Host {
  return new LocalHost(name);
}
