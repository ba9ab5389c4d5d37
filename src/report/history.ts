import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import Handlebars from 'handlebars';
import { worstStatus } from '../matrix/model.ts';
import type { RunResults, Status } from '../results/schema.ts';
import { writeFileAtomic } from '../util/fs.ts';
import { readRun, writeReports } from './write.ts';

/** Every run under DIR (each DIR/<run>/results.json), oldest first. Unreadable runs are errors, not silently skipped. */
export async function findRuns(dir: string): Promise<{ dir: string; results: RunResults }[]> {
  const out: { dir: string; results: RunResults }[] = [];
  for (const e of await readdir(dir)) {
    const d = join(dir, e);
    if (!(await stat(join(d, 'results.json')).catch(() => undefined))?.isFile()) continue;
    out.push({ dir: d, results: await readRun(d) });
  }
  return out.sort((a, b) => a.results.startedAt.localeCompare(b.results.startedAt));
}

const TEMPLATE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>criu-compat history</title>
<style>
 body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d232b; }
 table { border-collapse: collapse; } th, td { border: 1px solid #d0d4da; padding: 4px 8px; text-align: left; }
 th { background: #f2f4f7; font-size: 12px; }
 .PASS { background: #d9f2d9; } .FAIL { background: #fbd5d5; } .ERROR { background: #fde7c2; } .SKIP { background: #e8eaf0; } .NONE { color: #999; }
 td.s { text-align: center; font-size: 12px; font-weight: 600; }
</style></head><body>
<h1>Node-pool compatibility over time</h1>
<p>{{runs.length}} runs, oldest first. Each square is the pool's worst status in that run; click a run for its full report.</p>
<table id="trend">
<tr><th>pool</th>{{#each runs}}<th><a href="{{href}}">{{date}}</a></th>{{/each}}</tr>
{{#each pools}}<tr data-pool="{{name}}"><td>{{name}}</td>{{#each statuses}}<td class="s {{cls}}" title="{{title}}">{{label}}</td>{{/each}}</tr>{{/each}}
</table>
<h2>Runs</h2>
<table id="runs"><tr><th>run</th><th>started</th><th>pools</th><th>passed</th><th>failed</th><th>errors</th><th>skipped</th><th>exit</th></tr>
{{#each runs}}<tr><td><a href="{{href}}">{{id}}</a></td><td>{{started}}</td><td>{{pools}}</td><td>{{s.PASS}}</td><td>{{s.FAIL}}</td><td>{{s.ERROR}}</td><td>{{s.SKIP}}</td><td>{{exit}}</td></tr>{{/each}}
</table></body></html>
`;

/**
 * A static site of runs over time: each run's report (written if missing)
 * and DIR/index.html with every pool's status per run.
 */
export async function writeHistory(dir: string): Promise<{ index: string; runs: number }> {
  const runs = await findRuns(dir);
  for (const r of runs) if (!(await stat(join(r.dir, 'report.html')).catch(() => undefined))) await writeReports(r.results, r.dir);
  const poolNames = [...new Set(runs.flatMap((r) => r.results.pools.map((p) => p.name)))];
  const worstOf = (r: RunResults, pool: string): Status | 'NONE' => {
    const p = r.pools.find((x) => x.name === pool);
    if (!p) return 'NONE';
    if (p.error) return 'ERROR';
    return worstStatus(r.cells.filter((c) => c.pool === pool).map((c) => c.status)) ?? 'NONE';
  };
  const html = Handlebars.compile(TEMPLATE)({
    runs: runs.map((r) => ({
      id: r.results.runId,
      date: r.results.startedAt.slice(0, 16).replace('T', ' '),
      started: r.results.startedAt,
      href: `${relative(dir, r.dir)}/report.html`,
      pools: r.results.pools.length,
      s: r.results.summary,
      exit: r.results.exitCode,
    })),
    pools: poolNames.map((name) => ({
      name,
      statuses: runs.map((r) => {
        const st = worstOf(r.results, name);
        return { cls: st, label: st === 'NONE' ? '–' : st, title: st === 'NONE' ? 'not in this run' : `${name} in ${r.results.runId}` };
      }),
    })),
  });
  const index = join(dir, 'index.html');
  await writeFileAtomic(index, html);
  return { index, runs: runs.length };
}
