/**
 * The lab module's public surface: build, inspect, break and tear down a lab of real hosts on this
 * machine (DESIGN.md §4, lab-field-notes §1 and §6).
 *
 * Decisions worth knowing before changing anything here:
 * - **Owner = a keeper process.** `labUp` owns the lab while it builds it (if it dies half-way, the
 *   lab is stale and reapable); once the lab is whole, ownership passes to a renamed
 *   `sleep infinity` (`vard-lab-keeper:vd<name>-`) in the switch namespace. It outlives the CLI,
 *   costs nothing, is verified like any lab process (namespace + cmdline), is caught by the
 *   namespace sweep even if lab.json is lost, and dies on reboot (start time changes), which is
 *   exactly when the lab is gone too.
 * - **Root cannot leak into the private half.** Root's default route would send packets for a
 *   private lab address out of the machine; an `unreachable <base>.128/25 proto 86` route makes them
 *   fail at once instead. Teardown removes it; it also marks the /24 as taken for allocation.
 * - **`ip netns identify` in-process.** The PID checks compare the nsfs inode of
 *   /proc/<pid>/ns/net with /run/netns/<ns>, which is what iproute2 does, without a spawn per PID.
 * - **Host mount namespaces drop their copies of /run/netns mounts** (hostinit), or they would keep
 *   other labs' namespaces, and their root uplinks, alive after those labs' teardown.
 * - **A fresh /run on every boot** gets the machine's top-level /run directories (haproxy, php,
 *   mysqld…) as tmpfiles would; a new host's /var/log gets the machine's log directory skeleton.
 */
export {
  labUp,
  labCloseAll,
  labOpen,
  labExists,
  labList,
  labDown,
  labResidue,
  labKill,
  labCut,
  labRevive,
  labStatus,
  labExec,
  labSwitchNs,
  reapStaleLabs,
  type HostState,
  type LabHandle,
  type LabStatus,
  type LabTransport,
} from './lab.ts';
export { LAB_TRANSPORTS } from './ssh.ts';
export { checkLabName, labPrefix, LAB_NAME_RE, subnetBase } from './names.ts';
