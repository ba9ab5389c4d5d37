/**
 * The remedy re-runs beside their diagnoses in every report, from two
 * recorded real runs made here: crun on a hybrid cgroup layout re-run with
 * runc (host-trixie-containers, kernel 6.18), and the rseq FAILs of Debian
 * 12's CRIU on a 5.10 VM re-run with GLIBC_TUNABLES=glibc.pthread.rseq=0.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { groupRemedyLine } from '../matrix/remedy-line.ts';
import { failureGroups } from '../matrix/groups.ts';
import { renderText } from '../matrix/text.ts';
import { RunResults } from '../results/schema.ts';
import { renderHtml } from './html.ts';
import { renderJUnit } from './junit.ts';
import { renderMarkdown } from './markdown.ts';

const load = (f: string) => RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results', f), 'utf8')));
const containers = load('host-trixie-containers-crun-remedy.json');
const rseq = load('k5.10-bookworm-rseq-remedy.json');
const migration = load('k5.10-bookworm-migration-rseq-remedy.json');

describe('what the recorded re-runs concluded', () => {
  test('crun → runc: verified where runc round-trips here, did not help where runc fails for its own cause', () => {
    const crun = containers.cells.filter((c) => c.runtime === 'crun' && c.status === 'FAIL');
    expect(crun.length).toBeGreaterThan(10);
    for (const c of crun) {
      expect(c.remedy).toMatchObject({ signature: 'crun-cgroup-hybrid', applied: 'runtime runc' });
      // The harness's conclusion follows the re-run's own verdict, and the cell's stays FAIL.
      expect(c.remedy!.result).toBe(c.remedy!.status === 'PASS' ? 'remedy verified' : c.remedy!.status === 'FAIL' ? 'remedy did not help' : 'remedy could not run');
    }
    const helpedNot = crun.filter((c) => c.remedy!.result === 'remedy did not help');
    // Where it did not help, the re-run with runc failed as runc's own cells did (the same diagnosis).
    const runcFails = new Set(containers.cells.filter((c) => c.runtime === 'runc' && c.status === 'FAIL').map((c) => c.check.replace(/^runc\//, '')));
    expect(helpedNot.map((c) => c.check.replace(/^crun\//, '')).sort()).toEqual([...runcFails].filter((k) => crun.some((c) => c.check === `crun/${k}`)).sort());
    for (const c of helpedNot) expect(c.remedy!.diagnoses).toContain('sockopt-passcred');
  });

  test('runc and podman cells failing for a cause without a remedy were not re-run', () => {
    for (const c of containers.cells.filter((c) => c.runtime !== 'crun')) expect(c.remedy).toBeUndefined();
  });

  test('rseq on 5.10: every cell FAILs, and the remedy is verified by the re-run', () => {
    expect(rseq.cells.length).toBe(4);
    for (const c of rseq.cells) {
      expect(c.status).toBe('FAIL');
      expect(c.diagnoses.map((d) => d.id)).toContain('rseq-no-get-rseq-conf');
      expect(c.remedy).toMatchObject({ signature: 'rseq-no-get-rseq-conf', applied: 'GLIBC_TUNABLES=glibc.pthread.rseq=0', status: 'PASS', result: 'remedy verified' });
    }
  });
});

test('a migration cell (5.10, on one node): the same remedy re-run through the migration path, verified', () => {
  const [c] = migration.cells;
  expect(c).toMatchObject({ suite: 'migration', status: 'FAIL', remedy: { signature: 'rseq-no-get-rseq-conf', status: 'PASS', result: 'remedy verified' } });
  expect(c!.remedy!.commands).toEqual([expect.stringMatching(/^\[k510\] criu dump -t \d+ -D img/), expect.stringMatching(/^\[k510\] criu restore -d -D img/)]);
});

describe('the remedy beside the diagnosis', () => {
  const crunGroup = failureGroups(containers).find((g) => g.first.runtime === 'crun')!;
  const line = groupRemedyLine(crunGroup.cells)!;

  test('one line per group, the cells per result when they disagree', () => {
    expect(line).toMatch(/^runtime runc → remedy verified: crun\/run, crun\/counter, crun\/process-tree and \d+ more; remedy did not help: crun\/tcp-established, crun\/tcp-listen, crun\/udp \(runc checkpoint failed \(exit 1\): CRIU cannot read SO_PASSCRED/);
    expect(groupRemedyLine(failureGroups(rseq)[0]!.cells)).toBe('GLIBC_TUNABLES=glibc.pthread.rseq=0 → remedy verified in 4/4 cells');
  });

  test('text: under the fix of its group', () => {
    const text = renderText(containers).split('\n');
    const fix = text.findIndex((l) => l.startsWith('       fix:   Boot the node with the unified cgroup v2 hierarchy'));
    expect(text[fix + 1]).toBe(`       remedy: ${line}`);
    expect(renderText(rseq)).toContain('       remedy: GLIBC_TUNABLES=glibc.pthread.rseq=0 → remedy verified in 4/4 cells');
  });

  test('Markdown: under the fix of its failure', () => {
    const md = renderMarkdown(rseq);
    expect(md).toMatch(/ {2}- fix: [^\n]*GLIBC_TUNABLES[^\n]*\n {2}- remedy re-run: GLIBC_TUNABLES=glibc\.pthread\.rseq=0 → remedy verified in 4\/4 cells\n/);
  });

  test('JUnit: in the failure text of each cell', () => {
    const xml = renderJUnit(containers);
    expect(xml).toContain('remedy (crun-cgroup-hybrid): runtime runc → remedy verified (re-run PASS)');
    expect(xml).toContain('remedy (crun-cgroup-hybrid): runtime runc → remedy did not help: runc checkpoint failed (exit 1)');
  });

  test('HTML: in the failure group and beside the diagnosis in the cell, marked by result', () => {
    const html = renderHtml(containers);
    expect(html).toContain('<strong>Remedy re-run:</strong> <span class="remedy">runtime runc → remedy verified: crun/run');
    expect(html).toContain('<span class="remedy verified" data-result="remedy verified">runtime runc → remedy verified (re-run PASS)</span>');
    expect(html).toContain('<span class="remedy did-not-help" data-result="remedy did not help">runtime runc → remedy did not help: runc checkpoint failed');
    // Each cell's timeline, as recorded.
    const first = containers.cells[0]!;
    expect(html).toContain(`<pre class="timeline">${first.timeline!.map((e) => `${e.atMs.toFixed(1).padStart(9)} ms  ${e.event}`).join('\n')}\n</pre>`);
  });
});
