import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, test } from 'vitest';

const root = join(import.meta.dirname, '../..');

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((d) => d.isFile() && d.name.endsWith('.ts'))
    .map((d) => relative(root, join(d.parentPath, d.name)));
}

test('every function, constant and class src/ exports is used by the harness somewhere (tests alone do not keep code alive)', () => {
  const files = ['src', 'suites', 'bench'].flatMap(tsFiles).filter((f) => !f.endsWith('.test.ts'));
  const text = new Map(files.map((f) => [f, readFileSync(join(root, f), 'utf8')]));
  const unused: string[] = [];
  for (const [file, body] of text) {
    if (!file.startsWith('src/')) continue;
    for (const m of body.matchAll(/^export\s+(?:async\s+)?(?:function\*?|const|let|class)\s+([A-Za-z_$][\w$]*)/gm)) {
      const name = m[1]!;
      const word = new RegExp(`\\b${name.replace(/\$/g, '\\$')}\\b`, 'g');
      const uses = [...text.values()].reduce((n, t) => n + (t.match(word)?.length ?? 0), 0);
      if (uses < 2) unused.push(`${file}: ${name}`);
    }
  }
  expect(unused).toEqual([]);
});
