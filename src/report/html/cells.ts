import { causeOf, failureGroups } from '../../matrix/groups.ts';
import { listNames } from '../../matrix/model.ts';
import { cellRemedyLine, groupRemedyLine } from '../../matrix/remedy-line.ts';
import type { Cell, RunResults } from '../../results/schema.ts';
import { fmtNumber, type CellIds } from './format.ts';

const broken = (c: Cell) => c.status === 'FAIL' || c.status === 'ERROR';

function metricsOf(c: Cell): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const [k, v] of Object.entries(c.durations)) if (typeof v === 'number') out.push({ name: `durations.${k}`, value: fmtNumber(k, v) });
  const m = c.metrics;
  if (m.imageBytes !== undefined) out.push({ name: 'image size', value: fmtNumber('imageBytes', m.imageBytes) });
  for (const [group, rec] of [
    ['criu dump', m.criuDump],
    ['criu restore', m.criuRestore],
    ['runtime reported', m.runtimeStats],
  ] as const)
    for (const [k, v] of Object.entries(rec ?? {})) out.push({ name: `${group}: ${k}`, value: fmtNumber(k, v) });
  if (m.observedStallUs !== undefined) out.push({ name: 'stall seen by the workload', value: fmtNumber('observedStallUs', m.observedStallUs) });
  if (m.dumpMsPerGiB !== undefined) out.push({ name: 'dump time per GiB', value: fmtNumber('dumpMsPerGiB', m.dumpMsPerGiB) });
  if (m.archiveBytes !== undefined) out.push({ name: 'checkpoint archive', value: fmtNumber('archiveBytes', m.archiveBytes) });
  for (const [k, v] of Object.entries(m.migration ?? {})) out.push({ name: `migration: ${k}`, value: fmtNumber(k, v) });
  // freezeMsP95, imageBytesMax…: the unit is read from the name without its statistic.
  for (const [k, v] of Object.entries(m.pilot ?? {})) out.push({ name: `pilot: ${k}`, value: fmtNumber(k.replace(/(P95|Max)$/, ''), v) });
  if (c.fallback) out.push({ name: 'fallback on the source', value: `${c.fallback.status}: ${c.fallback.reason}` });
  if (m.statsError) out.push({ name: 'stats', value: m.statsError });
  return out;
}

function detailOf(c: Cell, ids: CellIds) {
  return {
    id: ids(c),
    pool: c.pool,
    suite: c.suite,
    check: c.check,
    status: c.status,
    reason: c.reason,
    diagnoses: c.diagnoses.map((d) => ({ title: d.title, cause: d.cause, remediation: d.remediation, blame: d.blame, evidence: d.evidence, remedy: c.remedy?.signature === d.id ? remedyOf(c) : null })),
    metrics: metricsOf(c),
    distribution: Object.entries(c.distribution ?? {}).map(([name, d]) => ({ name, n: d.n, p50: fmtNumber(name, d.p50), p95: fmtNumber(name, d.p95), max: fmtNumber(name, d.max) })),
    ...(c.repetitions ? { repetitions: `${c.repetitions.successes}/${c.repetitions.attempts} attempts passed (${(c.repetitions.successRate * 100).toFixed(1)}%)` } : {}),
    commands: c.commands,
    timeline: (c.timeline ?? []).map((e) => `${e.atMs.toFixed(1).padStart(9)} ms  ${e.event}`),
    log: c.logExcerpt,
    workload: c.workloadOutput ?? [],
  };
}

/** A cell's remedy re-run, for the page: its line, the result as a class (verified / did-not-help / could-not-run) and its commands. */
function remedyOf(c: Cell) {
  const r = c.remedy!;
  return { line: cellRemedyLine(c)!, result: r.result, kind: r.result.replace(/^remedy /, '').replace(/\s+/g, '-'), commands: r.commands ?? [] };
}

/** Every cell's details (reason, diagnoses, metrics, commands, logs): failures and errors first, in their groups' order; then the rest in run order. */
export function detailsSection(results: RunResults, ids: CellIds) {
  return [...failureGroups(results).flatMap((g) => g.cells), ...results.cells.filter((c) => !broken(c))].map((c) => detailOf(c, ids));
}

/**
 * Failures once per pool, suite and cause (as the text summary groups them),
 * each with its cells linking to their details; pools that could not be set
 * up come first.
 */
export function failuresSection(results: RunResults, ids: CellIds) {
  return {
    poolErrors: results.pools.filter((p) => p.error).map((p) => ({ pool: p.name, error: p.error! })),
    groups: failureGroups(results).map((g) => {
      const d = causeOf(g.first);
      return {
        pool: g.pool,
        suite: g.suite,
        status: g.status,
        count: g.cells.length,
        countLabel: `${g.cells.length} cell${g.cells.length === 1 ? '' : 's'}`,
        names: listNames(g.checks),
        /** The diagnosis' title, else the first cell's reason. */
        headline: d?.title ?? g.first.reason,
        cause: d ? { title: d.title, cause: d.cause, remediation: d.remediation } : null,
        remedy: groupRemedyLine(g.cells) ?? null,
        cells: g.cells.map((c) => ({ id: ids(c), check: c.check, reason: c.reason })),
      };
    }),
  };
}
