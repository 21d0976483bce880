import type { Command } from 'commander';
import type { Globals } from './main.ts';

/** Service-desk commands (customers, contracts, tickets, incidents, reports, serve). */
export function registerDeskCommands(_program: Command, _globals: Globals): void {}
