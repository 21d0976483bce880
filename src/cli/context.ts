import { join } from 'node:path';
import type { PlatformLocation } from '../platform/context.ts';
import { vardHome } from '../store/index.ts';

/** Options every command understands, resolved from flags, then environment, then defaults. */
export interface GlobalOptions extends PlatformLocation {
  readonly json: boolean;
}

/** Resolves the global options at the moment a command runs (after commander parsed them). */
export type Globals = () => GlobalOptions;

export function defaultStatePath(lab: string): string {
  return join(vardHome(), 'state', `${lab}.db`);
}

export function resolveGlobals(o: { lab?: string; state?: string; json?: boolean }): GlobalOptions {
  const lab = o.lab ?? process.env.VARD_LAB ?? 'vard';
  return { lab, state: o.state ?? process.env.VARD_STATE ?? defaultStatePath(lab), json: o.json ?? false };
}

/** Output helper: JSON for machines with --json, text for people otherwise. */
export function emit(g: GlobalOptions, data: unknown, text: () => string): void {
  process.stdout.write(g.json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

/** Progress lines go to stderr so `--json` output on stdout stays clean. */
export function progress(msg: string): void {
  process.stderr.write(`${msg}\n`);
}
