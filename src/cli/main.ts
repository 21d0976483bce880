import { Command, CommanderError } from 'commander';
import { isVardError } from '../errors/index.ts';
import { labCloseAll } from '../lab/index.ts';
import { openPlatform } from '../platform/context.ts';
import type { RoleCliDeps } from '../roles/contract.ts';
import { ROLES } from '../roles/registry.ts';
import { emit, progress, resolveGlobals, type Globals } from './context.ts';
import { registerDemoCommand } from './demo.ts';
import { registerDeskCommands } from './desk.ts';
import { registerHostCommands } from './hosts.ts';
import { registerLabCommands } from './lab.ts';
import { registerPlatformCommands } from './platform.ts';

function buildProgram(): Command {
  const program = new Command('vard')
    .description('Vard: managed hosting for Drupal sites on a high-availability cluster of real daemons')
    .option('--lab <name>', 'the lab/platform to act on (env VARD_LAB)', undefined)
    .option('--state <file>', 'SQLite state file (env VARD_STATE; default /var/lib/vard/state/<lab>.db)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError()
    .exitOverride();
  const globals: Globals = () => resolveGlobals(program.opts<{ lab?: string; state?: string; json?: boolean }>());
  registerLabCommands(program, globals);
  registerPlatformCommands(program, globals);
  registerHostCommands(program, globals);
  const deps: RoleCliDeps = {
    globals,
    async withPlatform(withProgress, fn) {
      const ctx = openPlatform(globals(), withProgress ? progress : undefined);
      try {
        return await fn({ platform: ctx.service.platform(), hostOf: ctx.hostOf, say: progress });
      } finally {
        ctx.close();
      }
    },
    emit: (data, text) => emit(globals(), data, text),
    progress,
  };
  for (const r of ROLES) r.cli?.(program, deps);
  registerDeskCommands(program, globals);
  registerDemoCommand(program, globals);
  return program;
}

/** Runs the CLI; returns the process exit code. Coded errors print their message, never a stack. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    // A command may report a non-error outcome through the exit code (`db status`: 13 = unhealthy).
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    const json = argv.includes('--json');
    if (isVardError(e)) {
      if (json) process.stdout.write(`${JSON.stringify({ error: e.toJSON() }, null, 2)}\n`);
      process.stderr.write(`vard: ${e.message} [${e.code}]\n`);
      return e.exitCode;
    }
    process.stderr.write(`vard: unexpected error: ${(e as Error)?.stack ?? String(e)}\n`);
    return 1;
  } finally {
    // An open SSH connection to a lab host would keep the process alive after the command.
    await labCloseAll().catch(() => undefined);
  }
}
