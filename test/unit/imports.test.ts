// The house stays clean: no import cycle between files, nor between the folders of src/ (a role
// never imports the core that iterates it; the core's layers import downwards only).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = new URL('../../src/', import.meta.url).pathname;

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : n.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports and re-exports of every file, type-only ones included. */
function edges(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of tsFiles(SRC)) {
    const text = readFileSync(f, 'utf8');
    const to = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?[^'"]*?from\s+['"](\.[^'"]+)['"]/g)].map((m) => resolve(dirname(f), m[1]!));
    out.set(f, to);
  }
  return out;
}

function cycles(graph: Map<string, readonly string[]>): string[][] {
  const state = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (u: string): void => {
    state.set(u, 1);
    stack.push(u);
    for (const v of graph.get(u) ?? []) {
      if (state.get(v) === 1) found.push([...stack.slice(stack.indexOf(v)), v]);
      else if (!state.get(v)) visit(v);
    }
    stack.pop();
    state.set(u, 2);
  };
  for (const u of graph.keys()) if (!state.get(u)) visit(u);
  return found;
}

/**
 * `src/roles/web/render.ts` → `roles/web`; `src/platform/plan.ts` → `platform`. The contract and
 * the registry beside the role folders are layers of their own: every role imports the first,
 * the second imports every role.
 */
function folderOf(file: string): string {
  const parts = relative(SRC, file).split('/');
  if (parts[0] === 'roles') return parts.length > 2 ? `roles/${parts[1]}` : `roles/${parts[1]!.replace(/\.ts$/, '')}`;
  return parts.length > 1 ? parts[0]! : '.';
}

test('no import cycle between files under src/', () => {
  const found = cycles(edges()).map((c) => c.map((f) => relative(SRC, f)).join(' -> '));
  assert.deepEqual(found, []);
});

test('no import cycle between the folders of src/ (each role folder counts as one)', () => {
  const folders = new Map<string, Set<string>>();
  for (const [f, to] of edges()) {
    const a = folderOf(f);
    for (const t of to) {
      const b = folderOf(t);
      if (a !== b) (folders.get(a) ?? folders.set(a, new Set()).get(a)!).add(b);
    }
  }
  const found = cycles(new Map([...folders].map(([k, v]) => [k, [...v]]))).map((c) => c.join(' -> '));
  assert.deepEqual(found, []);
});
