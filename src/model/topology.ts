import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatProblems, vardError, type Problem } from '../errors/index.ts';
import { ROLES, type HostSpec, type Role, type Topology } from './types.ts';

/** What a topology file or preset says: host names and roles. Addresses come from the lab or the operator. */
export interface TopologyShape {
  readonly source: string;
  readonly hosts: readonly { readonly name: string; readonly roles: readonly Role[] }[];
}

export const PRESETS: Record<string, TopologyShape> = {
  reference: {
    source: 'preset:reference',
    hosts: [
      { name: 'lb1', roles: ['lb'] },
      { name: 'lb2', roles: ['lb'] },
      { name: 'web1', roles: ['web'] },
      { name: 'web2', roles: ['web'] },
      { name: 'web3', roles: ['web'] },
      { name: 'db1', roles: ['db'] },
      { name: 'db2', roles: ['db'] },
      // The cluster's third vote: without it a cut between db1 and db2 leaves two quorate halves.
      { name: 'dbq', roles: ['quorum'] },
    ],
  },
  single: { source: 'preset:single', hosts: [{ name: 'node1', roles: ['lb', 'web'] }] },
};

const hostName = z
  .string()
  .regex(/^[a-z][a-z0-9]{0,9}$/, 'must be 1-10 lowercase letters or digits, starting with a letter');

const shapeSchema = z.strictObject({
  hosts: z
    .array(
      z.strictObject({
        name: hostName,
        roles: z.array(z.enum(ROLES)).min(1, 'a host needs at least one role'),
      }),
    )
    .min(1, 'a topology needs at least one host')
    .max(40, 'at most 40 hosts'),
});

function zodProblems(err: z.ZodError, prefix = ''): Problem[] {
  return err.issues.map((i) => ({ path: prefix + i.path.map(String).join('.'), message: i.message }));
}

/** Whole-shape checks that a schema cannot express; every problem is reported, not just the first. */
export function shapeProblems(shape: TopologyShape): Problem[] {
  const out: Problem[] = [];
  const seen = new Map<string, number>();
  shape.hosts.forEach((h, i) => {
    const prev = seen.get(h.name);
    if (prev !== undefined) out.push({ path: `hosts.${i}.name`, message: `duplicate host name "${h.name}" (also hosts.${prev})` });
    seen.set(h.name, i);
    const dup = h.roles.find((r, j) => h.roles.indexOf(r) !== j);
    if (dup) out.push({ path: `hosts.${i}.roles`, message: `role "${dup}" listed twice` });
  });
  const lbs = shape.hosts.filter((h) => h.roles.includes('lb')).length;
  const webs = shape.hosts.filter((h) => h.roles.includes('web')).length;
  if (lbs === 0) out.push({ path: 'hosts', message: 'no host has the role "lb": the platform needs a load balancer' });
  if (lbs > 2) out.push({ path: 'hosts', message: `${lbs} hosts have the role "lb"; the active/passive pair takes one or two` });
  if (webs === 0) out.push({ path: 'hosts', message: 'no host has the role "web"' });
  if (webs > 9) out.push({ path: 'hosts', message: `${webs} web servers; at most 9 are supported` });
  const dbs = shape.hosts.filter((h) => h.roles.includes('db')).length;
  const quorum = shape.hosts.filter((h) => h.roles.includes('quorum')).length;
  // The promotion rules (one replica, semi-sync) and the quorum arithmetic are written for a pair.
  if (dbs !== 0 && dbs !== 2) out.push({ path: 'hosts', message: `${dbs} hosts have the role "db"; the database tier takes exactly two (primary and replica)` });
  if (dbs === 2 && quorum !== 1) out.push({ path: 'hosts', message: 'a database pair needs exactly one host with the role "quorum" (the third vote that prevents two primaries)' });
  if (dbs === 0 && quorum > 0) out.push({ path: 'hosts', message: 'the role "quorum" only makes sense beside two "db" hosts' });
  shape.hosts.forEach((h, i) => {
    if (h.roles.includes('quorum') && h.roles.includes('db')) out.push({ path: `hosts.${i}.roles`, message: 'a host cannot be both "db" and its own third vote "quorum"' });
  });
  return out;
}

/** Parses and validates a topology file's text. Throws VARD_ERR_TOPOLOGY_INVALID naming every problem. */
export function parseTopologyShape(text: string, source: string): TopologyShape {
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
            return { name: String(o.name ?? ''), roles: (Array.isArray(o.roles) ? o.roles : []).filter((x): x is Role => (ROLES as readonly unknown[]).includes(x)) };
          })
        : [],
    };
    const extra = Array.isArray(raw) ? shapeProblems(lenient).filter((p) => p.path !== 'hosts') : [];
    throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems([...zodProblems(r.error), ...extra])], { details: { source } });
  }
  const shape: TopologyShape = { source, hosts: r.data.hosts };
  const problems = shapeProblems(shape);
  if (problems.length) throw vardError('VARD_ERR_TOPOLOGY_INVALID', [formatProblems(problems)], { details: { source } });
  return shape;
}

/** Offsets of each role's block inside a /24: public half .0-.127, private half .128-.255. */
const PRIVATE_BLOCK: Record<Role, number> = { lb: 130, web: 141, db: 171, quorum: 173 };
/** The database VIP sits just below the db hosts' block (field notes §1.6). */
export const DB_VIP_OFFSET = 170;
const PUBLIC_LB_BASE = 2;
export const PUBLIC_VIP_OFFSET = 100;
export const UPLINK_OFFSET = 1;

/**
 * Gives every host of a shape its addresses inside one /24 (`base` is its first three octets,
 * e.g. `198.18.7`). Hosts keep their file order within a role's block, so addresses are stable.
 */
export function addressTopology(shape: TopologyShape, base: string): Topology {
  const next: Record<Role, number> = { ...PRIVATE_BLOCK };
  let nextPublic = PUBLIC_LB_BASE;
  const hosts: HostSpec[] = shape.hosts.map((h) => {
    const primary = h.roles[0] as Role;
    const priv = next[primary]++;
    const spec: HostSpec = { name: h.name, roles: [...h.roles], privateAddress: `${base}.${priv}` };
    return h.roles.includes('lb') ? { ...spec, publicAddress: `${base}.${nextPublic++}` } : spec;
  });
  const hasDb = shape.hosts.some((h) => h.roles.includes('db'));
  return {
    source: shape.source,
    hosts,
    publicVip: `${base}.${PUBLIC_VIP_OFFSET}`,
    publicPrefix: 25,
    privatePrefix: 25,
    ...(hasDb ? { dbVip: `${base}.${DB_VIP_OFFSET}` } : {}),
  };
}
