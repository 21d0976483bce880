/**
 * Parsers of the gluster CLI's answers (GlusterFS 10.3, `--xml` where it has one). Pure; each one
 * quotes the output it reads. Gluster's XML is flat and regular, so a few element lookups do; an
 * element missing reads as absent, never as a guess.
 */

/** The inner text of each `<tag …>…</tag>` in `xml` (not nested in itself), in document order. */
export function xmlBlocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g');
  for (const m of xml.matchAll(re)) out.push(m[1] ?? '');
  return out;
}

/** The text of the first `<tag>…</tag>` in `xml`, entities decoded; undefined when absent. */
export function xmlField(xml: string, tag: string): string | undefined {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml);
  if (!m) return undefined;
  return (m[1] ?? '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&').trim();
}

export interface PoolMember {
  readonly uuid: string;
  /** The address it was probed by, or `localhost` for the host asked. */
  readonly hostname: string;
  readonly connected: boolean;
}

/**
 * `gluster pool list`:
 * ```
 * UUID					Hostname    	State
 * 5d4b7c9e-…	198.18.0.182	Connected
 * 0f3a1e2d-…	localhost   	Connected
 * ```
 */
export function parsePoolList(text: string): PoolMember[] {
  const out: PoolMember[] = [];
  for (const line of text.split('\n')) {
    const [uuid, hostname, state] = line.trim().split(/\s+/);
    if (!uuid || !hostname || !state || uuid === 'UUID') continue;
    out.push({ uuid, hostname, connected: state === 'Connected' });
  }
  return out;
}

/**
 * The member that is this host: a peer is listed by the address it was probed by, or by its name
 * when it probed the asking host first and the name resolved (the lab's /etc/hosts does).
 */
export function poolMember(pool: readonly PoolMember[], host: { readonly name: string; readonly privateAddress: string }): PoolMember | undefined {
  return pool.find((m) => m.hostname === host.privateAddress || m.hostname === host.name);
}

export interface VolumeInfo {
  readonly name: string;
  readonly started: boolean;
  /** `host:path` of each brick, in replica order, and which one is the arbiter. */
  readonly bricks: readonly { readonly name: string; readonly arbiter: boolean }[];
  readonly options: ReadonlyMap<string, string>;
}

/**
 * `gluster volume info VOL --xml`: `<volume><name>vard-files</name>…<status>1</status>
 * <statusStr>Started</statusStr>…<bricks><brick uuid="…">h:/p<name>h:/p</name><hostUuid>…</hostUuid>
 * <isArbiter>0</isArbiter></brick>…</bricks>…<options><option><name>network.ping-timeout</name>
 * <value>5</value></option>…</options></volume>`. Undefined when no volume is in the answer.
 */
export function parseVolumeInfo(xml: string): VolumeInfo | undefined {
  const vol = xmlBlocks(xml, 'volume')[0];
  if (vol === undefined) return undefined;
  const name = xmlField(vol, 'name');
  if (!name) return undefined;
  const bricks = xmlBlocks(vol, 'brick').map((b) => ({ name: xmlField(b, 'name') ?? '', arbiter: xmlField(b, 'isArbiter') === '1' }));
  const options = new Map<string, string>();
  for (const o of xmlBlocks(xmlBlocks(vol, 'options')[0] ?? '', 'option')) {
    const k = xmlField(o, 'name');
    if (k) options.set(k, xmlField(o, 'value') ?? '');
  }
  return { name, started: xmlField(vol, 'statusStr') === 'Started' || xmlField(vol, 'status') === '1', bricks, options };
}

export interface BrickState {
  readonly hostname: string;
  readonly path: string;
  readonly online: boolean;
  readonly port?: number;
  readonly pid?: number;
}

export interface VolumeStatus {
  readonly bricks: readonly BrickState[];
  /** Self-heal daemons by the host they run on (`Self-heal Daemon` nodes, path = their host). */
  readonly healDaemons: readonly { readonly host: string; readonly online: boolean }[];
}

/**
 * `gluster volume status VOL --xml`: one `<node>` per brick and per daemon:
 * `<node><hostname>198.18.0.181</hostname><path>/srv/vard/bricks/vard-files</path><peerid>…</peerid>
 * <status>1</status><port>49152</port>…<pid>412</pid></node>` and
 * `<node><hostname>Self-heal Daemon</hostname><path>198.18.0.182</path>…<status>1</status>…</node>`.
 */
export function parseVolumeStatus(xml: string): VolumeStatus {
  const bricks: BrickState[] = [];
  const healDaemons: { host: string; online: boolean }[] = [];
  for (const n of xmlBlocks(xml, 'node')) {
    const hostname = xmlField(n, 'hostname') ?? '';
    const path = xmlField(n, 'path') ?? '';
    const online = xmlField(n, 'status') === '1';
    if (hostname === 'Self-heal Daemon') {
      healDaemons.push({ host: path, online });
      continue;
    }
    if (!path.startsWith('/')) continue;
    const port = Number(xmlField(n, 'port'));
    const pid = Number(xmlField(n, 'pid'));
    bricks.push({ hostname, path, online, ...(Number.isInteger(port) && port > 0 ? { port } : {}), ...(Number.isInteger(pid) && pid > 0 ? { pid } : {}) });
  }
  return { bricks, healDaemons };
}

export interface BrickHeal {
  /** `host:path`. */
  readonly brick: string;
  /** `Connected`, or why the brick could not be asked (`Transport endpoint is not connected`). */
  readonly status: string;
  /** Entries waiting to be healed from or to this brick; undefined when the brick could not tell. */
  readonly pending: number | undefined;
  readonly splitBrain: number | undefined;
}

/**
 * `gluster volume heal VOL info summary --xml`: per brick
 * `<brick hostUuid="…"><name>198.18.0.181:/srv/vard/bricks/vard-files</name><status>Connected</status>
 * <totalNumberOfEntries>3</totalNumberOfEntries><numberOfEntriesInHealPending>3</numberOfEntriesInHealPending>
 * <numberOfEntriesInSplitBrain>0</numberOfEntriesInSplitBrain><numberOfEntriesPossiblyHealing>0</numberOfEntriesPossiblyHealing></brick>`;
 * a brick that is down has `<status>Transport endpoint is not connected</status>` and `-` counts.
 */
export function parseHealSummary(xml: string): BrickHeal[] {
  const count = (b: string, tag: string) => {
    const v = xmlField(b, tag);
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
  };
  return xmlBlocks(xml, 'brick').map((b) => ({
    brick: xmlField(b, 'name') ?? '',
    status: xmlField(b, 'status') ?? '',
    pending: count(b, 'totalNumberOfEntries') ?? count(b, 'numberOfEntries'),
    splitBrain: count(b, 'numberOfEntriesInSplitBrain'),
  }));
}
