import { readFileSync } from 'node:fs';
import { vardError } from '../errors/index.ts';
import { execArgv } from './exec.ts';
import { FsHost } from './fs-host.ts';
import type { Host, RunOptions, RunResult } from './types.ts';

/**
 * A lab host: network, UTS, mount and PID namespaces under a small init. Commands enter all four
 * with nsenter; files go through `/proc/<init>/root`, which the kernel resolves in the host's
 * mount namespace. `initPid` is looked up on each use so a revived host is found again.
 */
class NetnsHost extends FsHost {
  private readonly initPid: () => number | undefined;
  constructor(name: string, initPid: () => number | undefined) {
    super(name);
    this.initPid = initPid;
  }

  private pid(): number {
    const pid = this.initPid();
    if (pid === undefined) throw vardError('VARD_ERR_HOST_DOWN', [this.name]);
    try {
      readFileSync(`/proc/${pid}/cmdline`);
    } catch {
      throw vardError('VARD_ERR_HOST_DOWN', [this.name]);
    }
    return pid;
  }

  protected root(): string {
    return `/proc/${this.pid()}/root`;
  }

  async run(argv: readonly string[], opts?: RunOptions): Promise<RunResult> {
    const pid = this.pid();
    return execArgv(this.name, ['nsenter', '-t', String(pid), '-n', '-u', '-m', '-p', '--', ...argv], opts, argv);
  }
}

export function netnsHost(name: string, initPid: () => number | undefined): Host {
  return new NetnsHost(name, initPid);
}
