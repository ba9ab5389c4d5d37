/**
 * Remedies proved for real, then explained: a cell that FAILs with a
 * diagnosis whose remedy the harness can apply is re-run once with it, and
 * what the re-run concluded is recorded beside the diagnosis. The tests
 * check what the harness concluded from what it ran, not what this machine
 * is expected to show: a cell that passes here needs no remedy.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { remedyTable } from '../../src/criu/remedies.ts';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { cli, harnessProcesses, tempDir } from './harness.ts';

const RESULT = { PASS: 'remedy verified', FAIL: 'remedy did not help', ERROR: 'remedy could not run', SKIP: 'remedy could not run' } as const;

/** What this run left running (other runs on this machine are not ours to judge): its work dirs carry the CLI's pid. */
const leftBy = (pid: number | undefined) => harnessProcesses().filter((l) => pid !== undefined && (l.includes(`criu-compat-run-${pid}-`) || l.includes(`criu-compat-vm-${pid}-`)));

async function run(yaml: string[]): Promise<{ results: RunResults; dir: string; all: string; pid: number | undefined }> {
  const dir = tempDir('criu-compat-remedy-');
  const cfg = join(dir, 'pools.yaml');
  writeFileSync(cfg, [...yaml, ''].join('\n'));
  const out = join(dir, 'out');
  const p = cli(['run', '--config', cfg, '--out', out, '--no-progress']);
  const r = await p;
  expect([0, 1], r.all).toContain(r.exitCode);
  const runDir = join(out, readdirSync(out)[0]!);
  return { results: RunResults.parse(JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8'))), dir: runDir, all: r.all, pid: p.pid };
}

/**
 * Every FAIL whose first remedy-bearing diagnosis has a remedy was re-run, up to the budget per pool, suite and cause
 * (settings.remedyReruns, default 3), and each result follows the re-run's own verdict.
 */
function checkRemedies(cells: readonly Cell[], budget = 3): Cell[] {
  const REMEDIES = remedyTable();
  const withRemedy = cells.filter((c) => c.status === 'FAIL' && c.diagnoses.some((d) => d.blame !== 'note' && REMEDIES[d.id]));
  const groups = new Map<string, Cell[]>();
  for (const c of withRemedy) {
    const cause = c.diagnoses.find((d) => d.blame !== 'note' && REMEDIES[d.id])!.id;
    const k = `${c.pool}/${c.suite}/${cause}`;
    groups.set(k, [...(groups.get(k) ?? []), c]);
    expect(c.status).toBe('FAIL'); // the tuple as configured stays broken
  }
  for (const [k, group] of groups) {
    const rerun = group.filter((c) => c.remedy);
    expect(rerun.length, `${k}: ${group.length} FAILs with a remedy, ${rerun.length} re-run`).toBe(Math.min(group.length, budget));
    for (const c of rerun) expect(c.remedy!.result).toBe(RESULT[c.remedy!.status]);
  }
  for (const c of cells.filter((x) => x.status !== 'FAIL')) expect(c.remedy).toBeUndefined();
  return withRemedy.filter((c) => c.remedy);
}

describe('remedy re-runs', () => {
  test('Debian 12 CRIU on a 5.10 VM: an rseq FAIL re-run with GLIBC_TUNABLES=glibc.pthread.rseq=0; explain tells the story', async () => {
    const { results, dir, all, pid } = await run([
      'pools:',
      '  - {name: k510, kernel: debian/bullseye, image: debian-bookworm, vm: {memoryMiB: 1536}}',
      'migrations: [{name: self, pools: [k510], workloads: [counter], modes: [cold]}]',
      'settings: {suites: [round-trip, migration], workloads: [counter]}',
    ]);
    // The migration path too (the diagonal: dumped and restored on the same VM through the migration cell).
    const moved = results.cells.filter((c) => c.suite === 'migration');
    expect(moved.length).toBe(1);
    for (const c of checkRemedies(moved).filter((x) => x.remedy!.signature === 'rseq-no-get-rseq-conf')) {
      expect(c.timeline!.map((e) => e.event)).toContain('[k510] criu dump end: exit 1');
      expect(c.remedy!.commands!.every((x) => x.startsWith('[k510] criu '))).toBe(true);
    }
    const cells = results.cells.filter((c) => c.suite === 'round-trip');
    expect(cells.length).toBe(3);
    const tried = checkRemedies(cells);
    for (const c of cells) {
      const events = c.timeline!.map((e) => e.event);
      expect(events.slice(0, 2)).toEqual(['gate start', 'gate end']);
      expect(events).toContain('ready');
      expect(events.at(-1)).toBe('cleanup end');
    }
    for (const c of tried.filter((x) => x.remedy!.signature === 'rseq-no-get-rseq-conf')) {
      expect(c.remedy!.applied).toBe('GLIBC_TUNABLES=glibc.pthread.rseq=0');
      // The dump that failed is where the timeline stops, and the re-run ran CRIU itself.
      expect(c.timeline!.map((e) => e.event)).toContain('dump end: exit 1');
      expect(c.remedy!.commands!.some((x) => x.startsWith('criu dump'))).toBe(true);
    }
    expect(all).toMatch(tried.length ? /remedy: GLIBC_TUNABLES=glibc\.pthread\.rseq=0 → / : /round-trip/);

    const counter = cells.find((c) => c.check === 'counter')!;
    const ex = await cli(['explain', dir, 'k510', 'round-trip', 'counter']);
    expect(ex.exitCode, ex.all).toBe(0);
    expect(ex.stdout).toMatch(new RegExp(`^k510 › round-trip › counter: ${counter.status}\\n`));
    for (const e of counter.timeline!) expect(ex.stdout).toContain(`  ${e.event}\n`);
    for (const cmd of counter.commands) expect(ex.stdout).toContain(`  ${cmd}\n`);
    if (counter.remedy) expect(ex.stdout).toContain(`  result:   ${counter.remedy.result} (re-run ${counter.remedy.status})`);
    const bad = await cli(['explain', join(dir, 'results.json'), 'k510 › round-trip › countr']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('  k510 › round-trip › counter');
    expect(leftBy(pid)).toEqual([]);
  });

  test('runtime suite on this kernel: a crun FAIL whose remedy is runc is re-run with runc on the same node', async () => {
    const { results, pid } = await run([
      'pools:',
      '  - {name: ctr, kernel: host, image: debian-trixie-containers, criu: {env: {CRIU_FAULT: "130"}}}',
      'settings: {suites: [runtime], runtimes: [crun]}',
    ]);
    const cells = results.cells.filter((c) => c.suite === 'runtime');
    expect(cells.length).toBeGreaterThan(5);
    for (const c of checkRemedies(cells)) {
      if (c.remedy!.applied !== 'runtime runc') continue;
      // The re-run drove runc itself, never crun.
      expect(c.remedy!.commands!.join('\n')).toMatch(/\brunc\b/);
      expect(c.remedy!.commands!.join('\n')).not.toMatch(/'crun'|^crun /m);
    }
    expect(leftBy(pid)).toEqual([]);
  });
});
