import type { GlobalOptions } from '../cli/context.ts';
import type { LabHandle } from '../lab/index.ts';

/** Called by `vard lab up` once the hosts exist: record the topology, bring the daemons up, apply the sites. */
export async function onLabUp(_g: GlobalOptions, _lab: LabHandle, _progress: (m: string) => void): Promise<void> {}

/** Called after `vard lab revive HOST`: the machine booted again, so start its daemons (like an init system). */
export async function onHostRevived(_g: GlobalOptions, _lab: LabHandle, _host: string, _progress: (m: string) => void): Promise<void> {}

/** Called before `vard lab down`. */
export async function onLabDown(_g: GlobalOptions, _name: string, _progress: (m: string) => void): Promise<void> {}
