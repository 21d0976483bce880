import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import type { HostSpec, Role, RoleCatalog, Topology } from './types.ts';

/** What a topology file or preset says: host names and roles. Addresses come from the lab or the operator. */
export interface TopologyShape {
  readonly source: string;
  readonly hosts: readonly { readonly name: string; readonly roles: readonly Role[] }[];
}

const hostName = z
  .string()
  .regex(/^[a-z][a-z0-9]{0,9}$/, 'must be 1-10 lowercase letters or digits, starting with a letter');

const shapeSchema = z.strictObject({
  hosts: z
    .array(
      z.strictObject({
        name: hostName,
        roles: z.array(z.string().max(40)).min(1, 'a host needs at least one role'),
      }),
    )
    .min(1, 'a topology needs at least one host')
    .max(40, 'at most 40 hosts'),
});

function zodProblems(err: z.ZodError, prefix = ''): Problem[] {
  return err.issues.map((i) => ({ path: prefix + i.path.map(String).join('.'), message: i.message }));
}

/**
 * Whole-shape checks that a schema cannot express; every problem is reported, not just the first.
 * A role no module provides is named with the path of the entry; each role adds its own rules.
 */
export function shapeProblems(shape: TopologyShape, catalog: RoleCatalog): Problem[] {
  const out: Problem[] = [];
  const seen = new Map<string, number>();
  const known = catalog.filter((r) => !r.everyHost).map((r) => r.id);
  const everywhere = catalog.filter((r) => r.everyHost).map((r) => r.id);
  shape.hosts.forEach((h, i) => {
    const prev = seen.get(h.name);
    if (prev !== undefined) out.push({ path: `hosts.${i}.name`, message: `duplicate host name "${h.name}" (also hosts.${prev})` });
    seen.set(h.name, i);
    const dup = h.roles.find((r, j) => h.roles.indexOf(r) !== j);
    if (dup) out.push({ path: `hosts.${i}.roles`, message: `role "${dup}" listed twice` });
    h.roles.forEach((r, j) => {
      if (everywhere.includes(r)) out.push({ path: `hosts.${i}.roles.${j}`, message: `every host has the role "${r}" already; do not list it` });
      else if (!known.includes(r)) out.push({ path: `hosts.${i}.roles.${j}`, message: `no role module provides "${r}"; known roles: ${known.join(', ')}` });
    });
  });
  for (const r of catalog) out.push(...(r.topology.rules?.(shape) ?? []));
  return out;
}

/** Parses and validates a topology file's text. Throws VARD_ERR_TOPOLOGY_INVALID naming every problem. */
export function parseTopologyShape(text: string, source: string, catalog: RoleCatalog): TopologyShape {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems([{ path: '', message: `not valid YAML: ${(e as Error).message}` }])]);
  }
  const r = shapeSchema.safeParse(data);
  if (!r.success) {
    // Report the whole-shape problems too, as far as the raw data allows: every error at once.
    const raw = (data as { hosts?: unknown } | null)?.hosts;
    const lenient: TopologyShape = {
      source,
      hosts: Array.isArray(raw)
        ? raw.map((h: unknown) => {
            const o = (h ?? {}) as { name?: unknown; roles?: unknown };
            return { name: String(o.name ?? ''), roles: (Array.isArray(o.roles) ? o.roles : []).filter((x): x is Role => typeof x === 'string') };
          })
        : [],
    };
    const extra = Array.isArray(raw) ? shapeProblems(lenient, catalog).filter((p) => p.path !== 'hosts' && !r.error.issues.some((i) => i.path.map(String).join('.') === p.path)) : [];
    throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems([...zodProblems(r.error), ...extra])], { details: { source } });
  }
  const shape: TopologyShape = { source, hosts: r.data.hosts };
  const problems = shapeProblems(shape, catalog);
  if (problems.length) throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems(problems)], { details: { source } });
  return shape;
}

const PUBLIC_LB_BASE = 2;
const PUBLIC_VIP_OFFSET = 100;

/**
 * Gives every host of a shape its addresses inside one /24 (`base` is its first three octets,
 * e.g. `198.18.7`): a private address in the block of its first role, a public one when a role
 * puts it on the public segment, and each role's private VIP. Hosts keep their file order within
 * a block, so addresses are stable.
 */
export function addressTopology(shape: TopologyShape, base: string, catalog: RoleCatalog): Topology {
  const roleOf = new Map(catalog.map((r) => [r.id, r.topology]));
  const next = new Map(catalog.map((r) => [r.id, r.topology.privateBlock]));
  let nextPublic = PUBLIC_LB_BASE;
  const hosts: HostSpec[] = shape.hosts.map((h) => {
    const primary = h.roles[0] as Role;
    const priv = next.get(primary) ?? 0;
    next.set(primary, priv + 1);
    const spec: HostSpec = { name: h.name, roles: [...h.roles], privateAddress: `${base}.${priv}` };
    return h.roles.some((r) => roleOf.get(r)?.publicLeg) ? { ...spec, publicAddress: `${base}.${nextPublic++}` } : spec;
  });
  const vips: Record<string, string> = {};
  for (const r of catalog) {
    if (r.topology.vipOffset !== undefined && shape.hosts.some((h) => h.roles.includes(r.id))) vips[r.id] = `${base}.${r.topology.vipOffset}`;
  }
  return {
    source: shape.source,
    hosts,
    publicVip: `${base}.${PUBLIC_VIP_OFFSET}`,
    publicPrefix: 25,
    privatePrefix: 25,
    ...(Object.keys(vips).length ? { vips } : {}),
  };
}
