import { listNames, notRunLabel, runVerdict } from '../../matrix/model.ts';
import type { RunResults } from '../../results/schema.ts';

/** The run itself: id, times, tool, host, config, counts and verdict. */
export function headerSection(results: RunResults) {
  const h = results.host;
  return {
    runId: results.runId,
    startedAt: results.startedAt,
    finishedAt: results.finishedAt,
    tool: `${results.tool.name} ${results.tool.version}`,
    host: `${h.hostname} · ${h.kernelRelease} · ${h.cpus} CPUs · ${(h.memoryBytes / 2 ** 30).toFixed(0)} GiB`,
    config: results.config.file,
    summary: results.summary,
    exitCode: results.exitCode,
    verdict: runVerdict(results),
    interrupted: results.interrupted,
  };
}

/** What an interrupted run did not get to: the count, and per pool and suite the checks ("all checks" for a suite that never started). */
export function notRunSection(results: RunResults) {
  const bySuite = new Map<string, { pool: string; suite: string; checks: string[] }>();
  for (const n of results.notRun ?? []) {
    const k = `${n.pool}\0${n.suite}`;
    const g = bySuite.get(k) ?? { pool: n.pool, suite: n.suite, checks: [] };
    g.checks.push(n.check === '*' ? 'all checks' : n.check);
    bySuite.set(k, g);
  }
  return { notRun: notRunLabel(results, ''), notRunCells: [...bySuite.values()].map((g) => ({ pool: g.pool, suite: g.suite, names: listNames(g.checks) })) };
}
