import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { vardError } from '../errors/index.ts';
import {
  labCut,
  labDown,
  labExec,
  labKill,
  labOpen,
  labRevive,
  labStatus,
  labUp,
  LAB_TRANSPORTS,
  type LabTransport,
  reapStaleLabs,
  checkLabName,
  type LabStatus,
} from '../lab/index.ts';
import { parseTopologyShape, type TopologyShape } from '../model/index.ts';
import { PRESETS, ROLE_CATALOG } from '../roles/registry.ts';
import { onHostRevived, onLabUp } from '../platform/hooks.ts';
import { defaultStatePath, emit, progress, type GlobalOptions, type Globals } from './context.ts';

/** A preset name, or a topology file parsed and validated as a whole. */
export function resolveShape(arg: string): TopologyShape {
  const preset = PRESETS[arg];
  if (preset) return preset;
  let text: string;
  try {
    text = readFileSync(arg, 'utf8');
  } catch (e) {
    throw vardError('VARD_ERR_TOPOLOGY_UNREADABLE', [arg, (e as Error).message], { cause: e });
  }
  return parseTopologyShape(text, arg, ROLE_CATALOG);
}

/**
 * Globals for the lab actually acted on: `--name` may differ from the global `--lab`, and the hooks
 * must then see that lab and, unless a state file was given explicitly, its default state file.
 */
function globalsFor(g: GlobalOptions, name: string): GlobalOptions {
  if (name === g.lab) return g;
  return { ...g, lab: name, state: g.state === defaultStatePath(g.lab) ? defaultStatePath(name) : g.state };
}

function labName(g: GlobalOptions, o: { name?: string }): string {
  const name = o.name ?? g.lab;
  checkLabName(name);
  return name;
}

function pad(rows: string[][]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd()).join('\n');
}

export function formatStatus(s: LabStatus): string {
  const holders = s.vipHolders.length ? s.vipHolders.join(', ') : 'nobody';
  const head = [
    `lab ${s.name}: subnet ${s.base}.0/24, uplink ("the Internet") ${s.uplink}${s.ownerAlive ? '' : '  [STALE: owner gone, run `vard lab reap`]'}`,
    `transport ${s.transport}${s.transport === 'ssh' ? ' (Vard reaches every host only over SSH, pinned host keys, through the lab bastion)' : ' (namespace entry)'}`,
    `public address ${s.publicVip}, held by ${holders}${s.vipHolders.length > 1 ? '  [more than one holder: split brain]' : ''}`,
    '',
  ];
  const rows = [['HOST', 'STATE', 'ADDRESSES', 'ROLES', 'VIP']];
  for (const h of s.hosts) {
    const addrs = [h.publicAddress ? `${h.publicAddress} (pub)` : '', `${h.privateAddress} (priv)`].filter(Boolean).join(', ');
    const state = (h.state === 'up' ? 'up' : h.state === 'cut' ? 'down (cut)' : 'down (killed)') + (h.sshd === false && h.state !== 'killed' ? ', sshd down' : '');
    const vip = s.vipHolders.includes(h.name) ? 'holds VIP' : h.carriesVip ? 'VIP on a downed link' : '';
    rows.push([h.name, state, addrs, h.roles.join(','), vip]);
  }
  return [...head, pad(rows)].join('\n');
}

/** `vard lab …`: build, inspect, break and tear down a lab. */
export function registerLabCommands(program: Command, globals: Globals): void {
  const lab = program.command('lab').description('the whole platform on this machine: hosts as namespaces on a private bridge');

  lab
    .command('up')
    .description('build a lab (tears down a stale one of the same name first), then bring the platform up on it')
    .option('--name <name>', 'lab name (default: the global --lab)')
    .option('--topology <preset|file>', `a preset (${Object.keys(PRESETS).join(', ')}) or a topology YAML file`, 'reference')
    .option('--transport <netns|ssh>', 'how Vard reaches the hosts: entering their namespaces, or only over SSH with pinned host keys through the lab bastion, as real servers', 'netns')
    .action(async (o: { name?: string; topology: string; transport: string }) => {
      const g0 = globals();
      const name = labName(g0, o);
      const g = globalsFor(g0, name);
      const shape = resolveShape(o.topology);
      if (!(LAB_TRANSPORTS as readonly string[]).includes(o.transport)) throw vardError('VARD_ERR_USAGE', [`--transport must be one of ${LAB_TRANSPORTS.join(', ')}; got ${JSON.stringify(o.transport)}`]);
      const transport = o.transport as LabTransport;
      // Teardown also runs on signals: an interrupted `up` must not leave a half-built lab.
      let stopping = false;
      const onSignal = (sig: NodeJS.Signals): void => {
        if (stopping) return;
        stopping = true;
        progress(`lab ${name}: ${sig} received, tearing down`);
        labDown(name, { progress })
          .catch((e: unknown) => progress(`lab ${name}: teardown failed: ${(e as Error).message}`))
          .finally(() => process.exit(130));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        // Stale labs (owner gone) hold subnets and names; their owners can no longer clean up.
        await reapStaleLabs({ progress });
        const handle = await labUp({ name, shape, transport, progress });
        await onLabUp(g, handle, progress);
        const s = await labStatus(handle);
        emit(g, s, () => formatStatus(s));
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });

  lab
    .command('down')
    .description('stop the platform and tear the lab down, leaving nothing behind (idempotent)')
    .option('--name <name>', 'lab name (default: the global --lab)')
    .action(async (o: { name?: string }) => {
      const g0 = globals();
      const name = labName(g0, o);
      const g = globalsFor(g0, name);
      // The desired state stays in the store; the next `lab up` applies it again.
      await labDown(name, { progress });
      emit(g, { name, down: true }, () => `lab ${name} is down`);
    });

  lab
    .command('status')
    .description('hosts, addresses, roles, up/down, and which load balancer holds the public address')
    .option('--name <name>', 'lab name (default: the global --lab)')
    .action(async (o: { name?: string }) => {
      const g = globals();
      const s = await labStatus(labOpen(labName(g, o)));
      emit(g, s, () => formatStatus(s));
    });

  lab
    .command('kill <host>')
    .description('power a host off: links down, then SIGKILL of its PID 1 (every daemon dies with it)')
    .option('--name <name>', 'lab name (default: the global --lab)')
    .action(async (host: string, o: { name?: string }) => {
      const g = globals();
      const l = labOpen(labName(g, o));
      await labKill(l, host, { progress });
      emit(g, { name: l.name, host, state: l.hostState(host) }, () => `${host}: killed`);
    });

  lab
    .command('cut <host>')
    .description("pull a host's cables: links down, processes keep running")
    .option('--name <name>', 'lab name (default: the global --lab)')
    .action(async (host: string, o: { name?: string }) => {
      const g = globals();
      const l = labOpen(labName(g, o));
      await labCut(l, host);
      emit(g, { name: l.name, host, state: l.hostState(host) }, () => `${host}: cut`);
    });

  lab
    .command('revive <host>')
    .description('reconnect a cut host, or reboot a killed one (fresh init and /run), then start its daemons')
    .option('--name <name>', 'lab name (default: the global --lab)')
    .action(async (host: string, o: { name?: string }) => {
      const g0 = globals();
      const name = labName(g0, o);
      const g = globalsFor(g0, name);
      const l = labOpen(name);
      await labRevive(l, host, { progress });
      await onHostRevived(g, l, host, progress);
      emit(g, { name, host, state: l.hostState(host) }, () => `${host}: up`);
    });

  lab
    .command('exec <host> <command...>')
    .description('run a command on a host (use -- before the command); exits with its exit code')
    .option('--name <name>', 'lab name (default: the global --lab)')
    .action(async (host: string, command: string[], o: { name?: string }) => {
      const g = globals();
      const code = await labExec(labOpen(labName(g, o)), host, command);
      // The command wrote straight to our stdio, so nothing is buffered: exit with its code
      // (main() would map every success of ours to 0).
      if (code !== 0) process.exit(code);
    });

  lab
    .command('reap')
    .description('tear down every lab whose owner process is gone')
    .action(async () => {
      const g = globals();
      const reaped = await reapStaleLabs({ progress });
      emit(g, { reaped }, () => (reaped.length ? `reaped: ${reaped.join(', ')}` : 'no stale labs'));
    });
}
