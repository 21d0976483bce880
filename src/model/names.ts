import { createHash } from 'node:crypto';

/** Lower-case, dot-separated DNS name: 2-127 labels of [a-z0-9-], no label starting or ending with '-'. */
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export function domainProblems(domain: string): string[] {
  const out: string[] = [];
  if (domain.length === 0) return ['the domain is empty'];
  if (domain.length > 253) out.push(`the domain is ${domain.length} characters long; at most 253 are allowed`);
  if (domain !== domain.toLowerCase()) out.push('the domain must be lower case');
  if (domain.endsWith('.')) out.push('the domain must not end with a dot');
  const labels = domain.toLowerCase().replace(/\.$/, '').split('.');
  if (labels.length < 2) out.push(`"${domain}" has no dot: a site needs a fully qualified domain such as example.com`);
  for (const l of labels) {
    if (!LABEL.test(l)) {
      out.push(`label "${l}" is not a valid DNS label (letters, digits and inner hyphens, 1-63 characters)`);
      break;
    }
  }
  const tld = labels[labels.length - 1] ?? '';
  if (labels.length >= 2 && !/^[a-z][a-z0-9-]*$/.test(tld)) out.push(`the top-level label "${tld}" must start with a letter`);
  return out;
}

export function shortHash(s: string, n = 8): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}

/**
 * A stable identifier for names with a length limit: keeps the text when it fits, otherwise
 * keeps the leading part and appends a hash of the whole so distinct inputs stay distinct.
 */
export function boundedName(text: string, max: number): string {
  if (text.length <= max) return text;
  const h = shortHash(text);
  return `${text.slice(0, max - h.length - 1).replace(/[-_]+$/, '')}-${h}`;
}

/** `www.example.com` → `www-example-com`; at most 40 characters. Safe in config identifiers and paths. */
export function slugForDomain(domain: string): string {
  return boundedName(domain.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, ''), 40);
}

/** Unix user name for a site's PHP-FPM pool: `s-<slug>`, at most 32 characters (useradd's limit). */
export function unixUserForSlug(slug: string): string {
  return boundedName(`s-${slug}`, 32);
}

/** HAProxy/Varnish identifiers allow [A-Za-z0-9_]; slugs carry hyphens. */
export function configId(slug: string): string {
  return slug.replace(/-/g, '_');
}

export function isSlugLike(s: string): boolean {
  return /^[a-z][a-z0-9-]{0,39}$/.test(s);
}
