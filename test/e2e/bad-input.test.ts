/** Bad input: one message naming file, path and expectation; exit 2; nothing written. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cli, tempDir } from './harness.ts';

function file(text: string): string {
  const f = join(tempDir('criu-compat-bad-'), 'pools.yaml');
  writeFileSync(f, text);
  return f;
}

describe('bad input', () => {
  test.for([
    ['unknown key', 'pools:\n  - {name: a, kernel: host, image: debian-trixie, colour: red}\n', /at pools\[0\]\.colour: no such key/],
    ['wrong type', 'pools:\n  - {name: a, kernel: host, image: debian-trixie}\nsettings: {timeouts: {criuMs: soon}}\n', /at settings\.timeouts\.criuMs: .*number/],
    ['unknown image', 'pools:\n  - {name: a, kernel: host, image: centos-7}\n', /at pools\[0\]\.image: a known node image, one of: debian-bookworm/],
    ['malformed YAML', 'pools: [\n', /at line \d+, column \d+: valid YAML or JSON/],
  ] as const)('%s → exit 2, one line naming the file and path, no output directory', async ([, text, re]) => {
    const f = file(text);
    const out = join(tempDir('criu-compat-out-'), 'reports');
    const r = await cli(['run', '--config', f, '--out', out]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(f);
    expect(r.stderr).toMatch(re);
    expect(existsSync(out)).toBe(false);
  });

  test('unknown pool name, unknown flag, unknown command → exit 2 with what is valid', async () => {
    const a = await cli(['run', '--pool', 'nope']);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toMatch(/no pool named nope .* pools are: host-bookworm, host-trixie, host-trixie-nobp/);
    const b = await cli(['run', '--colour']);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toMatch(/--colour/);
    const c = await cli(['frobnicate']);
    expect(c.exitCode).toBe(2);
    expect(c.stderr).toMatch(/unknown command "frobnicate"/);
  });

  test('--help for every command', async () => {
    for (const args of [['--help'], ['run', '--help'], ['images', '--help'], ['help', 'run']]) {
      const r = await cli(args);
      expect(r.exitCode, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: criu-compat/);
    }
  });
});
