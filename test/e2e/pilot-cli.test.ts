/**
 * criu-compat pilot: its bad input is refused as run's is (exit 2, one line,
 * fast, nothing written); a real run prints the board and exits with what
 * its verdicts say.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, tempDir } from './harness.ts';
import { pilot } from './pilot-services.ts';

const POOLS = 'pools:\n  - {name: host-trixie, kernel: host, image: debian-trixie}\n  - {name: k6.12-trixie, kernel: debian/trixie, image: debian-trixie}\n';
const PILOTS = 'pilots:\n  - name: redis\n    pools: [host-trixie]\n    service: {command: [redis-server], user: redis}\n    ready: {tcp: {port: 6379}}\n';

function file(text: string): string {
  const f = join(tempDir('criu-compat-pilot-'), 'pools.yaml');
  writeFileSync(f, text);
  return f;
}

async function refused(args: string[]): Promise<string> {
  const out = tempDir('criu-compat-out-');
  const cache = tempDir('criu-compat-cache-');
  const t0 = performance.now();
  const r = await cli(['pilot', ...args, '--out', out, '--cache-dir', cache]);
  expect(r.exitCode, r.all).toBe(2);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stdout).toBe('');
  expect(performance.now() - t0).toBeLessThan(2000); // as run's bad input (test/e2e/bad-input.test.ts)
  expect(readdirSync(out)).toEqual([]);
  expect(readdirSync(cache)).toEqual([]);
  return r.stderr;
}

describe('criu-compat pilot: bad input', () => {
  test('no --config, or a config without pilots: exit 2 saying what is needed', async () => {
    expect(await refused([])).toMatch(/^criu-compat: pilot needs --config FILE: a pools file with a pilots: section/);
    expect(await refused(['--config', file(POOLS)])).toMatch(/pools\.yaml: at pilots: a pilots: section with at least one pilot/);
  });

  test("a pilot's bad field is the config's error, with its line; a pool it names must exist", async () => {
    expect(await refused(['--config', file(`${POOLS}pilots:\n  - name: redis\n    pools: [host-trixie]\n    service: {command: [redis-server], user: Redis}\n    ready: {tcp: {port: 6379}}\n`)])).toMatch(/at pilots\[0\]\.service/);
    expect(await refused(['--config', file(`${POOLS}${PILOTS.replace('[host-trixie]', '[k9]')}`)])).toMatch(/at pilots\[0\]\.pools\[0\] \(line \d+\): a pool of this config, one of: host-trixie, k6\.12-trixie \(got "k9"\)/);
  });

  test('unknown --pilot, a --pool no pilot runs on, bad flags', async () => {
    const f = file(POOLS + PILOTS);
    expect(await refused(['--config', f, '--pilot', 'nginx'])).toMatch(/no pilot named nginx in .*; pilots are: redis/);
    expect(await refused(['--config', f, '--pool', 'k6.12-trixie'])).toMatch(/--pool k6\.12-trixie: no chosen pilot runs there; their pools are: host-trixie/);
    expect(await refused(['--config', f, '--jobs', '0'])).toMatch(/--jobs takes a whole number >= 1/);
    expect(await refused(['--config', f, '--shard', '1/2'])).toMatch(/Unknown option '--shard'.*see --help/);
  });

  test('--help answers at once; the main help lists the command', async () => {
    const r = await cli(['pilot', '--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^Usage: criu-compat pilot --config FILE/);
    expect((await cli(['--help'])).stdout).toMatch(/^ {2}pilot {5}run the config's pilots/m);
  });
});

describe('criu-compat pilot: a real run', () => {
  test('the board is printed last and the exit code is the verdicts\' (GO/CONDITIONAL 0, NO-GO 1, UNDECIDED 2), whatever the cells', async () => {
    const dir = tempDir('criu-compat-pilot-run-');
    const f = join(dir, 'pilots.json');
    // The Perl key-value service on CRIU 4.1.1 and 4.2.1 on this kernel: which verdict each earns is this machine's business.
    const kv = { ...pilot('kv', ['host-trixie', 'host-sid'], { options: ['--tcp-established'] }), attempts: 1, stages: ['checkpoint-restore'] };
    writeFileSync(f, JSON.stringify({ pools: [{ name: 'host-trixie', kernel: 'host', image: 'debian-trixie' }, { name: 'host-sid', kernel: 'host', image: 'debian-sid' }], pilots: [kv] }));
    const out = join(dir, 'out');
    const r = await cli(['pilot', '--config', f, '--out', out, '--no-progress']);
    const results = RunResults.parse(JSON.parse(readFileSync(join(out, readdirSync(out)[0]!, 'results.json'), 'utf8')));
    const verdicts = results.pilots!.map((v) => v.verdict);
    expect(verdicts).toHaveLength(2);
    const expected = verdicts.includes('UNDECIDED') || results.cells.some((c) => c.status === 'ERROR') ? 2 : verdicts.includes('NO-GO') ? 1 : 0;
    expect(r.exitCode, r.all).toBe(expected);
    // A CONDITIONAL or NO-GO has FAIL cells; the run's own exit code (in results.json) still says so.
    if (results.cells.some((c) => c.status === 'FAIL')) expect(results.exitCode).toBe(1);
    expect(r.stdout).toMatch(/kv/);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toMatch(/^results: /);
    for (const v of verdicts) expect(r.stdout).toContain(v);
  }, 300_000);
});
