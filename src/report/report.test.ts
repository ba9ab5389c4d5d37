import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../results/schema.ts';
import { renderHtml, reportModel } from './html.ts';
import { resultsJsonSchema } from './json-schema.ts';
import { renderJUnit } from './junit.ts';
import { renderMarkdown } from './markdown.ts';

// results.json of a real run of the embedded default here (3 host pools, 6 VM pools).
const results = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')));
const count = (s: string, re: RegExp) => (s.match(re) ?? []).length;

describe('reports from a recorded real run', () => {
  test('Markdown: headline, one matrix row per pool, each failure cause once with its fix', () => {
    const md = renderMarkdown(results);
    expect(md).toMatch(/^## criu-compat: some tuples FAIL/);
    for (const p of results.pools) expect(md).toMatch(new RegExp(`^\\| ${p.name.replace('.', '\\.')} \\|`, 'm'));
    expect(md).toMatch(/\| k5\.10-bookworm \| 5\.10\.0-32-amd64 \| qemu \(tcg\) \| 3\.17\.1 \| – \| ✅ PASS 36\/42 \| ❌ FAIL 0\/8 \|/);
    expect(count(md, /cause: glibc 2\.35 and newer/g)).toBe(2); // k5.10-bookworm and k5.10-trixie, once each
    expect(md.split('\n').length).toBeLessThan(60);
  });

  test('Markdown folds the skips, each with what is missing', () => {
    const md = renderMarkdown(results);
    expect(md).toContain(`<details><summary>Skipped: ${results.summary.SKIP} (capability missing)</summary>`);
    expect(md).toContain('- ⏭️ **k6.1-trixie**: missing apparmor_stacking, pagemap_scan, overlayfs_maps\n');
    expect(md).toContain('- ⏭️ **host-trixie** › round-trip › counter/pre-dump: missing mem_dirty_track (memory dirty tracking, needed by pre-dump)\n');
    expect(md.split('\n').filter((l) => l.startsWith('- ⏭️') && l.includes('check --all'))).toEqual([]);
  });

  test("HTML inventory: the node's CPU and a VM's -cpu when recorded; older files say not recorded", () => {
    const withCpu = structuredClone(results);
    const vm = withCpu.pools.find((p) => p.inventory?.vm)!;
    vm.inventory!.cpu = { model: 'Intel Core i7 9xx (Nehalem Class Core i7)', flags: ['fpu', 'sse4_2'] };
    vm.inventory!.vm!.cpuModel = 'Nehalem,-popcnt';
    const html = renderHtml(RunResults.parse(withCpu));
    expect(html).toContain('Intel Core i7 9xx (Nehalem Class Core i7) (2 flags: fpu sse4_2)');
    expect(html).toContain('(-cpu Nehalem,-popcnt)');
    expect(renderHtml(results)).toContain('not recorded');
  });

  test('Markdown puts regressions first when the gate gives them', () => {
    const md = renderMarkdown(results, { regressions: ['k6.1-trixie › round-trip › counter: PASS → FAIL'] });
    expect(md.indexOf('### Regressions')).toBeLessThan(md.indexOf('| pool |'));
  });

  test('JUnit: one testcase per cell; FAIL, ERROR and SKIP mapped to failure, error and skipped', () => {
    const xml = renderJUnit(results);
    expect(count(xml, /<testcase /g)).toBe(results.cells.length);
    expect(count(xml, /<failure /g)).toBe(results.summary.FAIL);
    expect(count(xml, /<error /g)).toBe(results.summary.ERROR);
    expect(count(xml, /<skipped /g)).toBe(results.summary.SKIP);
    expect(xml).toMatch(/<testsuites name="criu-compat [^"]+" tests="471" failures="76" errors="0" skipped="33"/);
    expect(xml).toMatch(/<testcase classname="k5\.10-bookworm\.round-trip" name="counter" time="[\d.]+">\n\s+<failure message="criu dump failed \(exit 1\): The task uses rseq[^"]*" type="rseq-no-get-rseq-conf">/);
    expect(xml).not.toMatch(/[\u0000-\u0008]/);
  });

  test('JSON Schema generated from the zod schema covers every top-level field', () => {
    const schema = resultsJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    for (const k of Object.keys(results)) expect(Object.keys(schema.properties)).toContain(k);
    expect(Object.keys(schema.properties)).toEqual(expect.arrayContaining(['shard', 'mergedFrom']));
    expect(schema.required).toContain('cells');
    expect(schema.required).not.toContain('shard');
  });

  test('HTML model: columns grouped by suite, every cell has a detail, VM pools show their accelerator', () => {
    const m = reportModel(results);
    expect(m.suites.map((s) => s.suite)).toEqual(['criu-check', 'round-trip']);
    expect(m.columns.slice(0, 4).map((c) => c.check)).toEqual(['version', 'check', 'check --all', 'features']);
    expect(m.details).toHaveLength(results.cells.length);
    expect(m.pools.find((p) => p.name === 'k6.1-trixie')!.backend).toBe('qemu (tcg)');
    expect(m.scaleChart).toMatch(/^<svg/);
    const html = renderHtml(results);
    expect(html).not.toMatch(/<(script|link|img)[^>]+(src|href)="https?:/); // nothing fetched at view time
  });
});
