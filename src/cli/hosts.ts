import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { isVardError, vardError } from '../errors/index.ts';
import { probeHostKey } from '../host/index.ts';
import { isInventoryTopology, parseInventory } from '../inventory/index.ts';
import type { HostSpec, SshEndpoint, Topology } from '../model/index.ts';
import { formatBootstrap, type BootstrapReport } from '../platform/bootstrap.ts';
import { openPlatform, type PlatformContext } from '../platform/context.ts';
import { ROLE_CATALOG } from '../roles/registry.ts';
import { ensureSshIdentity, openDb, PlatformStore } from '../store/index.ts';
import { defaultStatePath, emit, progress, type GlobalOptions, type Globals } from './context.ts';

/** A platform name: it names the state file (`/var/lib/vard/state/<name>.db`) and appears in every rendered header. */
const PLATFORM_NAME = /^[a-z][a-z0-9-]{0,31}$/;
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}=?$/;

/**
 * The state file `platform init NAME` records into: the one given with `--state`/VARD_STATE, or
 * NAME's default (so `vard --lab NAME …` finds it afterwards).
 */
function stateFor(g: GlobalOptions, name: string): GlobalOptions {
  return g.state === defaultStatePath(g.lab) ? { ...g, lab: name, state: defaultStatePath(name) } : { ...g, lab: name };
}

async function withContext<T>(g: GlobalOptions, fn: (ctx: PlatformContext) => Promise<T>, withProgress = true): Promise<T> {
  const ctx = openPlatform(g, withProgress ? progress : undefined);
  try {
    return await fn(ctx);
  } finally {
    ctx.close();
  }
}

/** The stored platform's topology, which must be an inventory's. */
function inventoryOf(ctx: PlatformContext, g: GlobalOptions): Topology {
  const t = ctx.service.platform().topology;
  if (!isInventoryTopology(t)) throw vardError('VARD_ERR_PLATFORM_KIND', [g.lab, 'is a lab platform: its hosts are reached by the lab, and have no host keys to trust']);
  return t;
}

function specOf(t: Topology, name: string): HostSpec {
  const spec = t.hosts.find((h) => h.name === name);
  if (!spec) throw vardError('VARD_ERR_HOST_UNKNOWN', [name, t.hosts.map((h) => h.name).join(', ')]);
  return spec;
}

function endpoint(h: { readonly ssh?: SshEndpoint | undefined }): string {
  const s = h.ssh;
  return s ? `${s.user}@${s.address}:${s.port}${s.proxy ? ' (via proxy)' : ''}` : '(lab)';
}

/** `vard platform init`, `vard host list|trust|bootstrap`, `vard key show`. */
export function registerHostCommands(program: Command, globals: Globals): void {
  const platform = program.command('platform').description('define a platform of real servers from an inventory file (docs/install.md)');

  platform
    .command('init <name>')
    .description('record a platform whose hosts are real Debian 12 servers reached over SSH (validates the whole file first; records nothing if anything is wrong)')
    .requiredOption('--inventory <file>', 'the inventory YAML: hosts, addresses, roles, SSH (docs/install.md)')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  vard platform init prod --inventory hosts.yml     record platform "prod" (state /var/lib/vard/state/prod.db)',
        '  vard key show                                     the public key to put in root\'s authorized_keys on every host',
        '  vard --lab prod host trust lb1                    pin lb1\'s host key (compare it with the console first)',
        '  vard --lab prod apply                             bootstrap (packages) and converge every host',
        '',
        'Running init again with an edited file updates the hosts (add, replace, remove); pinned keys',
        'of hosts that stay are kept.',
      ].join('\n'),
    )
    .action(async (name: string, o: { inventory: string }) => {
      const g0 = globals();
      if (!PLATFORM_NAME.test(name)) throw vardError('VARD_ERR_USAGE', [`platform name "${name}" is invalid: 1-32 lowercase letters, digits or -, starting with a letter`]);
      const g = stateFor(g0, name);
      let text: string;
      try {
        text = readFileSync(o.inventory, 'utf8');
      } catch (e) {
        throw vardError('VARD_ERR_INVENTORY_UNREADABLE', [o.inventory, (e as Error).message], { cause: e });
      }
      // Everything is validated before the state file is even opened: a bad file records nothing.
      const topology = parseInventory(text, resolve(o.inventory), ROLE_CATALOG);
      if (existsSync(g.state)) {
        // Read-only look first: a lab's state, or another platform's, is never overwritten.
        const db = openDb(g.state);
        try {
          const cur = new PlatformStore(db).platform();
          if (cur && !isInventoryTopology(cur.topology)) throw vardError('VARD_ERR_PLATFORM_KIND', [cur.name, `in ${g.state} is a lab platform; give another name or --state`]);
          if (cur && cur.name !== name) throw vardError('VARD_ERR_PLATFORM_KIND', [cur.name, `is recorded in ${g.state}, not ${name}; give --state for a new one`]);
        } finally {
          db.close();
        }
      }
      const key = ensureSshIdentity();
      await withContext(g, async (ctx) => {
        let before: Topology | undefined;
        try {
          before = ctx.service.platform().topology;
        } catch (e) {
          if (!isVardError(e, 'VARD_ERR_PLATFORM_MISSING')) throw e;
        }
        ctx.service.setTopology(name, topology);
        // A host gone from the inventory takes its pin with it: a later host of that name is another machine.
        for (const k of ctx.hostKeys.all()) if (!topology.hosts.some((h) => h.name === k.host)) ctx.hostKeys.forget(k.host);
        const hosts = topology.hosts.map((h) => ({ name: h.name, roles: h.roles, privateAddress: h.privateAddress, ...(h.publicAddress ? { publicAddress: h.publicAddress } : {}), ssh: h.ssh, pinned: ctx.hostKeys.pinned(h.name)?.sha256 ?? null }));
        const untrusted = hosts.filter((h) => !h.pinned).map((h) => h.name);
        emit(g, { platform: name, state: g.state, updated: before !== undefined, publicVip: topology.publicVip, hosts, publicKey: key.publicKey, untrusted }, () =>
          [
            `${before ? 'updated' : 'recorded'} platform ${name} (${hosts.length} hosts) in ${g.state}`,
            ...hosts.map((h) => `  ${h.name.padEnd(10)} ${h.roles.join(',').padEnd(10)} ${h.privateAddress.padEnd(15)} ssh ${endpoint(h)}  ${h.pinned ? `pinned ${h.pinned}` : 'not trusted yet'}`),
            '',
            'next:',
            `  1. on every host, add Vard's public key to /root/.ssh/authorized_keys:`,
            `       ${key.publicKey}`,
            ...(untrusted.length ? [`  2. pin each host key: ${untrusted.map((n) => `vard --lab ${name} host trust ${n}`).join('; ')}`] : ['  2. every host key is pinned']),
            `  3. vard --lab ${name} apply`,
          ].join('\n'),
        );
      }, false);
    });

  const host = program.command('host').description("the real servers of an inventory platform: list them, trust their host keys, bootstrap them");

  host
    .command('list')
    .description('hosts, how Vard reaches them, and their pinned host keys')
    .action(async () => {
      const g = globals();
      await withContext(g, async (ctx) => {
        const t = inventoryOf(ctx, g);
        const rows = t.hosts.map((h) => {
          const pin = ctx.hostKeys.pinned(h.name);
          return { name: h.name, roles: h.roles, ssh: h.ssh, pinned: pin ? { sha256: pin.sha256, keyType: pin.keyType, at: pin.pinnedAt } : null };
        });
        emit(g, rows, () => rows.map((r) => `${r.name.padEnd(10)} ${r.roles.join(',').padEnd(10)} ${endpoint(r).padEnd(32)} ${r.pinned ? `${r.pinned.keyType} ${r.pinned.sha256}` : 'NOT TRUSTED'}`).join('\n'));
      }, false);
    });

  host
    .command('trust <name>')
    .description("connect to a host, show the host key it offers and pin it; nothing is authenticated or run")
    .option('--fingerprint <sha256>', 'the fingerprint you expect (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the console); a different key is refused')
    .option('--replace', 'replace a different pinned key (the machine was reinstalled or replaced); needs --fingerprint')
    .option('--dry-run', 'show the offered key and pin nothing')
    .addHelpText(
      'after',
      [
        '',
        'Examples:',
        '  vard --lab prod host trust web1 --dry-run                         show the key web1 offers',
        '  vard --lab prod host trust web1 --fingerprint SHA256:uO7Q…        pin it only if it is that key',
        '  vard --lab prod host trust web1 --fingerprint SHA256:… --replace  web1 was reinstalled: pin its new key',
      ].join('\n'),
    )
    .action(async (name: string, o: { fingerprint?: string; replace?: boolean; dryRun?: boolean }) => {
      const g = globals();
      if (o.fingerprint !== undefined && !FINGERPRINT.test(o.fingerprint)) {
        throw vardError('VARD_ERR_USAGE', [`--fingerprint must look like SHA256:<43 base64 characters>, as ssh-keygen -lf prints it; got ${JSON.stringify(o.fingerprint)}`]);
      }
      if (o.replace && !o.fingerprint) throw vardError('VARD_ERR_USAGE', ['--replace needs --fingerprint: a replaced key is pinned only when you name it']);
      const expected = o.fingerprint?.replace(/=+$/, '');
      await withContext(g, async (ctx) => {
        const spec = specOf(inventoryOf(ctx, g), name);
        const ssh = spec.ssh!;
        const offered = await probeHostKey({ name, host: ssh.address, port: ssh.port, ...(ssh.proxy ? { proxyArgv: ssh.proxy } : {}) });
        const current = ctx.hostKeys.pinned(name);
        const out = { host: name, target: endpoint(spec), offered: offered.sha256, keyType: offered.keyType, previouslyPinned: current?.sha256 ?? null };
        if (expected && offered.sha256 !== expected) throw vardError('VARD_ERR_SSH_TRUST_MISMATCH', [name, offered.sha256, expected], { details: out });
        if (current && current.sha256 !== offered.sha256 && !o.replace) throw vardError('VARD_ERR_SSH_TRUST_CHANGED', [name, current.sha256, offered.sha256, name], { details: out });
        if (o.dryRun) {
          emit(g, { ...out, pinned: false }, () => `${name} (${endpoint(spec)}) offers ${offered.keyType} ${offered.sha256}${current ? `; pinned: ${current.sha256}` : '; not pinned (dry run)'}`);
          return;
        }
        const same = current?.sha256 === offered.sha256;
        if (!same) ctx.hostKeys.pin(name, offered.sha256, offered.keyType, new Date());
        emit(g, { ...out, pinned: true, changed: !same }, () =>
          [
            `${name} (${endpoint(spec)}) offers ${offered.keyType} ${offered.sha256}`,
            same ? 'already pinned; nothing changed' : current ? `replaced the pinned ${current.sha256}` : 'pinned',
            ...(expected ? [] : ['compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the host\'s console; if it differs, something sits between you and the host']),
          ].join('\n'),
        );
      }, false);
    });

  host
    .command('bootstrap [names...]')
    .description('check hosts (reachable, Debian 12, root) and install the Debian packages their roles need; `vard apply` does this first anyway')
    .option('--check', 'report only: install nothing')
    .addHelpText('after', '\nExamples:\n  vard --lab prod host bootstrap --check     what every host lacks, changing nothing\n  vard --lab prod host bootstrap web3       ready a new web server before `vard apply`')
    .action(async (names: string[], o: { check?: boolean }) => {
      const g = globals();
      await withContext(g, async (ctx) => {
        inventoryOf(ctx, g);
        let r: BootstrapReport;
        try {
          r = await ctx.bootstrap(names, { checkOnly: Boolean(o.check) });
        } catch (e) {
          // A host that failed is part of the report, which is the answer: shown whole, exit non-zero.
          if (!isVardError(e, 'VARD_ERR_BOOTSTRAP_FAILED')) throw e;
          r = (e.details as { report: BootstrapReport }).report;
          process.exitCode = e.exitCode;
        }
        if (!r.ok && process.exitCode === undefined) process.exitCode = vardError('VARD_ERR_BOOTSTRAP_FAILED', [0, 0, '']).exitCode;
        emit(g, r, () => formatBootstrap(r));
      });
    });

  const key = program.command('key').description("Vard's own SSH key pair (generated once, private part 0600)");
  key
    .command('show')
    .description("print Vard's public key, the line to add to /root/.ssh/authorized_keys on every server")
    .addHelpText('after', "\nExamples:\n  vard key show\n  vard key show | ssh root@10.20.0.21 'cat >> /root/.ssh/authorized_keys'   (with your own access, once)")
    .action(() => {
      const g = globals();
      const k = ensureSshIdentity();
      emit(g, { publicKey: k.publicKey, path: k.publicPath, created: k.created }, () => k.publicKey);
      if (k.created && !g.json) progress(`generated a new key pair in ${k.privatePath} (0600)`);
    });
}
