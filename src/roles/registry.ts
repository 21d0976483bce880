/**
 * The role registry: every role Vard knows, one line each, in bring-up order (a database exists
 * before a site's settings point at it; the balancers route only to what is served). The core
 * iterates this list and never names a role. Adding a role: one folder under src/roles and one
 * line here (docs/ARCHITECTURE.md, "Adding a role").
 */
import type { TopologyShape, RoleCatalog } from '../model/index.ts';
import type { RoleModule } from './contract.ts';
import { dbRole } from './db/index.ts';
import { filesRole } from './files/index.ts';
import { firewallRole } from './firewall/index.ts';
import { lbRole } from './lb/index.ts';
import { quorumRole } from './quorum/index.ts';
import { webRole } from './web/index.ts';

export const ROLES: readonly RoleModule[] = [
  firewallRole,
  dbRole,
  quorumRole,
  filesRole,
  webRole,
  lbRole,
];

export const ROLE_CATALOG: RoleCatalog = ROLES;

/**
 * Ready-made topologies: `reference` is the platform of the source document (every role's
 * reference hosts, front to back); `single` is everything a site needs on one host; `test-<role>`
 * is the smallest topology that tests a role.
 */
export const PRESETS: Readonly<Record<string, TopologyShape>> = {
  reference: { source: 'preset:reference', hosts: [...ROLES].reverse().flatMap((r) => r.reference) },
  single: { source: 'preset:single', hosts: [{ name: 'node1', roles: ROLES.filter((r) => r.topology.rules?.({ hosts: [] }).length).map((r) => r.id).reverse() }] },
  ...Object.fromEntries(ROLES.map((r) => [`test-${r.id}`, r.testTopology])),
};
