/**
 * Names and paths of a lab. Every kernel object a lab creates carries the prefix `vd<name>-`, so
 * teardown and the reaper can act on a pattern anchored to Vard's own names and nothing else.
 */
import { join } from 'node:path';
import { vardHome } from '../store/home.ts';
import { vardError } from '../errors/index.ts';

/** A lab name: short enough that `vd<name>-inet` fits the kernel's 15-character interface names. */
export const LAB_NAME_RE = /^[a-z][a-z0-9]{0,7}$/;
/** Any Vard lab's prefix. The reaper never touches a name that does not match this. */
export const ANY_LAB_PREFIX_RE = /^vd([a-z][a-z0-9]{0,7})-/;
/** Host name of the switch namespace; no topology host may use it. */
export const SWITCH = 'sw';
/** Marker file the host init writes into its private /run once its mounts are in place. */
export const READY_MARKER = 'vard-init.ready';

export function checkLabName(name: string): void {
  if (!LAB_NAME_RE.test(name)) throw vardError('VARD_ERR_LAB_NAME_INVALID', [JSON.stringify(name)]);
}

export function labPrefix(name: string): string {
  return `vd${name}-`;
}

export function nsName(lab: string, host: string): string {
  return `${labPrefix(lab)}${host}`;
}

export function switchNs(lab: string): string {
  return nsName(lab, SWITCH);
}

/** Root-side end of the uplink veth: `vd<name>-inet`, at most 15 characters. */
export function uplinkName(lab: string): string {
  return `${labPrefix(lab)}inet`;
}

/** Directory holding every lab's state; read at call time so tests can point VARD_HOME elsewhere. */
export function labsRoot(): string {
  return join(vardHome(), 'labs');
}

export function labDir(lab: string): string {
  return join(labsRoot(), lab);
}

export function hostDir(lab: string, host: string): string {
  return join(labDir(lab), 'hosts', host);
}

export function hostinitPath(lab: string): string {
  return join(labDir(lab), 'bin', 'hostinit');
}

export function keeperPath(lab: string): string {
  return join(labDir(lab), 'bin', 'keeper');
}

/** argv[0] the keeper runs under, so its cmdline names the lab it keeps alive. */
export function keeperArgv0(lab: string): string {
  return `vard-lab-keeper:${labPrefix(lab)}`;
}

/** The /24 of subnet index i (0..511) inside 198.18.0.0/15, as its first three octets. */
export function subnetBase(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 511) throw vardError('VARD_ERR_INTERNAL', [`subnet index ${index} out of range`]);
  return `198.${18 + (index >> 8)}.${index & 255}`;
}
