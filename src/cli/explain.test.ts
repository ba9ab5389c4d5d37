/** explain on recorded real runs: finding the cell however it is named, and what the story holds. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { RunResults } from '../results/schema.ts';
import { CellLookupError, explainCommand, findCell, renderExplain } from './explain.ts';

const fixture = (f: string) => join(import.meta.dirname, '../../fixtures/recorded/results', f);
const load = (f: string) => RunResults.parse(JSON.parse(readFileSync(fixture(f), 'utf8')));
const containers = load('host-trixie-containers-crun-remedy.json');
const matrix = load('default-matrix.json');

function lookupError(results: RunResults, words: string[]): CellLookupError {
  try {
    findCell(results, words);
  } catch (e) {
    if (e instanceof CellLookupError) return e;
    throw e;
  }
  throw new Error(`found a cell for ${words.join(' ')}`);
}

describe('findCell', () => {
  test('as the matrix prints it, as words (one argument or several), or a check alone when unique', () => {
    const want = containers.cells.find((c) => c.check === 'crun/counter/leave-running')!;
    expect(findCell(containers, ['host-trixie-containers › runtime › crun/counter/leave-running'])).toBe(want);
    expect(findCell(containers, ['host-trixie-containers runtime crun/counter/leave-running'])).toBe(want);
    expect(findCell(containers, ['host-trixie-containers', 'runtime', 'crun/counter/leave-running'])).toBe(want);
    expect(findCell(containers, ['crun/counter/leave-running'])).toBe(want);
  });

  test('a check with spaces (a migration cell) as words, unquoted or quoted', () => {
    const want = { ...containers.cells[0]!, pool: 'k6.12-trixie', suite: 'migration', check: 'counter/cold → k6.1-trixie' };
    const run = { ...containers, cells: [...containers.cells, want, { ...want, check: 'counter/cold → k6.12-bookworm' }] };
    expect(findCell(run, ['k6.12-trixie', 'migration', 'counter/cold', '→', 'k6.1-trixie'])).toBe(want);
    expect(findCell(run, ['k6.12-trixie', 'migration', 'counter/cold → k6.1-trixie'])).toBe(want);
    expect(findCell(run, ['k6.12-trixie › migration › counter/cold → k6.1-trixie'])).toBe(want);
  });

  test('a check many pools have is ambiguous alone: every cell it may mean is listed', () => {
    const e = lookupError(matrix, ['counter']);
    expect(e.message).toMatch(/"counter" is ambiguous in run .*: give POOL SUITE CHECK/);
    const pools = matrix.cells.filter((c) => c.check === 'counter').map((c) => `${c.pool} › ${c.suite} › counter`);
    expect(e.candidates).toEqual(pools);
    expect(pools.length).toBeGreaterThan(1);
  });

  test('unknown: a typo is answered with the cells close to it, the same pool and suite first', () => {
    const e = lookupError(containers, ['host-trixie-containers', 'runtime', 'crun/countr']);
    expect(e.message).toMatch(/^no cell "host-trixie-containers runtime crun\/countr" in run /);
    expect(e.candidates[0]).toBe('host-trixie-containers › runtime › crun/counter');
    expect(e.candidates.length).toBeLessThanOrEqual(8);
    expect(lookupError(containers, ['nosuchpool', 'nosuite', 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzz']).candidates).toEqual([]);
  });
});

describe('renderExplain', () => {
  test('a FAIL whose remedy did not help: commands, timeline, figures, log, diagnosis with its remedy, the re-run', () => {
    const c = findCell(containers, ['host-trixie-containers runtime crun/tcp-established']);
    const text = renderExplain(containers, c);
    expect(text).toMatch(/^host-trixie-containers › runtime › crun\/tcp-established: FAIL\n {2}crun run failed \(exit 1\): crun does not run containers on a hybrid cgroup layout\n/);
    expect(text).toContain('pool host-trixie-containers: kernel 6.18.44-fc-v657, namespace, CRIU 4.1.1, CRIU environment CRIU_FAULT=130');
    const sections = text.split('\n').slice(1).filter((l) => /^[a-z]/.test(l));
    expect(sections).toEqual(['what', 'commands', 'timeline (ms since the attempt started)', 'figures', 'log excerpt (errors, warnings and the last lines)', 'diagnoses', 'remedy re-run']);
    for (const e of c.timeline!) expect(text).toContain(`  ${e.event}\n`);
    expect(text).toMatch(/ {4}remedy: {3}runtime runc → remedy did not help: runc checkpoint failed/);
    expect(text).toContain('  result:   remedy did not help (re-run FAIL)\n');
    expect(text).toContain('  re-run diagnosed: sockopt-passcred');
    for (const cmd of c.remedy!.commands!) expect(text).toContain(`    ${cmd}\n`);
  });

  test('an older run without timelines says so; a repeated figure shows its distribution when recorded', () => {
    const c = matrix.cells.find((x) => x.status === 'FAIL' && x.suite === 'round-trip')!;
    const text = renderExplain(matrix, c);
    expect(text).toContain('timeline\n  (not recorded: a cell of an older run, or one that never started)');
    expect(text).toMatch(/\nfigures\n {2}durations: total \d+ ms/);
    expect(text).not.toContain('remedy re-run');
  });
});

describe('explainCommand', () => {
  afterEach(() => vi.restoreAllMocks());

  test('prints the story (exit 0); an unknown cell exits 2 with the close matches on stderr', async () => {
    const out: string[] = [];
    const err: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    vi.spyOn(console, 'error').mockImplementation((s: string) => void err.push(s));
    expect(await explainCommand([fixture('k5.10-bookworm-rseq-remedy.json'), 'k5.10-bookworm', 'round-trip', 'counter'])).toBe(0);
    expect(out.join('')).toContain('  applied:  GLIBC_TUNABLES=glibc.pthread.rseq=0 (for rseq-no-get-rseq-conf)\n  result:   remedy verified (re-run PASS)');
    expect(await explainCommand([fixture('k5.10-bookworm-rseq-remedy.json'), 'k5.10-bookworm', 'round-trip', 'countre'])).toBe(2);
    expect(err[0]).toMatch(/^criu-compat: no cell "k5.10-bookworm round-trip countre" in run .*; close matches:$/);
    expect(err).toContain('  k5.10-bookworm › round-trip › counter');
  });

  test('without a CELL, or with a RUN that is no results.json: usage errors (exit 2)', async () => {
    await expect(explainCommand([fixture('k5.10-bookworm-rseq-remedy.json')])).rejects.toThrow(/explain needs a RUN .* and a CELL/);
    await expect(explainCommand(['/nonexistent/run', 'a', 'b', 'c'])).rejects.toMatchObject({ code: 'CONFIG' });
  });
});
