/**
 * `$LAB/lab.json`: what a lab is and which processes belong to it. Read synchronously on every use
 * (it is small) so that a handle opened by one process sees the kills and revivals of another.
 */
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Topology } from '../model/index.ts';
import { labDir, labsRoot, LAB_NAME_RE } from './names.ts';
import type { LabSshRecord, LabTransport } from './ssh.ts';

export type HostState = 'up' | 'killed' | 'cut';

export interface HostRecord {
  /** PID (in the root PID namespace) of the host's init, its PID 1. */
  initPid?: number;
  /** PID of the `unshare` process whose child the init is. */
  unsharePid?: number;
  /** SSH mode: PID (root namespace) of the host's sshd, a child of its init. */
  sshdPid?: number;
  state: HostState;
}

export interface Owner {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid it names one process for the machine's uptime. */
  startTime: string;
}

export interface LabRecord {
  name: string;
  prefix: string;
  subnetIndex: number;
  base: string;
  topology: Topology;
  owner: Owner;
  hosts: Record<string, HostRecord>;
  /** How Vard's command path reaches the hosts; absent in labs built before SSH mode: 'netns'. */
  transport?: LabTransport;
  /** SSH mode only: the bastion address and the pinned host keys. */
  ssh?: LabSshRecord;
  /** ISO time of `labUp`, for status and for judging half-built labs. */
  createdAt: string;
}

function labJsonPath(name: string): string {
  return join(labDir(name), 'lab.json');
}

export function readLab(name: string): LabRecord | undefined {
  let text: string;
  try {
    text = readFileSync(labJsonPath(name), 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as LabRecord;
  } catch {
    // A torn write cannot happen (we rename into place), so garbage means someone edited it: treat as absent.
    return undefined;
  }
}

/** Atomic replace: a reader never sees a half-written file. */
export function writeLab(rec: LabRecord): void {
  const path = labJsonPath(rec.name);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(rec, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, path);
}

/** Read-modify-write of one host's record. Returns the updated lab record. */
export function updateHost(name: string, host: string, patch: (h: HostRecord) => HostRecord): LabRecord {
  const rec = readLab(name);
  if (!rec) throw new Error(`lab ${name} has no lab.json`);
  const cur = rec.hosts[host] ?? { state: 'killed' };
  rec.hosts[host] = patch(cur);
  writeLab(rec);
  return rec;
}

/** Names of the lab directories under `labs/` (valid lab names only). */
export function listLabDirs(): string[] {
  try {
    return readdirSync(labsRoot()).filter((n) => LAB_NAME_RE.test(n)).sort();
  } catch {
    return [];
  }
}
