export { parseInventory, inventoryProblems, isInventoryTopology, DEFAULT_SSH_PORT, DEFAULT_SSH_USER, MAX_HOSTS, PREFIX_MIN, PREFIX_MAX } from './inventory.ts';
export { cidrProblem, ipv4ToNumber, unicastProblem } from './address.ts';
