import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { loadConfig, parseConfig } from './load.ts';
import { findJsonSyntaxError } from './json-syntax.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-config-src-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function loadError(name: string, content: string | Buffer): Promise<ConfigError> {
  const f = join(dir, name);
  writeFileSync(f, content);
  try {
    await loadConfig(f);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error(`expected a ConfigError for ${name}`);
}

const POOL = '{"name": "a", "kernel": "host", "image": "debian-trixie"}';

describe('config text: strict JSON, empty, binary, unclosed quotes, line numbers', () => {
  test('a .json file is strict JSON: a trailing comma is an error at the comma, not YAML that starts a run', async () => {
    const e = await loadError('trailing.json', `{\n  "pools": [\n    ${POOL},\n  ]\n}\n`);
    expect(e.path).toBe('line 3, column 62');
    expect(e.expected).toMatch(/^strict JSON \(the file ends in \.json\): expected no comma before "\]": JSON allows no trailing comma/);
    const o = await loadError('trailing-obj.json', `{"pools": [{"name": "a", "kernel": "host", "image": "debian-trixie",}]}`);
    expect(o.path).toBe('line 1, column 68');
    expect(o.expected).toMatch(/no comma before "\}"/);
    // The same text as .yaml is valid YAML (a flow sequence may end in a comma).
    expect(parseConfig(`{\n  "pools": [\n    ${POOL},\n  ]\n}\n`, 'trailing.yaml').config.pools).toHaveLength(1);
  });

  test('comments and single quotes in .json are named', () => {
    expect(findJsonSyntaxError('{"a": 1 // x\n}')).toEqual({ offset: 8, message: '"," or "}" after a value, not "/"' });
    expect(findJsonSyntaxError("{'a': 1}")).toMatchObject({ offset: 1, message: expect.stringMatching(/key in double quotes/) });
    expect(findJsonSyntaxError('[1, 2')).toMatchObject({ offset: 0, message: 'a closing ] for the [ opened here' });
    expect(findJsonSyntaxError(`{"pools": [${POOL}]}`)).toBeUndefined();
  });

  test('an empty file, or one with only comments, says so at line 1', async () => {
    for (const [name, text] of [
      ['empty.yaml', ''],
      ['blank.json', '\n\n  \n'],
      ['comments.yaml', '# nothing here yet\n'],
    ] as const) {
      const e = await loadError(name, text);
      expect(e.path, name).toBe('line 1');
      expect(e.expected, name).toMatch(/^a pools file \(YAML or JSON\) with at least "pools:", but the file (is empty|has no content)/);
    }
  });

  test('a binary file (NUL bytes, invalid UTF-8) says so with the line where it starts', async () => {
    const nul = await loadError('nul.yaml', Buffer.concat([Buffer.from('pools:\n  - name: a\n    kernel: ho'), Buffer.from([0, 1, 2]), Buffer.from('st\n')]));
    expect(nul.path).toBe('line 3, column 15');
    expect(nul.expected).toMatch(/binary \(a NUL byte here\)/);
    const latin1 = await loadError('latin1.yaml', Buffer.from('pools:\n  - name: caf\xe9\n', 'latin1'));
    expect(latin1.path).toBe('line 2, column 14');
    expect(latin1.expected).toMatch(/byte 0xe9 here is not valid UTF-8/);
    // Real binary: an ELF file.
    const elf = await loadError('elf.yaml', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0xff, 0xfe]));
    expect(elf.path).toMatch(/^line 1, column \d+$/);
    expect(elf.message.split('\n')).toHaveLength(1);
  });

  test('an unclosed quote is reported where the quote opens, not at the end of the file', async () => {
    const y = await loadError('quote.yaml', 'pools:\n  - name: "a\n    kernel: host\n    image: debian-trixie\n');
    expect(y.path).toBe('line 2, column 11');
    expect(y.expected).toMatch(/unclosed quote/);
    const j = await loadError('quote.json', '{"pools": [\n  {"name": "a, "kernel": "host"}\n]}\n');
    expect(j.path).toMatch(/^line 2, column \d+$/);
    expect(j.expected).toMatch(/unclosed quote|"," or "\}" after a value/);
    const k = await loadError('quote2.json', '{"pools": [\n  {"name": "a\n]}\n');
    expect(k.path).toBe('line 2, column 12');
    expect(k.expected).toMatch(/a closing " for the string opened here \(unclosed quote\)/);
  });

  test('schema errors carry the line of the offending key, in YAML and in JSON', async () => {
    const y = await loadError('schema.yaml', 'settings:\n  repeat: 1\npools:\n  - name: a\n    kernel: host\n    image: debian-trixie\n  - name: b\n    kernel: host\n    image: nope\n');
    expect(y).toMatchObject({ path: 'pools[1].image', line: 9 });
    expect(y.message).toMatch(/schema\.yaml: at pools\[1\]\.image \(line 9\): a known node image/);
    const j = await loadError('schema.json', `{\n  "pools": [\n    ${POOL},\n    {"name": "b", "kernel": "host",\n     "image": "debian-trixie", "colour": "red"}\n  ]\n}\n`);
    expect(j).toMatchObject({ path: 'pools[1].colour', line: 5 });
    // A missing key: the line of the nearest thing that is there.
    const m = await loadError('missing.yaml', 'pools:\n  - name: a\n    image: debian-trixie\n');
    expect(m).toMatchObject({ path: 'pools[0].kernel', line: 2 });
  });

  test('terminal escape sequences from a bad file are never in the message raw', async () => {
    const e = await loadError('escape.yaml', 'pools:\n  - {name: a, kernel: host, image: debian-trixie, "\x1b[2J\x1b]0;pwned\x07": 1}\n');
    expect(e.message).not.toMatch(/[\x00-\x1f\x7f]/);
    expect(e.message).toContain('\\x1b[2J');
    const j = await loadError('escape.json', '{"pools": [\x1b[31m]}');
    expect(j.message).not.toMatch(/[\x00-\x1f\x7f]/);
  });
});
