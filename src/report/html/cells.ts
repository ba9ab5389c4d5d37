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
    diagnoses: c.diagnoses.map((d) => ({ title: d.title, cause: d.cause, remediation: d.remediation, blame: d.blame, evidence: d.evidence })),
    metrics: metricsOf(c),
    distribution: Object.entries(c.distribution ?? {}).map(([name, d]) => ({ name, n: d.n, p50: fmtNumber(name, d.p50), p95: fmtNumber(name, d.p95), max: fmtNumber(name, d.max) })),
    ...(c.repetitions ? { repetitions: `${c.repetitions.successes}/${c.repetitions.attempts} attempts passed (${(c.repetitions.successRate * 100).toFixed(1)}%)` } : {}),
    commands: c.commands,
    log: c.logExcerpt,
    workload: c.workloadOutput ?? [],
  };
}

/** Every cell's details (reason, diagnoses, metrics, commands, logs): failures and errors first, each part in run order. */
export function detailsSection(results: RunResults, ids: CellIds) {
  return [...results.cells.filter(broken), ...results.cells.filter((c) => !broken(c))].map((c) => detailOf(c, ids));
}
