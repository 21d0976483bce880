/**
 * Inventories (issue 10): the operator's YAML file of real servers, parsed into a topology or
 * refused with every problem named by its path (src/inventory). Pure: nothing here connects.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { parse as parseYaml, stringify } from 'yaml';
import { isVardError, type Problem } from '../../src/errors/index.ts';
import { inventoryProblems, isInventoryTopology, MAX_HOSTS, parseInventory } from '../../src/inventory/index.ts';
import { addressTopology, type Topology } from '../../src/model/index.ts';
import { PRESETS, ROLE_CATALOG } from '../../src/roles/registry.ts';

// Fixed so that CI is reproducible; set VARD_FC_SEED to explore other inputs.
const seed = process.env.VARD_FC_SEED ? Number(process.env.VARD_FC_SEED) : 10_010;

const FIXTURE = new URL('../fixtures/inventory/reference.yml', import.meta.url);
const REFERENCE_TEXT = readFileSync(FIXTURE, 'utf8');

type Doc = Record<string, any>;

/** The reference inventory as plain data, fresh for each case to edit. */
function reference(): Doc {
  return parseYaml(REFERENCE_TEXT) as Doc;
}

/** The reference inventory edited by `edit`, as the text an operator would write. */
function inventoryText(edit: (d: Doc) => void): string {
  const d = reference();
  edit(d);
  return stringify(d);
}

/** The problems `parseInventory` refuses `text` with; fails the test when it does not refuse it. */
function refusal(text: string, source = 'hosts.yml'): readonly Problem[] {
  try {
    parseInventory(text, source, ROLE_CATALOG);
  } catch (e) {
    assert.ok(isVardError(e, 'VARD_ERR_INVENTORY_INVALID'), `expected VARD_ERR_INVENTORY_INVALID, got ${String(e)}`);
    assert.equal(e.details?.['source'], source);
    const problems = e.details?.['problems'] as Problem[];
    assert.ok(Array.isArray(problems) && problems.length > 0, 'details.problems names at least one problem');
    // The message names each problem with its path too, for the operator reading the terminal.
    for (const p of problems) assert.ok(e.message.includes(`[${p.path || '(root)'}] ${p.message}`), `the message shows [${p.path}]`);
    assert.match(e.message, /nothing was recorded/);
    return problems;
  }
  assert.fail('the inventory was accepted');
}

test('the reference inventory parses to the reference topology, defaults applied', () => {
  // GIVEN the ten servers of test/fixtures/inventory/reference.yml
  // WHEN
  const t = parseInventory(REFERENCE_TEXT, 'reference.yml', ROLE_CATALOG);
  // THEN
  const ssh = (address: string, port = 22) => ({ address, port, user: 'root' });
  const expected: Topology = {
    source: 'inventory:reference.yml',
    hosts: [
      { name: 'lb1', roles: ['lb'], privateAddress: '10.20.0.11', publicAddress: '203.0.113.11', ssh: ssh('10.20.0.11') },
      { name: 'lb2', roles: ['lb'], privateAddress: '10.20.0.12', publicAddress: '203.0.113.12', ssh: ssh('10.20.0.12') },
      { name: 'web1', roles: ['web'], privateAddress: '10.20.0.21', ssh: ssh('10.20.0.21') },
      // Its own port overrides the inventory's default.
      { name: 'web2', roles: ['web'], privateAddress: '10.20.0.22', ssh: ssh('10.20.0.22', 2222) },
      { name: 'db1', roles: ['db'], privateAddress: '10.20.0.31', ssh: ssh('10.20.0.31') },
      { name: 'db2', roles: ['db'], privateAddress: '10.20.0.32', ssh: ssh('10.20.0.32') },
      // A management name instead of the private address.
      { name: 'dbq', roles: ['quorum'], privateAddress: '10.20.0.33', ssh: ssh('bastion-dbq.example.net') },
      { name: 'files1', roles: ['files'], privateAddress: '10.20.0.41', ssh: ssh('10.20.0.41') },
      { name: 'files2', roles: ['files'], privateAddress: '10.20.0.42', ssh: ssh('10.20.0.42') },
      { name: 'filesq', roles: ['files'], privateAddress: '10.20.0.43', ssh: ssh('10.20.0.43') },
    ],
    publicVip: '203.0.113.10',
    publicPrefix: 24,
    privatePrefix: 24,
    vips: { db: '10.20.0.50' },
    operator: { sshFrom: ['198.51.100.7/32'] },
  };
  assert.deepEqual(t, expected);
  assert.deepEqual(inventoryProblems(reference(), ROLE_CATALOG), []);
  // Every role the catalogue places in the reference platform is there (the firewall is on every host, unlisted).
  assert.deepEqual(
    [...new Set(t.hosts.flatMap((h) => h.roles))].sort(),
    ROLE_CATALOG.filter((r) => !r.everyHost).map((r) => r.id).sort(),
  );
});

test('an inventory topology is told apart from a lab topology', () => {
  assert.equal(isInventoryTopology(parseInventory(REFERENCE_TEXT, 'reference.yml', ROLE_CATALOG)), true);
  // A lab addresses its own hosts and reaches them itself: no ssh endpoints.
  assert.equal(isInventoryTopology(addressTopology(PRESETS['reference']!, '198.18.0', ROLE_CATALOG)), false);
  assert.equal(isInventoryTopology({ source: 'x', hosts: [], publicVip: '198.18.0.100', publicPrefix: 25, privatePrefix: 25 }), false);
});

test('ssh defaults: built-in root@:22, the inventory-wide ssh block, each host overriding it; a proxy is kept as its argv', () => {
  // GIVEN no inventory-wide ssh block
  const bare = parseInventory(inventoryText((d) => delete d['ssh']), 'x', ROLE_CATALOG);
  assert.ok(bare.hosts.every((h) => h.ssh?.user === 'root'));
  assert.deepEqual(bare.hosts.map((h) => h.ssh?.port), [22, 22, 22, 2222, 22, 22, 22, 22, 22, 22]);

  // GIVEN an inventory-wide user and port, and per-host overrides and a bastion
  const proxy = ['ssh', '-W', '10.20.0.31:22', '-o', 'BatchMode=yes', 'ops@bastion.example.net'];
  const t = parseInventory(
    inventoryText((d) => {
      d['ssh'] = { user: 'vard-admin', port: 2200 };
      d['hosts'][0].ssh = { user: 'root' };
      d['hosts'][4].ssh = { proxy };
    }),
    'x',
    ROLE_CATALOG,
  );
  const by = Object.fromEntries(t.hosts.map((h) => [h.name, h.ssh]));
  assert.deepEqual(by['lb1'], { address: '10.20.0.11', port: 2200, user: 'root' });
  assert.deepEqual(by['lb2'], { address: '10.20.0.12', port: 2200, user: 'vard-admin' });
  assert.deepEqual(by['web2'], { address: '10.20.0.22', port: 2222, user: 'vard-admin' });
  assert.deepEqual(by['db1'], { address: '10.20.0.31', port: 2200, user: 'vard-admin', proxy });
  assert.equal(by['db2']?.proxy, undefined, 'no proxy unless one is named');
  // No empty vips map when the inventory names none (a platform without a database).
  const noDb = parseInventory(
    inventoryText((d) => {
      d['hosts'] = d['hosts'].filter((h: Doc) => h['roles'][0] !== 'db' && h['roles'][0] !== 'quorum');
      delete d['network'].vips;
    }),
    'x',
    ROLE_CATALOG,
  );
  assert.equal(noDb.vips, undefined);
  assert.equal(noDb.hosts.length, 7);
});

/**
 * Every kind of bad input, each with exactly the paths it is refused at. Derived from
 * `inventoryProblems`: the schema (shape, ports, user names, prefixes, unknown fields), then the
 * cross checks (names and roles against the catalogue, each role's own rules, addresses: form,
 * segment, uniqueness, who has a public leg, VIPs; operator sources).
 */
const BAD: readonly { readonly what: string; readonly edit: (d: Doc) => void; readonly paths: readonly string[]; readonly says?: RegExp }[] = [
  // The document's shape
  // The missing block's VIP is missed too: both are reported.
  { what: 'no network block', edit: (d) => delete d['network'], paths: ['network', 'network.vips.db'] },
  { what: 'no operator block', edit: (d) => delete d['operator'], paths: ['operator'] },
  { what: 'no hosts', edit: (d) => ((d['hosts'] = []), delete d['network'].vips), paths: ['hosts'], says: /at least one host/ },
  { what: 'hosts not a list', edit: (d) => ((d['hosts'] = { lb1: {} }), delete d['network'].vips), paths: ['hosts'] },
  { what: 'a host not a mapping', edit: (d) => (d['hosts'][2] = 'web1'), paths: ['hosts.2'] },
  {
    what: 'too many hosts',
    edit: (d) => {
      delete d['network'].vips;
      d['hosts'] = Array.from({ length: MAX_HOSTS + 1 }, (_, i) => ({ name: `web${i}`, roles: ['web'], privateAddress: `10.20.0.${100 + i}` }));
    },
    paths: ['hosts'],
    says: new RegExp(`at most ${MAX_HOSTS} hosts`),
  },
  // Unknown fields, at every level, named in the path
  { what: 'an unknown top-level field', edit: (d) => (d['hostz'] = []), paths: ['hostz'], says: /unknown field "hostz"/ },
  { what: 'an unknown network field', edit: (d) => (d['network'].publicVIP = '203.0.113.9'), paths: ['network.publicVIP'] },
  { what: 'an unknown operator field', edit: (d) => (d['operator'].sshfrom = []), paths: ['operator.sshfrom'] },
  { what: 'an unknown inventory-wide ssh field', edit: (d) => (d['ssh'].key = '/root/.ssh/id_rsa'), paths: ['ssh.key'] },
  { what: 'unknown host fields', edit: (d) => Object.assign(d['hosts'][2], { role: 'web', address: '10.20.0.21' }), paths: ['hosts.2.address', 'hosts.2.role'] },
  { what: 'an unknown host ssh field', edit: (d) => (d['hosts'][3].ssh.identity = 'x'), paths: ['hosts.3.ssh.identity'] },
  // Host names
  { what: 'an upper-case host name', edit: (d) => (d['hosts'][2].name = 'Web1'), paths: ['hosts.2.name'] },
  { what: 'a host name too long', edit: (d) => (d['hosts'][2].name = 'webserver01'), paths: ['hosts.2.name'] },
  { what: 'a host name starting with a digit', edit: (d) => (d['hosts'][2].name = '1web'), paths: ['hosts.2.name'] },
  { what: 'a host without a name', edit: (d) => delete d['hosts'][2].name, paths: ['hosts.2.name'] },
  { what: 'a duplicate host name', edit: (d) => (d['hosts'][3].name = 'web1'), paths: ['hosts.3.name'], says: /duplicate host name "web1" \(also hosts\.2\)/ },
  // Roles, against the catalogue and each role's rules
  { what: 'a role the catalogue does not know', edit: (d) => (d['hosts'][2].roles = ['web', 'dns']), paths: ['hosts.2.roles.1'], says: new RegExp(`no role module provides "dns"; known roles: ${ROLE_CATALOG.filter((r) => !r.everyHost).map((r) => r.id).join(', ')}`) },
  { what: 'the every-host role listed', edit: (d) => (d['hosts'][2].roles = ['web', 'firewall']), paths: ['hosts.2.roles.1'], says: /every host has the role "firewall" already/ },
  { what: 'a role listed twice', edit: (d) => (d['hosts'][2].roles = ['web', 'web']), paths: ['hosts.2.roles'], says: /listed twice/ },
  { what: 'a host with no role', edit: (d) => (d['hosts'][2].roles = []), paths: ['hosts.2.roles'] },
  { what: 'a role that is not a string', edit: (d) => (d['hosts'][2].roles = [7]), paths: ['hosts.2.roles.0'] },
  { what: 'three load balancers', edit: (d) => d['hosts'].push({ name: 'lb3', roles: ['lb'], privateAddress: '10.20.0.13', publicAddress: '203.0.113.13' }), paths: ['hosts'], says: /active\/passive pair/ },
  { what: 'no web server', edit: (d) => (d['hosts'] = d['hosts'].filter((h: Doc) => h['roles'][0] !== 'web')), paths: ['hosts'], says: /no host has the role "web"/ },
  { what: 'one database host', edit: (d) => d['hosts'].splice(5, 1), paths: ['hosts'], says: /takes exactly two/ },
  { what: 'no quorum host beside the database pair', edit: (d) => d['hosts'].splice(6, 1), paths: ['hosts'], says: /third vote/ },
  { what: 'a database host that is its own third vote', edit: (d) => (d['hosts'][6].roles = ['quorum', 'db']), paths: ['hosts', 'hosts.6.roles'] },
  // Addresses: form
  { what: 'an address out of range', edit: (d) => (d['hosts'][2].privateAddress = '10.20.0.256'), paths: ['hosts.2.privateAddress'], says: /not an IPv4 address/ },
  { what: 'an octal-looking address', edit: (d) => (d['hosts'][2].privateAddress = '10.20.0.021'), paths: ['hosts.2.privateAddress'] },
  { what: 'a loopback address', edit: (d) => (d['hosts'][2].privateAddress = '127.0.0.1'), paths: ['hosts.2.privateAddress'], says: /loopback/ },
  { what: 'a link-local address', edit: (d) => (d['hosts'][2].privateAddress = '169.254.0.21'), paths: ['hosts.2.privateAddress'], says: /link-local/ },
  { what: 'a multicast address', edit: (d) => (d['hosts'][2].privateAddress = '224.0.0.18'), paths: ['hosts.2.privateAddress'], says: /multicast/ },
  { what: 'an address in 0.0.0.0/8', edit: (d) => (d['hosts'][2].privateAddress = '0.20.0.21'), paths: ['hosts.2.privateAddress'] },
  { what: 'an IPv6 address', edit: (d) => (d['hosts'][2].privateAddress = 'fd00::21'), paths: ['hosts.2.privateAddress'] },
  { what: 'an address that is a number', edit: (d) => (d['hosts'][2].privateAddress = 10), paths: ['hosts.2.privateAddress'] },
  { what: 'a host without a private address', edit: (d) => delete d['hosts'][2].privateAddress, paths: ['hosts.2.privateAddress'] },
  { what: 'an address longer than a DNS name can be', edit: (d) => (d['hosts'][2].privateAddress = 'a'.repeat(254)), paths: ['hosts.2.privateAddress'] },
  // Addresses: segments
  { what: 'a private address outside the prefix', edit: (d) => (d['hosts'][3].privateAddress = '10.20.1.22'), paths: ['hosts.3.privateAddress'], says: /outside the private segment .*10\.20\.0\.0\/24/ },
  { what: 'the private network address', edit: (d) => (d['hosts'][3].privateAddress = '10.20.0.0'), paths: ['hosts.3.privateAddress'], says: /network address of 10\.20\.0\.0\/24/ },
  { what: 'the private broadcast address', edit: (d) => (d['hosts'][3].privateAddress = '10.20.0.255'), paths: ['hosts.3.privateAddress'], says: /broadcast address/ },
  { what: 'a public address outside the public prefix', edit: (d) => (d['hosts'][1].publicAddress = '203.0.114.12'), paths: ['hosts.1.publicAddress'], says: /outside the public segment .*203\.0\.113\.0\/24/ },
  { what: 'a narrower prefix leaving a host outside', edit: (d) => (d['network'].privatePrefix = 28), paths: ['hosts.2.privateAddress', 'hosts.3.privateAddress', 'hosts.4.privateAddress', 'hosts.5.privateAddress', 'hosts.6.privateAddress', 'hosts.7.privateAddress', 'hosts.8.privateAddress', 'hosts.9.privateAddress', 'network.vips.db'] },
  { what: 'the public VIP as the network address', edit: (d) => (d['network'].publicVip = '203.0.113.0'), paths: ['network.publicVip'], says: /network address/ },
  { what: 'a public VIP that is no address', edit: (d) => (d['network'].publicVip = 'vip.example.net'), paths: ['network.publicVip'] },
  { what: 'a database VIP outside the private segment', edit: (d) => (d['network'].vips.db = '10.21.0.50'), paths: ['network.vips.db'], says: /outside the private segment/ },
  // Addresses: used once
  { what: 'a private address used twice', edit: (d) => (d['hosts'][3].privateAddress = '10.20.0.21'), paths: ['hosts.3.privateAddress'], says: /10\.20\.0\.21 is already used at hosts\.2\.privateAddress/ },
  { what: 'a public address equal to the VIP', edit: (d) => (d['hosts'][0].publicAddress = '203.0.113.10'), paths: ['hosts.0.publicAddress'], says: /already used at network\.publicVip/ },
  { what: 'the database VIP on a host', edit: (d) => (d['network'].vips.db = '10.20.0.31'), paths: ['network.vips.db'], says: /already used at hosts\.4\.privateAddress/ },
  // Who sits on the public segment
  { what: 'a load balancer without a public address', edit: (d) => delete d['hosts'][1].publicAddress, paths: ['hosts.1.publicAddress'], says: /needs a publicAddress/ },
  { what: 'a web server with a public address', edit: (d) => (d['hosts'][2].publicAddress = '203.0.113.21'), paths: ['hosts.2.publicAddress'], says: /only hosts of a role on the public segment/ },
  // Virtual addresses
  { what: 'no database VIP', edit: (d) => delete d['network'].vips, paths: ['network.vips.db'], says: /needs a private virtual address/ },
  { what: 'a VIP for a role that asks for none', edit: (d) => (d['network'].vips.lb = '10.20.0.60'), paths: ['network.vips.lb'], says: /no role "lb" asks for a virtual address; roles that do: db/ },
  { what: 'a VIP for a role that does not exist', edit: (d) => (d['network'].vips.solr = '10.20.0.61'), paths: ['network.vips.solr'] },
  { what: 'a database VIP without database hosts', edit: (d) => (d['hosts'] = d['hosts'].filter((h: Doc) => h['roles'][0] !== 'db' && h['roles'][0] !== 'quorum')), paths: ['network.vips.db'], says: /no host has the role "db"/ },
  // Prefixes
  { what: 'a /31 public prefix', edit: (d) => (d['network'].publicPrefix = 31), paths: ['network.publicPrefix'], says: /must be 8-30/ },
  { what: 'a /7 private prefix', edit: (d) => (d['network'].privatePrefix = 7), paths: ['network.privatePrefix'] },
  { what: 'a fractional prefix', edit: (d) => (d['network'].privatePrefix = 24.5), paths: ['network.privatePrefix'], says: /whole number/ },
  { what: 'a prefix as a string', edit: (d) => (d['network'].publicPrefix = '/24'), paths: ['network.publicPrefix'] },
  // SSH ports and users
  { what: 'port 0', edit: (d) => (d['ssh'].port = 0), paths: ['ssh.port'], says: /must be 1-65535/ },
  { what: 'port 65536 on a host', edit: (d) => (d['hosts'][3].ssh.port = 65536), paths: ['hosts.3.ssh.port'], says: /must be 1-65535/ },
  { what: 'a fractional port', edit: (d) => (d['hosts'][3].ssh.port = 22.5), paths: ['hosts.3.ssh.port'] },
  { what: 'a port as a string', edit: (d) => (d['hosts'][3].ssh.port = '2222'), paths: ['hosts.3.ssh.port'] },
  { what: 'an upper-case user', edit: (d) => (d['ssh'].user = 'Root'), paths: ['ssh.user'], says: /must be a login name/ },
  { what: 'a user starting with a digit', edit: (d) => (d['hosts'][2].ssh = { user: '0day' }), paths: ['hosts.2.ssh.user'] },
  { what: 'a user starting with -', edit: (d) => (d['hosts'][2].ssh = { user: '-oProxyCommand=x' }), paths: ['hosts.2.ssh.user'] },
  { what: 'a user with a space', edit: (d) => (d['hosts'][2].ssh = { user: 'root admin' }), paths: ['hosts.2.ssh.user'] },
  { what: 'a user longer than 32', edit: (d) => (d['hosts'][2].ssh = { user: 'a'.repeat(33) }), paths: ['hosts.2.ssh.user'] },
  // SSH addresses and proxies
  { what: 'an ssh address that is neither IPv4 nor a DNS name', edit: (d) => (d['hosts'][6].ssh.address = 'bastion dbq'), paths: ['hosts.6.ssh.address'], says: /neither an IPv4 address nor a DNS name/ },
  { what: 'an ssh address with a typo in a quad', edit: (d) => (d['hosts'][6].ssh.address = '10.20.0.333'), paths: ['hosts.6.ssh.address'], says: /not an IPv4 address/ },
  { what: 'a loopback ssh address', edit: (d) => (d['hosts'][6].ssh.address = '127.0.0.1'), paths: ['hosts.6.ssh.address'], says: /loopback/ },
  { what: 'an empty proxy', edit: (d) => (d['hosts'][2].ssh = { proxy: [] }), paths: ['hosts.2.ssh.proxy'], says: /name the command/ },
  { what: 'an empty proxy word', edit: (d) => (d['hosts'][2].ssh = { proxy: ['ssh', '', 'bastion'] }), paths: ['hosts.2.ssh.proxy.1'] },
  { what: 'a proxy word with a NUL byte', edit: (d) => (d['hosts'][2].ssh = { proxy: ['ssh', '-W', 'a\u0000b'] }), paths: ['hosts.2.ssh.proxy.2'] },
  { what: 'a proxy as a shell string', edit: (d) => (d['hosts'][2].ssh = { proxy: 'ssh -W %h:%p bastion' }), paths: ['hosts.2.ssh.proxy'] },
  { what: 'a proxy of more than 32 words', edit: (d) => (d['hosts'][2].ssh = { proxy: Array.from({ length: 33 }, () => 'x') }), paths: ['hosts.2.ssh.proxy'] },
  // Where Vard connects from
  { what: 'empty sshFrom', edit: (d) => (d['operator'].sshFrom = []), paths: ['operator.sshFrom'], says: /locks it out/ },
  { what: 'sshFrom not a list', edit: (d) => (d['operator'].sshFrom = '198.51.100.7/32'), paths: ['operator.sshFrom'] },
  { what: 'a source with host bits set', edit: (d) => (d['operator'].sshFrom = ['198.51.100.7/24']), paths: ['operator.sshFrom.0'], says: /host bits set; write 198\.51\.100\.0\/24/ },
  { what: 'a source prefix over 32', edit: (d) => (d['operator'].sshFrom = ['198.51.100.7/32', '198.51.100.8/33']), paths: ['operator.sshFrom.1'], says: /prefix length must be 0-32/ },
  { what: 'a source that is a name', edit: (d) => (d['operator'].sshFrom = ['ops.example.net']), paths: ['operator.sshFrom.0'] },
  { what: 'too many sources', edit: (d) => (d['operator'].sshFrom = Array.from({ length: 33 }, (_, i) => `198.51.100.${i}/32`)), paths: ['operator.sshFrom'] },
];

for (const c of BAD) {
  test(`refused, with its path: ${c.what}`, () => {
    const problems = refusal(inventoryText(c.edit));
    assert.deepEqual([...new Set(problems.map((p) => p.path))].sort(), [...c.paths].sort(), JSON.stringify(problems, null, 1));
    if (c.says) assert.ok(problems.some((p) => c.says!.test(p.message)), `${c.says} in ${JSON.stringify(problems)}`);
  });
}

test('a bare address in sshFrom is a /32 and accepted', () => {
  const t = parseInventory(inventoryText((d) => (d['operator'].sshFrom = ['198.51.100.7', '192.0.2.0/24'])), 'x', ROLE_CATALOG);
  assert.deepEqual(t.operator?.sshFrom, ['198.51.100.7', '192.0.2.0/24']);
});

test('text that is no inventory: invalid YAML, duplicate keys, several documents, not a mapping', () => {
  const cases: readonly [string, RegExp][] = [
    ['network: [', /not valid YAML/],
    // The same key twice is refused, not silently "last one wins".
    [REFERENCE_TEXT.replace('  privatePrefix: 24\n', '  privatePrefix: 24\n  privatePrefix: 16\n'), /not valid YAML: Map keys must be unique/],
    [`${REFERENCE_TEXT}---\nhosts: []\n`, /not valid YAML/],
    ['', /expected object/],
    ['just a string', /expected object/],
    ['- lb1\n- lb2\n', /expected object/],
  ];
  for (const [text, says] of cases) {
    const problems = refusal(text);
    assert.deepEqual(problems.map((p) => p.path), [''], text);
    assert.match(problems[0]!.message, says);
  }
});

test('several problems at once are all reported, each with its path, sorted by path', () => {
  // GIVEN one inventory with a dozen unrelated mistakes
  const text = inventoryText((d) => {
    d['extra'] = true;
    d['network'].publicPrefix = 33;
    d['operator'].sshFrom = ['198.51.100.7/33'];
    d['ssh'].port = 0;
    d['hosts'][1].name = 'lb1';
    delete d['hosts'][1].publicAddress;
    d['hosts'][2].roles = ['web', 'dns'];
    d['hosts'][3].privateAddress = '10.20.0.21';
    d['hosts'][3].ssh.user = 'Root';
    d['hosts'][4].privateAddress = '10.99.0.31';
    d['hosts'][5].bogus = 1;
    d['hosts'][6].ssh.address = 'no such name!';
    d['network'].vips.lb = '10.20.0.60';
  });
  // WHEN
  const problems = refusal(text);
  // THEN every one is there, once per path, in path order
  const paths = problems.map((p) => p.path);
  assert.deepEqual(paths, [
    'extra',
    'hosts.1.name',
    'hosts.1.publicAddress',
    'hosts.2.roles.1',
    'hosts.3.privateAddress',
    'hosts.3.ssh.user',
    'hosts.4.privateAddress',
    'hosts.5.bogus',
    'hosts.6.ssh.address',
    'network.publicPrefix',
    'network.vips.lb',
    'operator.sshFrom.0',
    'ssh.port',
  ]);
  assert.deepEqual(paths, [...paths].sort());
});

test('a field the schema already faulted is not faulted again by the cross checks', () => {
  // A malformed name is the schema's; the duplicate check must not add a second line for it.
  const problems = refusal(inventoryText((d) => (d['hosts'][3].name = 'WEB1')));
  assert.equal(problems.filter((p) => p.path === 'hosts.3.name').length, 1);
  // Two hosts with no name are not "duplicates" of each other.
  const nameless = refusal(inventoryText((d) => {
    delete d['hosts'][2].name;
    delete d['hosts'][3].name;
  }));
  assert.ok(nameless.every((p) => !/duplicate/.test(p.message)), JSON.stringify(nameless));
});

// ---- properties --------------------------------------------------------------------------------

/** An address that is usually right for its segment and sometimes not an address at all. */
const addressish = (segment: string): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: 0, max: 255 }).map((n) => `${segment}.${n}`) },
    { weight: 1, arbitrary: fc.constantFrom('10.20.1.5', '127.0.0.1', '0.0.0.0', '255.255.255.255', '10.20.0.999', '010.20.0.1', 'fd00::1', '', 'web1', 'a.b') },
    { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.constant(null), fc.boolean(), fc.string({ maxLength: 20 })) },
  );

const ROLE_IDS = ROLE_CATALOG.map((r) => r.id);
const roleish = fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...ROLE_IDS) }, { weight: 1, arbitrary: fc.constantFrom('dns', 'LB', '', '__proto__', 'constructor') }, { weight: 1, arbitrary: fc.anything() });
const nameish = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('lb1', 'lb2', 'web1', 'web2', 'web3', 'db1', 'db2', 'dbq', 'node1') }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) }, { weight: 1, arbitrary: fc.anything() });
const portish = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 1, max: 65535 }) }, { weight: 1, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 6 })) });
const userish = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('root', 'admin', 'vard_ops', 'a-b') }, { weight: 1, arbitrary: fc.string({ maxLength: 40 }) });

const sshish = fc.record(
  {
    address: fc.oneof(addressish('10.20.0'), fc.constantFrom('bastion.example.net', 'Bastion.Example.NET', '-bad-.example')),
    port: portish,
    user: userish,
    proxy: fc.oneof(fc.array(fc.string({ maxLength: 8 }), { maxLength: 4 }), fc.string({ maxLength: 8 })),
    junk: fc.anything(),
  },
  { requiredKeys: [] },
);

const hostish = fc.oneof(
  {
    weight: 9,
    arbitrary: fc.record(
      {
        name: nameish,
        roles: fc.oneof({ weight: 6, arbitrary: fc.array(roleish, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: fc.anything() }),
        privateAddress: addressish('10.20.0'),
        publicAddress: addressish('203.0.113'),
        ssh: fc.oneof({ weight: 4, arbitrary: sshish }, { weight: 1, arbitrary: fc.anything() }),
        extra: fc.anything(),
      },
      { requiredKeys: ['name', 'roles', 'privateAddress'] },
    ),
  },
  { weight: 1, arbitrary: fc.anything() },
);

const inventoryish = fc.record(
  {
    network: fc.record(
      {
        publicVip: addressish('203.0.113'),
        publicPrefix: fc.oneof(fc.integer({ min: 6, max: 32 }), fc.anything()),
        privatePrefix: fc.oneof(fc.integer({ min: 6, max: 32 }), fc.anything()),
        vips: fc.oneof(fc.dictionary(fc.oneof(fc.constantFrom(...ROLE_IDS), fc.string({ maxLength: 5 })), addressish('10.20.0'), { maxKeys: 3 }), fc.anything()),
      },
      { requiredKeys: ['publicVip'] },
    ),
    operator: fc.record({ sshFrom: fc.oneof(fc.array(fc.oneof(fc.constantFrom('198.51.100.7/32', '198.51.100.0/24', '198.51.100.7/24', '0.0.0.0/0', '10.20.0.5', 'x/1'), fc.anything()), { maxLength: 3 }), fc.anything()) }, { requiredKeys: [] }),
    ssh: fc.oneof(sshish, fc.anything()),
    hosts: fc.oneof({ weight: 9, arbitrary: fc.array(hostish, { maxLength: 9 }) }, { weight: 1, arbitrary: fc.anything() }),
  },
  { requiredKeys: ['network', 'hosts'] },
);

/** Sets `value` at a dotted path of `doc`, making the mappings on the way. */
function setPath(doc: Doc, path: string, value: unknown): void {
  const keys = path.split('.');
  let at: Doc = doc;
  for (const k of keys.slice(0, -1)) {
    if (at[k] === null || typeof at[k] !== 'object') at[k] = {};
    at = at[k];
  }
  at[keys[keys.length - 1]!] = value;
}

const EDITABLE = [
  'network.publicVip', 'network.publicPrefix', 'network.privatePrefix', 'network.vips.db', 'network.vips.lb', 'operator.sshFrom', 'ssh.port', 'ssh.user',
  ...[0, 1, 2, 3, 4, 5, 6].flatMap((i) => ['name', 'roles', 'privateAddress', 'publicAddress', 'ssh.address', 'ssh.port', 'ssh.user', 'ssh.proxy'].map((f) => `hosts.${i}.${f}`)),
];

/**
 * The reference inventory, hosts in any order with random (valid) SSH ports and users, and with
 * up to two fields replaced by anything: valid far more often than `inventoryish`, so acceptance is
 * exercised too, and mistakes sit among otherwise good data.
 */
const nearlyValid = fc
  .record({
    order: fc.shuffledSubarray([0, 1, 2, 3, 4, 5, 6], { minLength: 7, maxLength: 7 }),
    ssh: fc.array(fc.record({ port: fc.integer({ min: 1, max: 65535 }), user: fc.constantFrom('root', 'admin', 'vard_ops') }, { requiredKeys: [] }), { minLength: 7, maxLength: 7 }),
    edits: fc.array(fc.tuple(fc.constantFrom(...EDITABLE), fc.oneof(addressish('10.20.0'), addressish('203.0.113'), nameish, fc.array(roleish, { maxLength: 2 }), portish, userish, fc.anything())), { maxLength: 2 }),
  })
  .map(({ order, ssh, edits }) => {
    const d = reference();
    d['hosts'] = order.map((i, j) => ({ ...d['hosts'][i], ssh: { ...d['hosts'][i].ssh, ...ssh[j] } }));
    for (const [path, value] of edits) setPath(d, path, value);
    return d;
  });

test('property: random valid-looking inventories are parsed or refused with a coded error, nothing else', () => {
  let accepted = 0;
  fc.assert(
    fc.property(fc.oneof(inventoryish, nearlyValid), (doc) => {
      const text = stringify(doc);
      let problemsOfData: readonly Problem[];
      try {
        problemsOfData = inventoryProblems(parseYaml(text, { uniqueKeys: true }), ROLE_CATALOG);
      } catch {
        return; // some generated values do not survive a YAML round trip; parseInventory is checked below anyway
      }
      try {
        const t = parseInventory(text, 'prop.yml', ROLE_CATALOG);
        // Accepted: exactly when validation found nothing, and then a usable inventory topology.
        assert.deepEqual(problemsOfData, []);
        assert.ok(isInventoryTopology(t));
        accepted++;
        for (const h of t.hosts) {
          assert.ok(h.ssh && Number.isInteger(h.ssh.port) && h.ssh.port >= 1 && h.ssh.port <= 65535);
          assert.equal(new Set(t.hosts.map((x) => x.name)).size, t.hosts.length);
        }
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        assert.ok(isVardError(e, 'VARD_ERR_INVENTORY_INVALID'), `not a coded error: ${(e as Error)?.stack ?? String(e)}`);
        const problems = e.details?.['problems'] as Problem[];
        assert.ok(problems.length > 0);
        for (const p of problems) assert.ok(typeof p.path === 'string' && typeof p.message === 'string' && p.message.length > 0);
        assert.deepEqual(problems, problemsOfData);
      }
    }),
    { numRuns: 400, seed },
  );
  // Not only refusals: the generator reaches valid inventories too.
  assert.ok(accepted > 20, `only ${accepted} accepted`);
});

test('property: inventoryProblems never throws, whatever the document', () => {
  fc.assert(
    fc.property(fc.oneof(fc.anything(), inventoryish), (doc) => {
      const problems = inventoryProblems(doc, ROLE_CATALOG);
      assert.ok(Array.isArray(problems));
    }),
    { numRuns: 400, seed },
  );
});

test('property: any text at all is parsed or refused with a coded error', () => {
  const texty = fc.oneof(
    fc.string({ maxLength: 200 }),
    // Edits of the reference text: a character removed, duplicated or replaced somewhere.
    fc.tuple(fc.nat({ max: REFERENCE_TEXT.length - 1 }), fc.constantFrom('', ':', '-', ' ', '\n', '[', '{', '"', '#', '&a', '*a', '!!binary ')).map(([i, s]) => REFERENCE_TEXT.slice(0, i) + s + REFERENCE_TEXT.slice(i + 1)),
  );
  fc.assert(
    fc.property(texty, (text) => {
      try {
        parseInventory(text, 'prop.yml', ROLE_CATALOG);
      } catch (e) {
        assert.ok(isVardError(e, 'VARD_ERR_INVENTORY_INVALID'), `not a coded error: ${(e as Error)?.stack ?? String(e)}`);
      }
    }),
    { numRuns: 400, seed },
  );
});
