import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { buildStaticDir } from './build-static.ts';

test('buildStaticDir: links every .c file of a folder into one static binary, keyed on all sources and headers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-native-'));
  try {
    const src = join(dir, 'prog');
    mkdirSync(src);
    writeFileSync(join(src, 'greet.h'), '#define WORD "one"\nvoid greet(void);\n');
    writeFileSync(join(src, 'greet.c'), '#include <stdio.h>\n#include "greet.h"\nvoid greet(void) { puts(WORD); }\n');
    writeFileSync(join(src, 'main.c'), '#include "greet.h"\nint main(void) { greet(); return 0; }\n');
    writeFileSync(join(src, 'notes.txt'), 'not a source\n');
    const cache = join(dir, 'cache');
    const first = await buildStaticDir('prog', src, cache);
    expect(execFileSync(first, { encoding: 'utf8' })).toBe('one\n');
    expect(await buildStaticDir('prog', src, cache)).toBe(first);
    // A header alone changes the binary: it is part of the key.
    writeFileSync(join(src, 'greet.h'), '#define WORD "two"\nvoid greet(void);\n');
    const second = await buildStaticDir('prog', src, cache);
    expect(second).not.toBe(first);
    expect(execFileSync(second, { encoding: 'utf8' })).toBe('two\n');
    // So does any one of the sources.
    writeFileSync(join(src, 'greet.c'), '#include <stdio.h>\n#include "greet.h"\nvoid greet(void) { puts(WORD "!"); }\n');
    const third = await buildStaticDir('prog', src, cache);
    expect(execFileSync(third, { encoding: 'utf8' })).toBe('two!\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
