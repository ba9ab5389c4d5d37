import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';
import { builtinSignatures, loadOperatorSignatures, readSignatureFile } from './signature-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-sigs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
const GOOD = "- id: my-nfs-stale\n  stage: restore\n  match: {line: 'Stale file handle'}\n  blame: environment\n  title: t\n  cause: c\n  remediation: r\n";

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('signature files', () => {
  test('the built-in families load, every id once', () => {
    const all = builtinSignatures();
    expect(all.length).toBeGreaterThanOrEqual(36);
    expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
    expect(all.find((s) => s.id === 'vdso-bounds')).toMatchObject({ file: 'src/criu/signatures/kernel.yaml', fatal: true, blame: 'tuple' });
  });

  test.for([
    ['blame: everyone', '[0].blame', /blame "tuple" \(FAIL\), "environment" \(ERROR\) or "note"/, 4],
    ["match: {line: 'a(b'}", '[0].match.line', /a JavaScript regular expression/, 3],
    ['match: {exitcode: 1}', '[0].match.exitcode', /no such key \(unknown: "exitcode"\)/, 3],
    ['match: {alsoLine: x}', '[0].match', /at least one of line, signal, timedOut: true, exitCode or criuPair/, 3],
    ['stage: [dump, thaw]', '[0].stage', /a stage or a list of stages, of: check, dump/, 2],
    ['id: Not_Kebab', '[0].id', /a kebab-case id/, 1],
    ['detail: my-hook', '[0].detail', /a detail hook, one of: cpu-features-missing/, 8],
  ] as const)('a wrong field (%s) names the file, the path inside and what was expected, with the line', ([change, path, expected, line]) => {
    const key = change.split(':')[0]!;
    const text = GOOD.replace(new RegExp(`^(- |  )${key}:.*$`, 'm'), (_m, lead: string) => `${lead}${change}`) + (GOOD.includes(`${key}:`) ? '' : `  ${change}\n`);
    const f = file('bad.yaml', text);
    const e = errorOf(() => readSignatureFile(f));
    expect(e.file).toBe(f);
    expect(e.path).toBe(path);
    expect(e.expected).toMatch(expected);
    expect(e.line).toBe(line);
  });

  test('a file that is not a list, or repeats an id', () => {
    expect(errorOf(() => readSignatureFile(file('map.yaml', 'id: x\n'))).expected).toMatch(/a list of signatures/);
    const twice = errorOf(() => readSignatureFile(file('twice.yaml', GOOD + GOOD)));
    expect(twice).toMatchObject({ path: '[1].id', line: 8 });
    expect(twice.expected).toMatch(/"my-nfs-stale" is used twice/);
  });

  test("an operator's id that is built in is refused unless it says overrides: true; overrides must name a built-in one", () => {
    const clash = file('clash.yaml', GOOD.replace('my-nfs-stale', 'pid-collision'));
    expect(errorOf(() => loadOperatorSignatures([clash], 'pools.yaml'))).toMatchObject({ file: clash, path: '[0].id', expected: expect.stringMatching(/"pid-collision" is built in\); set "overrides: true"/) });
    const over = file('over.yaml', GOOD.replace('my-nfs-stale', 'pid-collision') + '  overrides: true\n');
    expect(loadOperatorSignatures([over], 'pools.yaml').map((s) => s.id)).toEqual(['pid-collision']);
    const nothing = file('nothing.yaml', GOOD + '  overrides: true\n');
    expect(errorOf(() => loadOperatorSignatures([nothing], 'pools.yaml'))).toMatchObject({ path: '[0].overrides' });
    const a = file('a.yaml', GOOD);
    expect(errorOf(() => loadOperatorSignatures([a, file('b.yaml', GOOD)], 'pools.yaml')).expected).toMatch(/"my-nfs-stale" is also in .*a\.yaml/);
  });

  test('settings.signatures: paths relative to the config file, checked at load; a missing file names the config and its line', () => {
    file('mine.yaml', GOOD);
    const { config } = parseConfig('pools:\n  - {name: a, kernel: host, image: debian-trixie}\nsettings:\n  signatures: [mine.yaml]\n', join(dir, 'pools.yaml'));
    expect(config.settings.signatures).toEqual([join(dir, 'mine.yaml')]);
    const e = errorOf(() => parseConfig('pools:\n  - {name: a, kernel: host, image: debian-trixie}\nsettings:\n  signatures:\n    - nope.yaml\n', join(dir, 'pools.yaml')));
    expect(e).toMatchObject({ file: join(dir, 'pools.yaml'), path: 'settings.signatures[0]', line: 5 });
    expect(e.expected).toMatch(/a signature file: a YAML list of signatures, but it cannot be read \(ENOENT\) \(.*nope\.yaml\)/);
    // A bad signature inside the operator's file is reported in that file.
    file('bad-mine.yaml', GOOD.replace('environment', 'someone'));
    expect(errorOf(() => parseConfig('pools:\n  - {name: a, kernel: host, image: debian-trixie}\nsettings: {signatures: [bad-mine.yaml]}\n', join(dir, 'pools.yaml')))).toMatchObject({ file: join(dir, 'bad-mine.yaml'), path: '[0].blame' });
  });
});
