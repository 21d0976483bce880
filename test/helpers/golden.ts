import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const ROOT = new URL('../fixtures/golden/', import.meta.url).pathname;

/**
 * Byte comparison against a reviewed file. Only `UPDATE_GOLDEN=1` writes golden files (then review
 * the diff); a missing one fails, so a renderer's new output is never accepted unseen.
 */
export function assertGolden(name: string, actual: string): void {
  const path = join(ROOT, name);
  if (process.env.UPDATE_GOLDEN === '1') {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, actual);
    return;
  }
  if (!existsSync(path)) assert.fail(`golden file ${name} is missing; if this output is intended, run with UPDATE_GOLDEN=1 and review it`);
  assert.equal(actual, readFileSync(path, 'utf8'), `output differs from golden file ${name}; if intended, rerun with UPDATE_GOLDEN=1 and review`);
}
