export type { Host, RunOptions, RunResult, WriteOptions } from './types.ts';
export { localHost } from './local.ts';
export { netnsHost } from './netns.ts';
export { redact } from './exec.ts';
export { sshHost, quoteArgv, type SshTarget } from './ssh.ts';
export { addressHolders, digestOf, fileDigests, interfaceState, treeEntries, writeIfChanged, type TreeEntry } from './files.ts';
export { hostIsUp } from './up.ts';
export { probeHostKey, type OfferedKey, type ProbeTarget } from './ssh-probe.ts';
