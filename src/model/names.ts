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

/**
 * The `attempt`-th name for `text` within `max` characters. Attempt 0 is `boundedName`'s, the name
 * every site had before names were recorded. Neither that nor the hash is secret or injective (a
 * short text can spell out a long one's truncated name, dots and hyphens both become '-'), so
 * a caller that finds a name taken asks for the next attempt: those carry the counter in a
 * suffix of their own (`-<n>-<hash>`), so attempts 1, 2, … for one text are all different names
 * and looking for the first untaken one always ends.
 */
export function nameAttempt(text: string, max: number, attempt: number): string {
  if (attempt === 0) return boundedName(text, max);
  const suffix = `-${attempt}-${shortHash(`${text}#${attempt}`)}`;
  return `${text.slice(0, max - suffix.length).replace(/[-_]+$/, '')}${suffix}`;
}

/** The first attempt of `derive` whose name is not in `taken`. */
export function firstFreeName(derive: (attempt: number) => string, taken: ReadonlySet<string>): string {
  for (let attempt = 0; ; attempt++) {
    const name = derive(attempt);
    if (!taken.has(name)) return name;
  }
}

export const SLUG_MAX = 40;
/** useradd's limit. */
export const UNIX_USER_MAX = 32;

function dashed(domain: string): string {
  return domain.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}

/** `www.example.com` → `www-example-com`; at most 40 characters. Safe in config identifiers and paths. */
export function slugForDomain(domain: string, attempt = 0): string {
  return nameAttempt(dashed(domain), SLUG_MAX, attempt);
}

/** Unix user name for a site's PHP-FPM pool: `s-<slug>`, at most 32 characters. */
export function unixUserForSlug(slug: string, attempt = 0): string {
  return nameAttempt(`s-${slug}`, UNIX_USER_MAX, attempt);
}

/** HAProxy/Varnish identifiers allow [A-Za-z0-9_]; slugs carry hyphens. */
export function configId(slug: string): string {
  return slug.replace(/-/g, '_');
}

export function isSlugLike(s: string): boolean {
  return /^[a-z][a-z0-9-]{0,39}$/.test(s);
}

/** What MariaDB accepts unquoted and every tool handles without surprises: lower-case letters, digits, '_'. */
const DB_IDENT = /^[a-z][a-z0-9_]*$/;
/** MariaDB's limits: 64 characters for a database name; user names are kept to 32 for older clients and tools. */
export const DB_NAME_MAX = 64;
export const DB_USER_MAX = 32;

/**
 * Why a string cannot be a database or user name, or [] when it can. Names that reach SQL are
 * checked here once more even though they are always derived from a slug, so a corrupted state
 * row can never smuggle text into a statement.
 */
export function dbIdentifierProblems(name: string, max: number = DB_NAME_MAX): string[] {
  const out: string[] = [];
  if (!DB_IDENT.test(name)) out.push(`"${name}" must start with a lower-case letter and contain only a-z, 0-9 and "_"`);
  if (name.length > max) out.push(`"${name}" is ${name.length} characters long; at most ${max} are allowed`);
  return out;
}

/**
 * The site's database: `site_<slug>` with hyphens as underscores (`www-example-com` →
 * `site_www_example_com`); the prefix keeps every site clear of MariaDB's own schemas (`mysql`,
 * `sys`…) and makes names starting with a digit valid. Long slugs keep a hash suffix (boundedName).
 */
export function dbNameForSlug(slug: string, attempt = 0): string {
  return nameAttempt(`site_${slug.replace(/-/g, '_')}`, DB_NAME_MAX, attempt).replace(/-/g, '_');
}

/** The site's database user: `s_<slug>`, at most 32 characters. */
export function dbUserForSlug(slug: string, attempt = 0): string {
  return nameAttempt(`s_${slug.replace(/-/g, '_')}`, DB_USER_MAX, attempt).replace(/-/g, '_');
}
