import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { expect, test } from 'vitest';

const src = join(import.meta.dirname, '../../src');

/**
 * The folders of src/, top layer first: a folder imports only from folders
 * after it (the README's "Layers" section draws the same order).
 */
const LAYERS = ['cli', 'runner', 'backends', 'plan', 'runtimes', 'criu', 'workloads', 'environments', 'images', 'kernels', 'host', 'gate', 'report', 'matrix', 'suites', 'native', 'artifacts', 'results', 'config', 'util', 'errors'];
const rank = (folder: string) => LAYERS.indexOf(folder.replace(/\.ts$/, ''));

test('every folder of src/ has its place in the layers', () => {
  const folders = readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory() && e.name !== 'agent').map((e) => e.name);
  expect(folders.filter((f) => rank(f) < 0)).toEqual([]);
});

test('imports run downward only: no folder of src/ imports from a layer above it (no cycles)', () => {
  const upward: string[] = [];
  for (const e of readdirSync(src, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
    const file = join(e.parentPath, e.name);
    const from = relative(src, file).split('/')[0]!;
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = relative(src, normalize(join(dirname(file), m[1]!))).split('/')[0]!;
      if (to !== from && rank(to) >= 0 && rank(to) < rank(from)) upward.push(`${relative(src, file)} → ${m[1]}`);
    }
  }
  expect(upward).toEqual([]);
});
