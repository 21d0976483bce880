import type { Command } from 'commander';
import type { Globals } from './main.ts';

/** `vard lab …`: build, inspect, break and tear down a lab. */
export function registerLabCommands(_program: Command, _globals: Globals): void {}
