import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import type { Host, RunOptions, RunResult, WriteOptions } from './types.ts';

/**
 * A host whose files this process can reach through a path prefix: '' for this machine, and
 * `/proc/<init>/root` for a lab host (the kernel resolves that through the host's own mount
 * namespace, so no process is spawned per file operation).
 */
export abstract class FsHost implements Host {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  protected abstract root(): string;
  abstract run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;

  private p(path: string): string {
    if (!path.startsWith('/')) throw new Error(`host paths must be absolute: ${path}`);
    return this.root() + path;
  }

  async readFile(path: string): Promise<Buffer | undefined> {
    try {
      return await fs.readFile(this.p(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async writeFile(path: string, data: string | Buffer, opts: WriteOptions = {}): Promise<void> {
    const target = this.p(path);
    await fs.mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.vard-tmp-${randomBytes(4).toString('hex')}`;
    await fs.writeFile(tmp, data, { mode: opts.mode ?? 0o644 });
    if (opts.mode !== undefined) await fs.chmod(tmp, opts.mode);
    await fs.rename(tmp, target);
  }

  async rename(from: string, to: string): Promise<void> {
    await fs.rename(this.p(from), this.p(to));
  }

  async symlink(target: string, path: string): Promise<void> {
    const link = this.p(path);
    await fs.mkdir(dirname(link), { recursive: true });
    const tmp = `${link}.vard-tmp-${randomBytes(4).toString('hex')}`;
    await fs.symlink(target, tmp);
    await fs.rename(tmp, link);
  }

  async readlink(path: string): Promise<string | undefined> {
    try {
      return await fs.readlink(this.p(path));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EINVAL') return undefined;
      throw e;
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await fs.lstat(this.p(path));
      return true;
    } catch {
      return false;
    }
  }

  async mkdir(path: string, opts: { mode?: number } = {}): Promise<void> {
    await fs.mkdir(this.p(path), { recursive: true, ...(opts.mode === undefined ? {} : { mode: opts.mode }) });
  }

  async list(path: string): Promise<string[]> {
    try {
      return (await fs.readdir(this.p(path))).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async remove(path: string, opts: { recursive?: boolean } = {}): Promise<void> {
    await fs.rm(this.p(path), { force: true, recursive: opts.recursive ?? false });
  }

  async close(): Promise<void> {}
}
