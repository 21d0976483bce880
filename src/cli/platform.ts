import type { Command } from 'commander';
import type { Globals } from './main.ts';

/** `vard site …`, `vard status`, `vard apply`, `vard demo`. */
export function registerPlatformCommands(_program: Command, _globals: Globals): void {}
