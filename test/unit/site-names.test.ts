/**
 * Issue 9, finding 1: two sites never share a database, a database account, a Unix user, a
 * PHP-FPM pool (named by the slug, like the vhost and the balancers' ids) or a port, however their
 * domains are chosen — including short domains crafted to reproduce a long domain's truncated,
 * hashed names (the hash is public).
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { isVardError } from '../../src/errors/index.ts';
import {
  addressTopology,
  configId,
  dbIdentifierProblems,
  dbNameForSlug,
  dbUserForSlug,
  domainProblems,
  newSite,
  slugForDomain,
  unixUserForSlug,
  type Site,
} from '../../src/model/index.ts';
import { PlatformService } from '../../src/platform/service.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';
import { openDb, PlatformStore } from '../../src/store/index.ts';
import { FIXED_NOW } from '../helpers/model.ts';

const seed = process.env.VARD_FC_SEED ? Number(process.env.VARD_FC_SEED) : 9_001;

/** A platform with a database tier and the given sites, created one after the other as `vard site create` does. */
function platformWith(domains: readonly string[]): { svc: PlatformService; store: PlatformStore; sites: Site[] } {
  const store = new PlatformStore(openDb(':memory:'));
  const svc = new PlatformService({ store, hostOf: () => assert.fail('no host is needed'), now: () => FIXED_NOW });
  const topology = addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG);
  svc.setTopology('t', topology);
  const sites = domains.map((domain) => store.addNewSite((current) => newSite({ domain }, current, FIXED_NOW)));
  // Gives every site its database secret, so that the db role lists its credentials.
  svc.setTopology('t', topology);
  return { svc, store, sites };
}

/** Every name a site owns on the hosts, by kind, as the roles read them. */
function ownedNames(svc: PlatformService): Map<string, string[]> {
  const p = svc.platform();
  const out = new Map<string, string[]>();
  const add = (kind: string, name: string | number | undefined) => out.set(kind, [...(out.get(kind) ?? []), String(name)]);
  for (const s of p.sites) {
    add('slug (pool, vhost, tree)', s.slug);
    add('balancer id', configId(s.slug));
    add('unix user', s.unixUser);
    add('port', s.port);
    add('database', p.databases?.[s.slug]?.name);
    add('database user', p.databases?.[s.slug]?.user);
  }
  return out;
}

function assertAllDistinct(svc: PlatformService, count: number): void {
  for (const [kind, names] of ownedNames(svc)) {
    assert.equal(names.length, count, `${kind}: one per site`);
    assert.equal(new Set(names).size, names.length, `${kind} shared between sites: ${names.join(', ')}`);
  }
}

// The concrete collisions found in the review of the current derivation.
const SWAPPED = ['www.a-b.com', 'www-a.b.com'];
const LONG = 'aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.example.com';
/** `LONG`'s slug is its first 31 characters and a hash: this short domain has exactly that slug. */
const LONG_SLUG_TWIN = 'aaaaaaaaaaaaaaaaaaaa.bbbbbbbbbb-beb2efe5';
const PORTAL = 'shop.customer-portal.example.com';
/** Another slug, but the 32-character database user `s_shop_customer_portal_399eac19` of `PORTAL`. */
const PORTAL_DB_USER_TWIN = 'shop.customer-portal-399eac19';
/** Another slug, but the 32-character Unix user `s-shop-customer-portal-9d14bd31` of `PORTAL`. */
const PORTAL_UNIX_USER_TWIN = 'shop.customer-portal-9d14bd31';

test('the collisions of the review are real under the first derivation', () => {
  assert.equal(slugForDomain(SWAPPED[0]!), slugForDomain(SWAPPED[1]!));
  assert.equal(slugForDomain(LONG), slugForDomain(LONG_SLUG_TWIN));
  assert.notEqual(slugForDomain(PORTAL), slugForDomain(PORTAL_DB_USER_TWIN));
  assert.equal(dbUserForSlug(slugForDomain(PORTAL)), dbUserForSlug(slugForDomain(PORTAL_DB_USER_TWIN)));
  assert.equal(unixUserForSlug(slugForDomain(PORTAL)), unixUserForSlug(slugForDomain(PORTAL_UNIX_USER_TWIN)));
  for (const d of [...SWAPPED, LONG, LONG_SLUG_TWIN, PORTAL, PORTAL_DB_USER_TWIN, PORTAL_UNIX_USER_TWIN]) assert.deepEqual(domainProblems(d), [], d);
});

test('domains that differ only in where the dots and hyphens are both get a site, with names of their own', () => {
  const { svc, sites } = platformWith(SWAPPED);
  assert.equal(sites.length, 2);
  // The first keeps the name it always had.
  assert.equal(sites[0]!.slug, 'www-a-b-com');
  assertAllDistinct(svc, 2);
});

test('a short domain crafted to have a long domain’s truncated slug gets names of its own, in either order', () => {
  for (const order of [[LONG, LONG_SLUG_TWIN], [LONG_SLUG_TWIN, LONG]]) {
    const { svc, sites } = platformWith(order);
    assert.equal(sites[0]!.slug, slugForDomain(order[0]!), 'the first comer keeps the usual name');
    assertAllDistinct(svc, 2);
  }
});

test('a domain crafted to have another site’s truncated database user or Unix user gets its own', () => {
  for (const order of [
    [PORTAL, PORTAL_DB_USER_TWIN, PORTAL_UNIX_USER_TWIN],
    [PORTAL_UNIX_USER_TWIN, PORTAL_DB_USER_TWIN, PORTAL],
  ]) {
    const { svc } = platformWith(order);
    assertAllDistinct(svc, 3);
  }
  const { svc } = platformWith([PORTAL, PORTAL_DB_USER_TWIN]);
  const dbs = svc.platform().databases!;
  assert.equal(dbs[slugForDomain(PORTAL)]?.user, 's_shop_customer_portal_399eac19', 'the first comer keeps the usual name');
  assert.notEqual(dbs[slugForDomain(PORTAL_DB_USER_TWIN)]?.user, 's_shop_customer_portal_399eac19');
});

test('the same domain twice is still refused as an existing site', () => {
  const a = newSite({ domain: 'www.a-b.com' }, [], FIXED_NOW);
  const b = newSite({ domain: 'www-a.b.com' }, [a], FIXED_NOW);
  assert.throws(() => newSite({ domain: 'www-a.b.com' }, [a, b], FIXED_NOW), (e) => isVardError(e, 'VARD_ERR_SITE_EXISTS'));
});

test('names taken outside the sites passed in (the store’s record) are avoided too', () => {
  const first = newSite({ domain: 'www.a-b.com' }, [], FIXED_NOW);
  const taken = { slugs: [first.slug], unixUsers: [first.unixUser], dbNames: [first.dbName], dbUsers: [first.dbUser], ports: [first.port] };
  const other = newSite({ domain: 'www-a.b.com' }, [], FIXED_NOW, taken);
  assert.notEqual(other.slug, first.slug);
  assert.notEqual(other.unixUser, first.unixUser);
  assert.notEqual(other.dbName, first.dbName);
  assert.notEqual(other.dbUser, first.dbUser);
  assert.notEqual(other.port, first.port);
});

// --- Property: random and adversarial domains -----------------------------------------------------

const label = (alphabet: string, max: number) =>
  fc
    .array(fc.constantFrom(...alphabet), { minLength: 1, maxLength: max })
    .map((cs) => cs.join(''))
    .filter((l) => !l.startsWith('-') && !l.endsWith('-'));
/** Few letters, many hyphens: dots and hyphens in swapped places are likely. */
const tightDomain = fc.tuple(fc.array(label('ab-', 4), { minLength: 1, maxLength: 3 }), label('ab', 2)).map(([ls, tld]) => [...ls, tld].join('.'));
/** Long labels, so that the slug and the users are truncated and hashed. */
const longDomain = fc
  .tuple(fc.array(label('abc1-', 40), { minLength: 1, maxLength: 4 }), fc.constantFrom('com', 'org', 'example', 'se'))
  .map(([ls, tld]) => [...ls, tld].join('.'));
const validDomain = fc.oneof(tightDomain, longDomain, fc.domain()).filter((d) => domainProblems(d).length === 0);

/**
 * A domain made from a name another site already owns: the name's text with one hyphen turned
 * into a dot, so its slug (and the names after it) reproduce that name where they can.
 */
function craft(s: Site, which: number, at: number): string | undefined {
  const texts = [s.slug, s.unixUser.slice(2), s.dbUser.slice(2), s.dbName.slice(5)].map((t) => t.replace(/_/g, '-'));
  const text = texts[which % texts.length]!;
  const hyphens = [...text].flatMap((c, i) => (c === '-' ? [i] : []));
  if (!hyphens.length) return undefined;
  const i = hyphens[at % hyphens.length]!;
  const d = `${text.slice(0, i)}.${text.slice(i + 1)}`;
  return domainProblems(d).length === 0 ? d : undefined;
}

type Step = { kind: 'new'; domain: string } | { kind: 'craft'; site: number; which: number; at: number };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  validDomain.map((domain) => ({ kind: 'new' as const, domain })),
  fc.record({ kind: fc.constant('craft' as const), site: fc.nat(), which: fc.nat({ max: 3 }), at: fc.nat() }),
);

function assertSafeNames(s: Site): void {
  assert.ok(s.slug.length <= 40 && /^[a-z0-9]+(-[a-z0-9]+)*$/.test(s.slug), `slug ${s.slug}`);
  assert.ok(s.unixUser.length <= 32 && /^[a-z][a-z0-9-]*$/.test(s.unixUser), `unix user ${s.unixUser}`);
  assert.deepEqual(dbIdentifierProblems(s.dbName, 64), [], s.dbName);
  assert.deepEqual(dbIdentifierProblems(s.dbUser, 32), [], s.dbUser);
}

test('property: for random and adversarial sets of domains, every derived name is unique and safe', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 25 }), (steps) => {
      const sites: Site[] = [];
      for (const st of steps) {
        const domain = st.kind === 'new' ? st.domain : sites.length ? craft(sites[st.site % sites.length]!, st.which, st.at) : undefined;
        if (!domain) continue;
        if (sites.some((s) => s.domain === domain)) {
          assert.throws(() => newSite({ domain }, sites, FIXED_NOW), (e) => isVardError(e, 'VARD_ERR_SITE_EXISTS'));
          continue;
        }
        const s = newSite({ domain }, sites, FIXED_NOW);
        assertSafeNames(s);
        sites.push(s);
      }
      for (const key of ['slug', 'unixUser', 'dbName', 'dbUser', 'port'] as const) {
        const names = sites.map((s) => s[key]);
        assert.equal(new Set(names).size, names.length, `${key}: ${names.join(', ')}`);
      }
      assert.equal(new Set(sites.map((s) => configId(s.slug))).size, sites.length);
    }),
    { numRuns: 300, seed },
  );
});

test('property: the store records every name and refuses none of the distinct domains', () => {
  fc.assert(
    fc.property(fc.array(stepArb, { minLength: 1, maxLength: 12 }), (steps) => {
      const store = new PlatformStore(openDb(':memory:'));
      for (const st of steps) {
        const sites = store.sites();
        const domain = st.kind === 'new' ? st.domain : sites.length ? craft(sites[st.site % sites.length]!, st.which, st.at) : undefined;
        if (!domain || sites.some((s) => s.domain === domain)) continue;
        const s = store.addNewSite((current, taken) => newSite({ domain }, current, FIXED_NOW, taken));
        assert.deepEqual(store.site(domain), s, 'recorded as derived');
      }
    }),
    { numRuns: 100, seed },
  );
});

// --- Ports -----------------------------------------------------------------------------------------

test('the reference platform takes 1,000 sites; ports past 8999 continue at 10000', () => {
  const store = new PlatformStore(openDb(':memory:'));
  store.setTopology('t', addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG), FIXED_NOW);
  for (let i = 0; i < 1000; i++) store.addNewSite((current, taken) => newSite({ domain: `site${i}.example.com` }, current, FIXED_NOW, taken));
  const ports = store.sites().map((s) => s.port).sort((a, b) => a - b);
  assert.equal(new Set(ports).size, 1000);
  assert.equal(ports[0], 8081);
  assert.equal(ports[918], 8999);
  assert.equal(ports[919], 10000);
  assert.equal(ports[999], 10080);
});

test('running out of site ports is a coded error that says so', () => {
  const ports: number[] = [];
  for (let p = 8081; p <= 8999; p++) ports.push(p);
  for (let p = 10000; p <= 19999; p++) ports.push(p);
  const taken = { slugs: [], unixUsers: [], dbNames: [], dbUsers: [], ports };
  assert.throws(
    () => newSite({ domain: 'one-more.example.com' }, [], FIXED_NOW, taken),
    (e) => isVardError(e, 'VARD_ERR_SITE_INVALID') && /\[port\]/.test(e.message) && /10919/.test(e.message),
  );
  // A port freed by a deleted site is handed out again.
  assert.equal(newSite({ domain: 'one-more.example.com' }, [], FIXED_NOW, { ...taken, ports: ports.filter((p) => p !== 12345) }).port, 12345);
});

// --- State written by the previous release -----------------------------------------------------------

test('a state file from before names were recorded keeps every site’s names; a clash already there is resolved for the later site', () => {
  const file = join(tmpdir(), `vard-names-${process.pid}.db`);
  rmSync(file, { force: true });
  const raw = new Database(file);
  // The previous release's schema: migrations 1-3 of the platform domain, names derived on read.
  raw.exec(`
    CREATE TABLE schema_migrations (domain TEXT NOT NULL, id INTEGER NOT NULL, PRIMARY KEY (domain, id));
    INSERT INTO schema_migrations VALUES ('platform', 1), ('platform', 2), ('platform', 3);
    CREATE TABLE platform (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, topology TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE sites (domain TEXT PRIMARY KEY, slug TEXT NOT NULL UNIQUE, customer TEXT NOT NULL, drupal INTEGER NOT NULL,
      port INTEGER NOT NULL UNIQUE, unix_user TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL);
    CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, created_at TEXT NOT NULL);`);
  raw.prepare('INSERT INTO platform VALUES (1, ?, ?, ?)').run('old', JSON.stringify(addressTopology(PRESETS.reference!, '198.18.9', ROLE_CATALOG)), FIXED_NOW.toISOString());
  const old = [
    { domain: PORTAL, at: '2026-01-01T00:00:00.000Z', port: 8081 },
    { domain: 'www.example.com', at: '2026-01-02T00:00:00.000Z', port: 8082 },
    // Created later with the old derivation: the same database user as PORTAL.
    { domain: PORTAL_DB_USER_TWIN, at: '2026-01-03T00:00:00.000Z', port: 8083 },
  ];
  for (const o of old) {
    const slug = slugForDomain(o.domain);
    raw.prepare('INSERT INTO sites VALUES (?, ?, ?, ?, ?, ?, ?)').run(o.domain, slug, 'default', 10, o.port, unixUserForSlug(slug), o.at);
    raw.prepare('INSERT INTO secrets VALUES (?, ?, ?)').run(`site:${o.domain}:db`, 'x'.repeat(32), o.at);
  }
  raw.close();
  try {
    const store = new PlatformStore(openDb(file));
    const svc = new PlatformService({ store, hostOf: () => assert.fail('no host is needed'), now: () => FIXED_NOW });
    for (const o of old) {
      const s = store.site(o.domain)!;
      const slug = slugForDomain(o.domain);
      assert.equal(s.slug, slug);
      assert.equal(s.port, o.port);
      assert.equal(s.unixUser, unixUserForSlug(slug));
      assert.equal(s.dbName, dbNameForSlug(slug));
      if (o.domain !== PORTAL_DB_USER_TWIN) assert.equal(s.dbUser, dbUserForSlug(slug), o.domain);
      assertSafeNames(s);
      // The db role reads the recorded names.
      assert.deepEqual([svc.platform().databases?.[slug]?.name, svc.platform().databases?.[slug]?.user], [s.dbName, s.dbUser]);
    }
    assert.notEqual(store.site(PORTAL_DB_USER_TWIN)!.dbUser, store.site(PORTAL)!.dbUser);
    // New sites avoid the recorded names and, once 8081-8999 has room, keep taking ports there.
    const added = store.addNewSite((current, taken) => newSite({ domain: PORTAL_UNIX_USER_TWIN }, current, FIXED_NOW, taken));
    assert.notEqual(added.unixUser, store.site(PORTAL)!.unixUser);
    assert.equal(added.port, 8084);
    assertAllDistinct(new PlatformService({ store, hostOf: () => assert.fail('no host is needed'), now: () => FIXED_NOW }), 4);
    // Reopening changes nothing.
    const again = new PlatformStore(openDb(file));
    assert.deepEqual(again.sites(), store.sites());
  } finally {
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
  }
});

test('the store refuses to record a name twice, whatever the caller derived', () => {
  const store = new PlatformStore(openDb(':memory:'));
  const a = newSite({ domain: PORTAL }, [], FIXED_NOW);
  store.addSite(a);
  const b = newSite({ domain: 'other.example.com' }, [a], FIXED_NOW);
  assert.throws(() => store.addSite({ ...b, dbUser: a.dbUser }), (e) => isVardError(e));
  assert.throws(() => store.addSite({ ...b, dbName: a.dbName }), (e) => isVardError(e));
  assert.equal(store.sites().length, 1);
});
