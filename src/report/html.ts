import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { notRunLabel, runtimesLabel, worstStatus } from '../matrix/text.ts';
import { SUITES } from '../config/schema.ts';
import type { Cell, PoolResult, RunResults, Status } from '../results/schema.ts';
import { featureOf } from '../results/cell-fields.ts';

/**
 * The HTML report: one self-contained file (inline CSS, a few lines of
 * inline script, an inline SVG chart; nothing fetched at view time), rendered
 * with handlebars from a view model built here. Only what results.json holds
 * is shown: reasons, diagnoses, metrics, CRIU commands and log excerpts —
 * never memory contents (results.json never holds any).
 */

const FEATURES_COLUMN = 'features';

interface CellView {
  id: string;
  status: Status | 'NONE';
  label: string;
  title: string;
}

interface DetailView {
  id: string;
  pool: string;
  suite: string;
  check: string;
  status: Status;
  reason: string;
  open: boolean;
  diagnoses: { title: string; cause: string; remediation: string; blame: string; evidence: string }[];
  metrics: { name: string; value: string }[];
  distribution: { name: string; n: number; p50: string; p95: string; max: string }[];
  repetitions?: string;
  commands: string[];
  log: string[];
  workload: string[];
}

function fmtNumber(name: string, v: number): string {
  if (/Us$/.test(name)) return v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(0)} µs`;
  if (/Ms$/.test(name)) return `${v.toFixed(0)} ms`;
  if (/Bytes$/.test(name)) return v >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(1)} MiB` : `${(v / 1024).toFixed(1)} KiB`;
  if (/PerGiB$/.test(name)) return `${(v / 1000).toFixed(2)} s/GiB`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

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

/** Matrix columns: criu-check's three checks plus one "features" column; every other suite's checks in order. */
function columnsOf(results: RunResults): { suite: string; check: string }[] {
  // Suites in their canonical order, and within each its checks in order of first appearance (suites run side by side, so cells interleave).
  const bySuite = new Map<string, string[]>();
  for (const c of results.cells) {
    const check = featureOf(c) !== undefined ? FEATURES_COLUMN : c.check;
    const list = bySuite.get(c.suite) ?? [];
    if (!list.includes(check)) list.push(check);
    bySuite.set(c.suite, list);
  }
  const rank = (x: string) => ((SUITES as readonly string[]).includes(x) ? (SUITES as readonly string[]).indexOf(x) : SUITES.length);
  return [...bySuite].sort(([a], [b]) => rank(a) - rank(b)).flatMap(([suite, checks]) => checks.map((check) => ({ suite, check })));
}

/** Line chart of dump time against big-mem size, one line per pool (inline SVG). */
function scaleChart(results: RunResults): string | null {
  const series = results.pools
    .map((p) => ({
      pool: p.name,
      points: results.cells
        .filter((c) => c.pool === p.name && c.check.startsWith('big-mem/') && c.status === 'PASS' && c.durations.dumpMs !== undefined)
        .map((c) => ({ mib: Number(/(\d+)MiB/.exec(c.check)?.[1] ?? 0), ms: c.durations.dumpMs! }))
        .sort((a, b) => a.mib - b.mib),
    }))
    .filter((s) => s.points.length);
  if (!series.length) return null;
  const W = 640;
  const H = 300;
  const L = 60;
  const B = 40;
  const maxX = Math.max(...series.flatMap((s) => s.points.map((p) => p.mib)));
  const maxY = Math.max(...series.flatMap((s) => s.points.map((p) => p.ms)));
  const x = (v: number) => L + (v / maxX) * (W - L - 50);
  const y = (v: number) => H - B - (v / maxY) * (H - B - 20);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];
  const esc = Handlebars.escapeExpression;
  const parts = [`<svg class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="dump time by big-mem size">`];
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" class="axis"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" class="axis"/>`);
  for (let i = 0; i <= 4; i++) {
    const vy = (maxY * i) / 4;
    parts.push(`<text x="${L - 6}" y="${y(vy) + 4}" text-anchor="end">${(vy / 1000).toFixed(1)} s</text>`);
  }
  for (const mib of [...new Set(series.flatMap((s) => s.points.map((p) => p.mib)))]) parts.push(`<text x="${x(mib)}" y="${H - B + 16}" text-anchor="middle">${mib} MiB</text>`);
  parts.push(`<text x="${(W + L) / 2}" y="${H - 4}" text-anchor="middle">big-mem size → criu dump wall time</text>`);
  series.forEach((s, i) => {
    const col = colors[i % colors.length];
    parts.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${s.points.map((p) => `${x(p.mib).toFixed(1)},${y(p.ms).toFixed(1)}`).join(' ')}"/>`);
    for (const p of s.points) parts.push(`<circle cx="${x(p.mib).toFixed(1)}" cy="${y(p.ms).toFixed(1)}" r="3.5" fill="${col}"><title>${esc(s.pool)}: ${p.mib} MiB in ${p.ms.toFixed(0)} ms</title></circle>`);
    parts.push(`<rect x="${W - 190}" y="${14 + i * 16}" width="10" height="10" fill="${col}"/><text x="${W - 175}" y="${23 + i * 16}">${esc(s.pool)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

export function reportModel(results: RunResults) {
  const cols = columnsOf(results);
  const ids = new Map<Cell, string>();
  results.cells.forEach((c, i) => ids.set(c, `c${i}`));
  const suites = [...new Set(cols.map((c) => c.suite))].map((suite) => ({ suite, span: cols.filter((c) => c.suite === suite).length }));
  const poolRow = (p: PoolResult) => {
    const cells: CellView[] = cols.map((col) => {
      if (col.check === FEATURES_COLUMN) {
        const fs = results.cells.filter((c) => c.pool === p.name && c.suite === col.suite && featureOf(c) !== undefined);
        const s = worstStatus(fs.filter((c) => c.status !== 'SKIP').map((c) => c.status)) ?? (fs.length ? 'SKIP' : null);
        const ok = fs.filter((c) => c.status === 'PASS').length;
        const broken = fs.find((c) => c.status === 'FAIL' || c.status === 'ERROR');
        return { id: broken ? ids.get(broken)! : '', status: s ?? 'NONE', label: fs.length ? `${ok}/${fs.length}` : '–', title: `${ok} of ${fs.length} features present` };
      }
      const c = results.cells.find((x) => x.pool === p.name && x.suite === col.suite && x.check === col.check);
      if (!c) return { id: '', status: p.error ? 'ERROR' : 'NONE', label: p.error ? 'ERROR' : '–', title: p.error ?? 'not run' };
      const label = c.repetitions ? `${c.status} ${c.repetitions.successes}/${c.repetitions.attempts}` : c.status;
      return { id: ids.get(c)!, status: c.status, label, title: c.reason };
    });
    const inv = p.inventory;
    return {
      name: p.name,
      description: p.description ?? '',
      kernel: inv?.kernelRelease ?? p.kernel,
      kernelSource: p.kernel,
      backend: inv?.vm ? `${p.backend} (${inv.vm.accelerator})` : p.backend,
      image: p.image?.name ?? '?',
      imageTitle: p.image ? `${p.image.osRelease}, ${inv?.libc ?? 'libc ?'}` : '',
      criu: inv?.criuVersion ?? '?',
      runtimes: runtimesLabel(p),
      libc: inv?.libc ?? '?',
      error: p.error ?? '',
      cells,
    };
  };
  const details: DetailView[] = results.cells.map((c) => ({
    id: ids.get(c)!,
    pool: c.pool,
    suite: c.suite,
    check: c.check,
    status: c.status,
    reason: c.reason,
    open: false,
    diagnoses: c.diagnoses.map((d) => ({ title: d.title, cause: d.cause, remediation: d.remediation, blame: d.blame, evidence: d.evidence })),
    metrics: metricsOf(c),
    distribution: Object.entries(c.distribution ?? {}).map(([name, d]) => ({ name, n: d.n, p50: fmtNumber(name, d.p50), p95: fmtNumber(name, d.p95), max: fmtNumber(name, d.max) })),
    ...(c.repetitions ? { repetitions: `${c.repetitions.successes}/${c.repetitions.attempts} attempts passed (${(c.repetitions.successRate * 100).toFixed(1)}%)` } : {}),
    commands: c.commands,
    log: c.logExcerpt,
    workload: c.workloadOutput ?? [],
  }));
  const features = [...new Set(results.pools.flatMap((p) => Object.keys(p.capabilities)))].sort();
  // CRIU's frozen time: from its stats-dump, or as podman --print-stats reported it.
  const frozenOf = (c: Cell) => c.distribution?.['criuDump.frozenTimeUs']?.p50 ?? c.metrics.criuDump?.frozenTimeUs ?? c.metrics.runtimeStats?.['checkpoint.criu.frozenTimeUs'];
  const workloadChecks = [...new Set(results.cells.filter((c) => frozenOf(c) !== undefined).map((c) => c.check))];
  const fmtFrozen = (pool: string, check: string) => {
    const c = results.cells.find((x) => x.pool === pool && x.check === check && frozenOf(x) !== undefined);
    return c ? fmtNumber('frozenTimeUs', frozenOf(c)!) : '–';
  };
  return {
    runId: results.runId,
    startedAt: results.startedAt,
    finishedAt: results.finishedAt,
    tool: `${results.tool.name} ${results.tool.version}`,
    host: `${results.host.hostname} · ${results.host.kernelRelease} · ${results.host.cpus} CPUs · ${(results.host.memoryBytes / 2 ** 30).toFixed(0)} GiB`,
    config: results.config.file,
    summary: results.summary,
    exitCode: results.exitCode,
    verdict: results.exitCode === 0 ? 'PASS' : results.exitCode === 1 ? 'FAIL' : 'ERROR',
    interrupted: results.interrupted,
    notRun: notRunLabel(results, ''),
    suites,
    columns: cols.map((c) => ({ ...c, label: c.check })),
    pools: results.pools.map(poolRow),
    details,
    capabilities: features.map((f) => ({ name: f, values: results.pools.map((p) => (p.capabilities[f] === undefined ? 'unknown' : p.capabilities[f] ? 'yes' : 'no')) })),
    poolNames: results.pools.map((p) => p.name),
    frozen: { checks: workloadChecks, rows: results.pools.map((p) => ({ pool: p.name, values: workloadChecks.map((k) => fmtFrozen(p.name, k)) })) },
    scaleChart: scaleChart(results),
    migrations: results.cells
      .filter((c) => c.suite === 'runtime' && c.check.endsWith('/export-import'))
      .map((c) => ({
        id: ids.get(c)!,
        source: `${c.pool}`,
        destination: `${c.pool} (second node)`,
        runtime: c.check.split('/')[0]!,
        status: c.status,
        reason: c.reason,
        archive: c.metrics.archiveBytes !== undefined ? fmtNumber('Bytes', c.metrics.archiveBytes) : '–',
        downtime: c.durations.dumpMs !== undefined && c.durations.restoreMs !== undefined ? fmtNumber('Ms', c.durations.dumpMs + c.durations.restoreMs) : '–',
      })),
    inventories: results.pools.map((p) => ({
      name: p.name,
      rows: [
        ['kernel', `${p.inventory?.kernelRelease ?? '?'} (${p.kernel})`],
        ['backend', p.inventory?.vm ? `${p.backend}, ${p.inventory.vm.acceleratorReason}, ${p.inventory.vm.memoryMiB} MiB, ${p.inventory.vm.cpus} vCPU, QEMU ${p.inventory.vm.qemu}` : p.backend],
        ['node image', p.image ? `${p.image.name}: ${p.image.osRelease} (${p.image.source}, key ${p.image.key})` : '?'],
        ['CRIU', p.inventory?.criuVersion ?? '?'],
        [
          'container runtimes',
          p.inventory?.runtimes
            ? p.inventory.runtimes.map((r) => `${r.name} ${r.version ?? 'not installed'}${r.version ? `: ${r.detail}` : ''}${r.features.length ? ` [${r.features.join(' ')}]` : ''}${r.settings ? `; run with ${Object.entries(r.settings).map(([k, v]) => `${k} ${v}`).join(', ')}` : ''}`)
            : 'not probed',
        ],
        ['libc', p.inventory?.libc ?? '?'],
        ['cgroup mode', p.inventory?.cgroupMode ?? '?'],
        ['debug-register breakpoints', p.inventory ? `${p.inventory.hwBreakpoints.works === null ? 'unknown' : p.inventory.hwBreakpoints.works ? 'work' : 'do not work'} (${p.inventory.hwBreakpoints.detail})` : '?'],
        ['kernel config', p.inventory?.kernelConfig ? Object.entries(p.inventory.kernelConfig).map(([k, v]) => `${k.replace(/^CONFIG_/, '')}=${v ?? 'n'}`).join(' ') : 'not readable'],
        ['packages', p.inventory ? Object.entries(p.inventory.packages).map(([k, v]) => `${k} ${v}`).join(', ') : '?'],
        ['CRIU environment', Object.entries(p.criuEnv).map(([k, v]) => `${k}=${v}`).join(' ') || '–'],
        ['phases', p.phases ? `provision ${fmtNumber('Ms', p.phases.provisionMs)}, boot ${fmtNumber('Ms', p.phases.bootMs)}, suites ${fmtNumber('Ms', p.phases.suitesMs)}, teardown ${fmtNumber('Ms', p.phases.teardownMs)}` : '–'],
      ].map(([k, v]) => ({ k, lines: typeof v === 'string' ? [v] : v })),
    })),
  };
}

let compiled: HandlebarsTemplateDelegate | undefined;

export function renderHtml(results: RunResults): string {
  compiled ??= Handlebars.compile(readFileSync(join(import.meta.dirname, 'report.hbs'), 'utf8'), { strict: false });
  const model = reportModel(results);
  return compiled({ ...model, scaleChart: model.scaleChart ? new Handlebars.SafeString(model.scaleChart) : null });
}

