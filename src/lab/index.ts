/**
 * The lab module's public surface: build, inspect, break and tear down a lab of real hosts on this
 * machine (DESIGN.md §4, lab-field-notes §1 and §6).
 */
export {
  labUp,
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
} from './lab.ts';
export { checkLabName, labPrefix, LAB_NAME_RE, subnetBase } from './names.ts';
