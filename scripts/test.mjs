#!/usr/bin/env node
// Runs the test suite: type check, then unit and contract tests, then integration tests against
// real daemons in network-namespace labs (each boots the smallest topology its role declares),
// then the end-to-end suite, the only one that boots the whole reference platform.
// `node scripts/test.mjs unit`, `integration` or `e2e` runs one tier; other arguments are taken as
// test files. Node 20's --test takes paths, not globs.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const say = (m) => process.stderr.write(`[test] ${m}\n`);

function find(dir, re) {
  const out = [];
  let names = [];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const n of names) {
    const p = join(dir, n);
    if (n === 'node_modules') continue;
    if (statSync(p).isDirectory()) out.push(...find(p, re));
    else if (re.test(n)) out.push(relative(root, p));
  }
  return out.sort();
}

const args = process.argv.slice(2);
const tier = ['unit', 'integration', 'e2e'].includes(args[0]) ? args[0] : args.length ? 'files' : 'all';
const unit = [...find(join(root, 'test/unit'), /\.test\.ts$/), ...find(join(root, 'test/contract'), /\.test\.ts$/), ...find(join(root, 'src'), /\.test\.ts$/)];
const integration = find(join(root, 'test/integration'), /\.test\.ts$/);
const e2e = find(join(root, 'test/e2e'), /\.test\.ts$/);
const files = { unit, integration, e2e, files: args, all: [...unit, ...integration, ...e2e] }[tier];

if (tier === 'all' || tier === 'unit') {
  say('type check (tsc --noEmit)');
  const tsc = spawnSync('npx', ['tsc', '--noEmit', '-p', '.'], { stdio: 'inherit', cwd: root });
  if (tsc.status !== 0) {
    say('type check failed');
    process.exit(1);
  }
}
if (!files.length) {
  say('no test files found');
  process.exit(1);
}
say(`${files.length} test files (${tier})`);
// One file at a time: each integration file builds its own lab, and the machine has two cores.
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root, env: { ...process.env, VARD_TEST: '1' } },
);
process.exit(r.status ?? 1);
