#!/usr/bin/env node
// Entry point of the `vard` command: registers the TypeScript loader, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
const code = await main(process.argv);
process.exitCode = code;
// A failed command may leave work in flight that it no longer awaits (the other hosts of a
// parallel step, reopening their SSH connections): it must not keep the process alive. Output is
// written synchronously to files and pipes on Linux, so nothing printed is lost.
if (code !== 0) process.exit(code);
