import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { expect, test } from 'vitest';

const src = join(import.meta.dirname, '../../src');

/** For a folder of src/, the folders above it that it must not import from (a lower layer never reaches up). */
const ABOVE: Record<string, string[]> = {
  util: ['cli', 'config', 'criu', 'environments', 'gate', 'host', 'images', 'kernels', 'matrix', 'native', 'report', 'results', 'runner', 'runtimes', 'workloads'],
  host: ['cli', 'images', 'kernels', 'runner', 'environments', 'runtimes'],
  kernels: ['cli', 'images', 'runner', 'environments', 'runtimes'],
  environments: ['cli', 'runner', 'runtimes', 'criu', 'workloads'],
};

test('imports run downward: environments never import runtimes, kernels never import images (they share lower modules instead)', () => {
  const upward: string[] = [];
  for (const e of readdirSync(src, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name.endsWith('.test.ts')) continue;
    const file = join(e.parentPath, e.name);
    const from = relative(src, file).split('/')[0]!;
    for (const m of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      const to = relative(src, normalize(join(dirname(file), m[1]!))).split('/')[0]!;
      if (ABOVE[from]?.includes(to)) upward.push(`${relative(src, file)} → ${m[1]}`);
    }
  }
  expect(upward).toEqual([]);
});
