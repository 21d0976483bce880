/**
 * The database cluster's third vote: Corosync and Pacemaker, never MariaDB, so a partitioned
 * primary loses quorum and stops (docs/designs/0001-database-tier.md). Its config sets and drivers
 * are the database tier's cluster ones.
 */
import type { RoleModule } from '../contract.ts';
import { prepareClusterHost } from '../db/cluster.ts';
import { QUORUM_DAEMONS } from '../db/drivers.ts';
import { dbRole } from '../db/index.ts';
import { CLUSTER_ACCEPTS, DB_ROLE, dbVip, QUORUM_ROLE, quorumConfigSets } from '../db/render.ts';
import packages from './packages.json' with { type: 'json' };

export const quorumRole: RoleModule = {
  id: QUORUM_ROLE,
  summary: "the database cluster's third vote: Corosync + Pacemaker only",
  packages,
  topology: {
    privateBlock: 173,
    rules(shape) {
      const dbs = shape.hosts.some((h) => h.roles.includes(DB_ROLE));
      const quorum = shape.hosts.some((h) => h.roles.includes(QUORUM_ROLE));
      return !dbs && quorum ? [{ path: 'hosts', message: `the role "${QUORUM_ROLE}" only makes sense beside two "${DB_ROLE}" hosts` }] : [];
    },
  },
  reference: [],
  testTopology: dbRole.testTopology,
  daemons: QUORUM_DAEMONS,
  render: (p) => quorumConfigSets(p),
  accepts: (p) => (dbVip(p.topology) ? [CLUSTER_ACCEPTS] : []),
  rollout: { kind: 'all-at-once' },
  async prepareHost(ctx, host) {
    await prepareClusterHost(host, ctx.hostOf(host.name));
  },
};
