import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = new URL('../fixtures/golden/', import.meta.url).pathname;

/** Byte comparison against a reviewed file; `UPDATE_GOLDEN=1` rewrites it (then review the diff). */
export function assertGolden(name: string, actual: string): void {
  const path = join(ROOT, name);
  if (process.env.UPDATE_GOLDEN === '1' || !existsSync(path)) {
    if (process.env.UPDATE_GOLDEN !== '1' && process.env.CI) assert.fail(`golden file ${name} is missing; run UPDATE_GOLDEN=1 locally`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  assert.equal(actual, readFileSync(path, 'utf8'), `output differs from golden file ${name}; if intended, rerun with UPDATE_GOLDEN=1 and review`);
}
