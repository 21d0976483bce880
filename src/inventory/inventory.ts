/**
 * An inventory: a platform whose hosts are real Debian 12 servers, written by the operator as
 * YAML (docs/install.md). Parsing and validation only, pure: every problem is named with its path
 * before anything is recorded or touched, and the result is an ordinary `Topology` whose hosts
 * carry how Vard logs in to them (`HostSpec.ssh`).
 *
 * @example
 * ```yaml
 * network:
 *   publicVip: 203.0.113.10        # the floating address the sites' DNS points at
 *   publicPrefix: 24
 *   privatePrefix: 24
 *   vips: { db: 10.20.0.50 }       # each role that asks for one (the database's)
 * operator:
 *   sshFrom: [198.51.100.7/32]     # where Vard runs: the firewall keeps SSH open from here
 * ssh: { user: root, port: 22 }    # defaults for every host
 * hosts:
 *   - { name: lb1, roles: [lb], privateAddress: 10.20.0.11, publicAddress: 203.0.113.11 }
 *   - { name: web1, roles: [web], privateAddress: 10.20.0.21, ssh: { port: 2222 } }
 *   - { name: db1, roles: [db], privateAddress: 10.20.0.31, ssh: { proxy: [ssh, -W, '10.20.0.31:22', bastion] } }
 * ```
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { DEFAULT_SSH_PORT, shapeProblems, type HostSpec, type RoleCatalog, type Topology, type TopologyShape } from '../model/index.ts';
import { cidrProblem, ipv4ToNumber, networkOf, numberToIpv4, unicastProblem } from './address.ts';

/** The same host names as a lab topology's: they name lab namespaces, pools and Corosync nodes alike. */
const HOST_NAME = /^[a-z][a-z0-9]{0,9}$/;
/** A Debian login name (adduser's default NAME_REGEX, at most 32 characters). */
const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;
/** A DNS name for `ssh.address` when not an IPv4 address: dot-separated labels, 253 characters at most. */
const DNS_NAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$/;

/** Smallest and largest prefix lengths a platform segment may have: a /31 or /32 leaves no room for a VIP. */
export const PREFIX_MIN = 8;
export const PREFIX_MAX = 30;
export const MAX_HOSTS = 40;
export const MAX_SSH_SOURCES = 32;
export { DEFAULT_SSH_PORT };
export const DEFAULT_SSH_USER = 'root';

const port = z.number().int('must be a whole number').min(1, 'must be 1-65535').max(65535, 'must be 1-65535');
const prefix = z.number().int('must be a whole number').min(PREFIX_MIN, `must be ${PREFIX_MIN}-${PREFIX_MAX}`).max(PREFIX_MAX, `must be ${PREFIX_MIN}-${PREFIX_MAX}`);
const user = z.string().regex(USER_NAME, 'must be a login name: lowercase letters, digits, _ and -, at most 32, not starting with a digit or -');
const address = z.string().max(253, 'at most 253 characters');

const schema = z.strictObject({
  network: z.strictObject({
    publicVip: address,
    publicPrefix: prefix,
    privatePrefix: prefix,
    vips: z.record(z.string().max(40), address).optional(),
  }),
  operator: z.strictObject({
    sshFrom: z.array(z.string().max(64)).min(1, 'name at least one address Vard connects from, or the firewall locks it out').max(MAX_SSH_SOURCES, `at most ${MAX_SSH_SOURCES} sources`),
  }),
  ssh: z.strictObject({ port: port.optional(), user: user.optional() }).optional(),
  hosts: z
    .array(
      z.strictObject({
        name: z.string().regex(HOST_NAME, 'must be 1-10 lowercase letters or digits, starting with a letter'),
        roles: z.array(z.string().max(40)).min(1, 'a host needs at least one role'),
        privateAddress: address,
        publicAddress: address.optional(),
        ssh: z
          .strictObject({
            address: address.optional(),
            port: port.optional(),
            user: user.optional(),
            proxy: z.array(z.string().min(1, 'an empty word').max(1024, 'at most 1024 characters').refine((w) => !w.includes('\0'), 'a NUL byte')).min(1, 'name the command').max(32, 'at most 32 words').optional(),
          })
          .optional(),
      }),
    )
    .min(1, 'an inventory needs at least one host')
    .max(MAX_HOSTS, `at most ${MAX_HOSTS} hosts`),
});

type Raw = Record<string, unknown>;
const obj = (v: unknown): Raw => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Raw) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) && v >= PREFIX_MIN && v <= PREFIX_MAX ? v : undefined);

/**
 * What the schema cannot say: addresses (form, segment, uniqueness), roles against the registry
 * and each role's own rules, which hosts need a public address, which roles need a VIP. Reads the
 * raw document defensively, so it runs even where the schema failed and every problem is named at once.
 */
function crossProblems(data: unknown, catalog: RoleCatalog): Problem[] {
  const out: Problem[] = [];
  const root = obj(data);
  const network = obj(root['network']);
  const rawHosts = Array.isArray(root['hosts']) ? (root['hosts'] as unknown[]) : [];
  const hosts = rawHosts.map(obj);

  // Roles, names and each role's rules: the model's own check, with the entry's path.
  const shape: TopologyShape = {
    source: 'inventory',
    hosts: hosts.map((h, i) => ({
      // A missing name must not look like a duplicate of another missing one.
      name: str(h['name']) ?? `\u0000${i}`,
      roles: Array.isArray(h['roles']) ? (h['roles'] as unknown[]).filter((r): r is string => typeof r === 'string') : [],
    })),
  };
  if (rawHosts.length) out.push(...shapeProblems(shape, catalog).filter((p) => !/"\u0000/.test(p.message)));

  // Every address used once, unicast, and inside its segment.
  const seen = new Map<string, string>();
  const claim = (path: string, text: string | undefined, segment?: { base: number; prefix: number; what: string }): void => {
    if (text === undefined) return;
    const bad = unicastProblem(text);
    if (bad) {
      out.push({ path, message: bad });
      return;
    }
    const prev = seen.get(text);
    if (prev !== undefined) out.push({ path, message: `${text} is already used at ${prev}` });
    else seen.set(text, path);
    if (!segment) return;
    const n = ipv4ToNumber(text) as number;
    const net = networkOf(segment.base, segment.prefix);
    const broadcast = (net + 2 ** (32 - segment.prefix) - 1) >>> 0;
    if (networkOf(n, segment.prefix) !== net) out.push({ path, message: `${text} is outside the ${segment.what} ${numberToIpv4(net)}/${segment.prefix}` });
    else if (n === net || n === broadcast) out.push({ path, message: `${text} is the ${n === net ? 'network' : 'broadcast'} address of ${numberToIpv4(net)}/${segment.prefix}` });
  };
  const segmentFrom = (text: string | undefined, p: number | undefined, what: string): { base: number; prefix: number; what: string } | undefined => {
    const base = text === undefined || unicastProblem(text) ? undefined : ipv4ToNumber(text);
    return base === undefined || p === undefined ? undefined : { base, prefix: p, what };
  };

  const publicVip = str(network['publicVip']);
  const publicSeg = segmentFrom(publicVip, int(network['publicPrefix']), 'public segment (network.publicVip/network.publicPrefix)');
  claim('network.publicVip', publicVip, publicSeg);
  // The private segment is the first host's: every other private address and VIP must share it.
  const firstPrivate = hosts.map((h) => str(h['privateAddress'])).find((a) => a !== undefined && !unicastProblem(a));
  const privateSeg = segmentFrom(firstPrivate, int(network['privatePrefix']), 'private segment (the first host\'s privateAddress/network.privatePrefix)');

  const roleOf = new Map(catalog.map((r) => [r.id, r.topology]));
  hosts.forEach((h, i) => {
    claim(`hosts.${i}.privateAddress`, str(h['privateAddress']), privateSeg);
    const roles = shape.hosts[i]?.roles ?? [];
    const publicLeg = roles.some((r) => roleOf.get(r)?.publicLeg);
    const pub = str(h['publicAddress']);
    if (publicLeg && h['publicAddress'] === undefined) {
      out.push({ path: `hosts.${i}.publicAddress`, message: `a host with the role${roles.length > 1 ? 's' : ''} ${roles.join(', ')} sits on the public segment and needs a publicAddress` });
    }
    if (!publicLeg && pub !== undefined) out.push({ path: `hosts.${i}.publicAddress`, message: 'only hosts of a role on the public segment (the load balancers) have a publicAddress' });
    else claim(`hosts.${i}.publicAddress`, pub, publicSeg);
    const ssh = str(obj(h['ssh'])['address']);
    // Only digits and dots is an IPv4 address or a typo of one (10.20.0.311), never a DNS name to look up.
    const dotted = ssh !== undefined && /^[0-9.]+$/.test(ssh);
    if (ssh !== undefined && !dotted && !DNS_NAME.test(ssh)) {
      out.push({ path: `hosts.${i}.ssh.address`, message: `"${ssh}" is neither an IPv4 address nor a DNS name` });
    } else if (ssh !== undefined && dotted) {
      const bad = unicastProblem(ssh);
      if (bad) out.push({ path: `hosts.${i}.ssh.address`, message: bad });
    }
  });

  // A VIP for each role present that asks for one, and for no other.
  const vips = obj(network['vips']);
  const present = new Set(shape.hosts.flatMap((h) => h.roles));
  for (const r of catalog) {
    if (r.topology.vipOffset !== undefined && present.has(r.id) && vips[r.id] === undefined) {
      out.push({ path: `network.vips.${r.id}`, message: `the role "${r.id}" needs a private virtual address held by its active host` });
    }
  }
  for (const [role, v] of Object.entries(vips)) {
    if (roleOf.get(role)?.vipOffset === undefined) out.push({ path: `network.vips.${role}`, message: `no role "${role}" asks for a virtual address; roles that do: ${catalog.filter((r) => r.topology.vipOffset !== undefined).map((r) => r.id).join(', ') || 'none'}` });
    else if (!present.has(role)) out.push({ path: `network.vips.${role}`, message: `no host has the role "${role}"` });
    else claim(`network.vips.${role}`, str(v), privateSeg);
  }

  const sources = obj(root['operator'])['sshFrom'];
  if (Array.isArray(sources)) {
    sources.forEach((s, i) => {
      const bad = typeof s === 'string' ? cidrProblem(s) : undefined;
      if (bad) out.push({ path: `operator.sshFrom.${i}`, message: bad });
    });
  }
  return out;
}

function zodProblems(err: z.ZodError): Problem[] {
  return err.issues.flatMap((i) => {
    const path = i.path.map(String).join('.');
    // zod names the unknown keys in the message; put them in the path too, where the operator looks.
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => ({ path: path ? `${path}.${k}` : k, message: `unknown field "${k}"` }));
    return [{ path, message: i.message }];
  });
}

/** Every problem of an inventory document, each with its path; empty when it is valid. */
export function inventoryProblems(data: unknown, catalog: RoleCatalog): Problem[] {
  const r = schema.safeParse(data);
  const fromSchema = r.success ? [] : zodProblems(r.error);
  const reported = new Set(fromSchema.map((p) => p.path));
  // A field the schema already faulted is not faulted twice for the same reason.
  const cross = crossProblems(data, catalog).filter((p) => !reported.has(p.path));
  return [...fromSchema, ...cross].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/**
 * Parses and validates an inventory's text into the platform's topology. Nothing is touched here.
 *
 * @throws VARD_ERR_INVENTORY_INVALID naming every problem with its path (`details.problems`).
 */
export function parseInventory(text: string, source: string, catalog: RoleCatalog): Topology {
  let data: unknown;
  try {
    data = parseYaml(text, { uniqueKeys: true });
  } catch (e) {
    const problems = [{ path: '', message: `not valid YAML: ${(e as Error).message.split('\n')[0]}` }];
    throw vardError('VARD_ERR_INVENTORY_INVALID', [source, formatProblems(problems)], { details: { source, problems } });
  }
  const problems = inventoryProblems(data, catalog);
  if (problems.length) throw vardError('VARD_ERR_INVENTORY_INVALID', [source, formatProblems(problems)], { details: { source, problems } });
  const inv = schema.parse(data);
  const hosts: HostSpec[] = inv.hosts.map((h) => ({
    name: h.name,
    roles: [...h.roles],
    privateAddress: h.privateAddress,
    ...(h.publicAddress !== undefined ? { publicAddress: h.publicAddress } : {}),
    ssh: {
      address: h.ssh?.address ?? h.privateAddress,
      port: h.ssh?.port ?? inv.ssh?.port ?? DEFAULT_SSH_PORT,
      user: h.ssh?.user ?? inv.ssh?.user ?? DEFAULT_SSH_USER,
      ...(h.ssh?.proxy ? { proxy: [...h.ssh.proxy] } : {}),
    },
  }));
  return {
    source: `inventory:${source}`,
    hosts,
    publicVip: inv.network.publicVip,
    publicPrefix: inv.network.publicPrefix,
    privatePrefix: inv.network.privatePrefix,
    ...(inv.network.vips && Object.keys(inv.network.vips).length ? { vips: { ...inv.network.vips } } : {}),
    operator: { sshFrom: [...inv.operator.sshFrom] },
  };
}

/** Whether a stored topology came from an inventory (real servers) rather than a lab. */
export function isInventoryTopology(t: Topology): boolean {
  return t.hosts.length > 0 && t.hosts.every((h) => h.ssh !== undefined);
}
