/**
 * The Pacemaker configuration as Vard owns it. The CIB's configuration section is shared by the
 * whole cluster and written to by others too: Pacemaker fills `<nodes>` and its own
 * `cib-bootstrap-options`, the mariadb agent keeps `mysql_replication` in `crm_config`, and
 * `crm_resource --ban/--move` (an operator, or `vard db rejoin`) adds `cli-*` constraints. A reload
 * must keep all of those and replace only what Vard renders. Pure.
 */

export interface XmlElement {
  readonly name: string;
  readonly attrs: readonly (readonly [string, string])[];
  readonly children: readonly XmlElement[];
}

const ENTITIES: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e: string) => {
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    if (e.startsWith('#')) return String.fromCodePoint(parseInt(e.slice(1), 10));
    const v = ENTITIES[e];
    if (v === undefined) throw new Error(`unknown XML entity ${m}`);
    return v;
  });
}

function encode(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const TOKEN = /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)|(<)/g;
const ATTR = /([A-Za-z_][\w.:-]*)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

/**
 * Parses the element-only XML the CIB is made of (no text content, no CDATA): what `cibadmin
 * --query` prints and what Vard renders. Throws on anything else, so a surprise is never merged.
 */
export function parseXml(text: string): XmlElement {
  interface Open { name: string; attrs: [string, string][]; children: XmlElement[] }
  const stack: Open[] = [];
  let root: XmlElement | undefined;
  for (const m of text.matchAll(TOKEN)) {
    const [, close, name, rawAttrs, selfClose, chars, stray] = m;
    if (stray !== undefined) throw new Error(`malformed XML near ${JSON.stringify(text.slice(m.index ?? 0, (m.index ?? 0) + 40))}`);
    if (chars !== undefined) {
      if (chars.trim()) throw new Error(`unexpected text in XML: ${JSON.stringify(chars.trim().slice(0, 40))}`);
      continue;
    }
    if (name === undefined) continue; // a comment or a declaration
    if (close) {
      const top = stack.pop();
      if (!top || top.name !== name) throw new Error(`mismatched </${name}> in XML`);
      const el: XmlElement = { name: top.name, attrs: top.attrs, children: top.children };
      if (stack.length) stack[stack.length - 1]!.children.push(el);
      else if (root) throw new Error('more than one root element in XML');
      else root = el;
      continue;
    }
    const attrs: [string, string][] = [...(rawAttrs ?? '').matchAll(ATTR)].map((a) => [a[1] as string, decode(a[2] ?? a[3] ?? '')]);
    if (selfClose) {
      const el: XmlElement = { name, attrs, children: [] };
      if (stack.length) stack[stack.length - 1]!.children.push(el);
      else if (root) throw new Error('more than one root element in XML');
      else root = el;
    } else {
      stack.push({ name, attrs, children: [] });
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]!.name}> in XML`);
  if (!root) throw new Error('no XML element');
  return root;
}

/** Compact XML; with `sorted`, attributes in name order (for comparing, not for writing). */
export function serializeXml(el: XmlElement, sorted = false): string {
  const attrs = sorted ? [...el.attrs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)) : el.attrs;
  const head = `<${el.name}${attrs.map(([k, v]) => ` ${k}="${encode(v)}"`).join('')}`;
  return el.children.length ? `${head}>${el.children.map((c) => serializeXml(c, sorted)).join('')}</${el.name}>` : `${head}/>`;
}

function idOf(el: XmlElement): string {
  return el.attrs.find(([k]) => k === 'id')?.[1] ?? '';
}

/** Property sets Vard renders are named `vard-*`; the others belong to Pacemaker and the agent. */
export function vardOwnsPropertySet(id: string): boolean {
  return id.startsWith('vard-');
}

/** Constraints `crm_resource --ban/--move` created; they outlive a reload until `--clear`. */
export function isCliConstraint(id: string): boolean {
  return id.startsWith('cli-');
}

/**
 * The configuration to write: the rendered one, with the live `<nodes>`, the live property sets
 * Vard does not own (after Vard's own) and the live `cli-*` constraints (after Vard's). Anything
 * else in the live configuration is Vard's to replace.
 */
export function mergeCibConfiguration(desired: string, live: string): XmlElement {
  const d = parseXml(desired);
  const l = parseXml(live);
  if (d.name !== 'configuration' || l.name !== 'configuration') throw new Error('not a CIB configuration section');
  const liveSection = (name: string) => l.children.find((c) => c.name === name);
  const children = d.children.map((c): XmlElement => {
    if (c.name === 'nodes') return liveSection('nodes') ?? c;
    if (c.name === 'crm_config') {
      const theirs = (liveSection('crm_config')?.children ?? []).filter((s) => !vardOwnsPropertySet(idOf(s)));
      return { ...c, children: [...c.children, ...theirs] };
    }
    if (c.name === 'constraints') {
      const bans = (liveSection('constraints')?.children ?? []).filter((s) => isCliConstraint(idOf(s)));
      return { ...c, children: [...c.children, ...bans] };
    }
    return c;
  });
  return { ...d, children };
}

/** Whether the live configuration differs from what a reload would write. */
export function cibConfigurationDiffers(desired: string, live: string): boolean {
  return serializeXml(mergeCibConfiguration(desired, live), true) !== serializeXml(parseXml(live), true);
}

/**
 * Pacemaker's tools echo the configuration they reject (`cibadmin` prints it with line numbers),
 * and it carries the replication password: its value is blanked before the text reaches an error.
 */
export function scrubCib(text: string): string {
  return text.replace(/(name="replication_passwd"\s+value=")[^"]*"/g, '$1***"').replace(/(replication_passwd[=:]\s*)\S+/g, '$1***');
}
