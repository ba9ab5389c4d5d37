import { hostname, cpus, totalmem, release, arch } from 'node:os';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { createVitest } from 'vitest/node';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { selectPools, selectionLabel } from '../config/select.ts';
import { prepareHost } from '../host/prepare.ts';
import { needsOf } from '../host/requirements.ts';
import { RunResults, exitCodeFor, summarize, type Cell, type NotRun, type PoolResult } from '../results/schema.ts';
import { removeTree, writeFileAtomic } from '../util/fs.ts';
import { redactDeep } from '../util/redact.ts';
import { CellCollector } from './collector.ts';
import { sweepStaleScratch } from '../util/cache-entry.ts';
import { newRunId } from './run-id.ts';
import { writeReports } from '../report/write.ts';
import type { RunPlan } from '../plan/plan.ts';
import { Progress } from './progress.ts';
import { PROJECT_ROOT, buildNatives, provisionPools, type ProvisionedPool } from './provision.ts';
import { kernelLabel } from '../config/schema.ts';
import { sweepHostCgroups } from '../runtimes/cgroup-sweep.ts';
import { useOperatorSignatures } from '../criu/signatures.ts';
import { allBackends } from '../backends/registry.ts';
import { networkFor, sessionsFor, suitesOfPool, workloadsFor } from '../suites/registry.ts';
import { createNodeNetwork, sweepStaleNetworks, teardownNodeNetwork, type NodeNetworkSpec } from '../environments/network/node-network.ts';
import { runInGroups } from './pool-groups.ts';
import { assignWorkloadBuilds } from './workload-build.ts';
import { capabilitiesOf } from '../results/cell-fields.ts';
import { PAIR_SUITE, migrationPairs, pairNeedsNetwork, pilotPairs } from '../plan/migration-pairs.ts';
import type { MigrationPair } from '../plan/plan.ts';
import { migrationCases } from './migration.ts';
import { PILOT_SUITE, judgePilots } from '../matrix/pilot-verdicts.ts';
import { abandonHygiene, finishHygiene, startHygiene, type HygieneOptions } from './artifacts-run.ts';
import { makeWorkRoot, sweepStaleWorkDirs } from './work-dirs.ts';

export interface RunOptions {
  configFile?: string;
  /** The config, already loaded (and its files checked) by the caller; else configFile is loaded. */
  loaded?: LoadedConfig;
  pools?: string[];
  outDir: string;
  cacheDir: string;
  mirror?: string;
  keepArtifacts: boolean;
  /** Kept artifacts' TTL, quota and key; the audit log; the command line it records. */
  hygiene?: HygieneOptions;
  /** Overrides settings.repeat. */
  repeat?: number;
  jobs: number;
  /** Run only every count-th pool, starting at index (1-based): CI matrix jobs; join them with `merge`. */
  shard?: { index: number; count: number };
  /** Overrides settings.accel. */
  accel?: 'kvm' | 'tcg' | 'auto';
  progress: boolean;
  /** Install what the host lacks for these pools first (npm start), instead of refusing with the list. */
  setup?: boolean;
  /** Set by the CLI's signal handler: stop as soon as possible, clean up, report what ran. */
  signal?: AbortSignal;
}

const TOOL_VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** Runs the matrix end to end and writes OUT/RUN-ID/results.json. Returns the results and their directory. */
export async function runMatrix(opts: RunOptions): Promise<{ results: RunResults; runDir: string }> {
  const loaded = opts.loaded ?? (await loadConfig(opts.configFile)); // ConfigError (exit 2) before anything is written
  if (opts.repeat) loaded.config.settings.repeat = opts.repeat;
  useOperatorSignatures(loaded.config.settings.signatures, loaded.file); // diagnoses made in this process (migrations' pairs) use them too
  const pools = selectPools(loaded, opts.pools, opts.shard);
  // Everything the selected pools need on this machine, before anything is built or written: one message, not thirty ERROR cells.
  await prepareHost({ needs: needsOf(loaded, pools), cacheDir: opts.cacheDir, install: opts.setup ?? false, what: selectionLabel(loaded, pools), write: (l) => process.stderr.write(`${l}\n`), signal: opts.signal });

  const startedAt = new Date();
  const runId = newRunId(startedAt);
  const runDir = resolve(opts.outDir, runId);
  await sweepStaleWorkDirs();
  await sweepStaleScratch(opts.cacheDir); // half-built images of runs that were killed (135-220 MB each)
  await sweepHostCgroups();
  await sweepStaleNetworks(); // bridges, taps, veths and netns of runs that were killed
  const workRoot = await makeWorkRoot(); // checkpoint images live here; kept ones are copied (encrypted with a key) into RUN-ID/artifacts
  const { auditSink, artifacts } = await startHygiene({ ...opts.hygiene, runDir, runId, outDir: opts.outDir, keep: opts.keepArtifacts, pools: pools.map((p) => p.name) });
  const progress = new Progress(process.stderr, opts.progress);
  let network: NodeNetworkSpec | undefined;
  try {
    for (const p of pools) progress.update(p.name, 'compiling helpers and workloads…');
    const s = loaded.config.settings;
    const natives = await buildNatives(opts.cacheDir, workloadsFor(s, loaded.config.migrations));
    const provisioned = await provisionPools(loaded, pools, {
      cacheDir: opts.cacheDir,
      ...(opts.mirror ? { mirror: opts.mirror } : {}),
      workRoot,
      natives,
      progress,
      signal: opts.signal,
    });
    await assignWorkloadBuilds(provisioned, s.workloadBuild, workloadsFor(s, loaded.config.migrations), {
      fixturesDir: join(PROJECT_ROOT, 'fixtures/workloads'),
      cacheDir: opts.cacheDir,
      helper: natives.helper,
      workRoot,
      timeoutMs: s.timeouts.environmentMs,
      progress: (pool, what) => progress.update(pool, what),
    });
    const pairs = s.suites.includes(PAIR_SUITE) ? migrationPairs(loaded.config, new Set(pools.map((p) => p.name))) : [];
    // Pilots' migrations: their two pools up together too (the pilot suite runs them on the source).
    const pilotLinks = s.suites.includes(PILOT_SUITE) ? pilotPairs(loaded.config.pilots, new Set(pools.map((p) => p.name))) : [];
    // A real network between the nodes (a host bridge), only when a suite or a migration mode asks for one.
    if ((networkFor(s.suites, provisioned.filter((p) => !p.planned.error).map((p) => ({ backend: p.planned.backend, rootfs: p.planned.rootfs }))) || pairs.some(pairNeedsNetwork) || pilotLinks.some((l) => l.network)) && !opts.signal?.aborted) network = await createNodeNetwork();
    const plan: RunPlan = { runId, pools: provisioned.map((p) => p.planned), settings: s, natives, keepArtifacts: opts.keepArtifacts, ...(artifacts ? { artifacts } : {}), audit: auditSink, ...(network ? { network } : {}), ...(loaded.config.pilots.length ? { pilots: loaded.config.pilots } : {}) };
    const collector = new CellCollector(progress);
    const memo = new Map<string, Promise<unknown>>();
    const scheduled = new Set<MigrationPair>();
    await runInGroups(provisioned, {
      jobs: opts.jobs,
      signal: opts.signal,
      pairs: [...pairs, ...pilotLinks],
      start: {
        loaded,
        cacheDir: opts.cacheDir,
        mirror: opts.mirror,
        workRoot,
        natives,
        progress: (pool, what) => progress.update(pool, what),
        timeouts: s.timeouts,
        sessions: sessionsFor(s.suites),
        accel: opts.accel ?? s.accel,
        signal: opts.signal,
        network,
        once: <T>(key: string, make: () => Promise<T>) => {
          if (!memo.has(key)) memo.set(key, make());
          return memo.get(key) as Promise<T>;
        },
      },
      // Pools on this machine's kernel first, together; then VMs in waves that fit the cores and the memory.
      runSuites: async (subset, up) => {
        const t0 = performance.now();
        // Migration pairs run as soon as both their pools are up, once.
        const names = new Set(up.map((p) => p.pool.name));
        const due = pairs.filter((x) => !scheduled.has(x) && names.has(x.source) && names.has(x.destination));
        for (const x of due) scheduled.add(x);
        const migrations = due.length ? { pairs: due, pools: up.filter((p) => due.some((x) => x.source === p.pool.name || x.destination === p.pool.name)).map((p) => p.planned) } : undefined;
        const pilotDestinations = up.filter((p) => pilotLinks.some((x) => x.destination === p.pool.name)).map((p) => p.planned);
        if (!opts.signal?.aborted && subset.length) await runSuites({ ...plan, pools: subset.map((p) => p.planned), ...(migrations ? { migrations } : {}), ...(pilotDestinations.length ? { pilotDestinations } : {}) }, collector, opts);
        for (const p of subset) p.phases.suitesMs = performance.now() - t0;
      },
    });
    progress.done();

    const cells: Cell[] = [...collector.cells];
    // The per-pool suites; migration cells belong to pairs (see below).
    const poolSuites = loaded.config.settings.suites.filter((x) => x !== PAIR_SUITE);
    // A suite that runs on some pools only (the pilots' pools) has no setup or not-run entries for the others.
    const suitesOf = (pool: string) => suitesOfPool(poolSuites, loaded.config, pool);
    const notRun = notRunOf(provisioned, suitesOf, cells, collector.notRun, opts.signal?.aborted ?? false);
    // A pair that never ran: one of its pools did not come up (ERROR), or the run was stopped (not run).
    for (const x of pairs.filter((x) => !scheduled.has(x)))
      for (const c of migrationCases(x, plan.pools.find((p) => p.name === x.source)?.bigMemMiB ?? s.bigMemMiB)) {
        const id = { pool: x.source, suite: PAIR_SUITE, check: c.check };
        if (opts.signal?.aborted) notRun.push(id);
        else {
          const down = [x.source, x.destination].map((n) => provisioned.find((p) => p.pool.name === n)!).filter((p) => p.planned.error);
          cells.push({ ...id, workload: c.workload, mode: c.mode, source: x.source, destination: x.destination, status: 'ERROR', reason: down.length ? down.map((p) => `pool ${p.pool.name} did not come up: ${p.planned.error}`).join('; ') : 'the two pools were never up at the same time', diagnoses: [], durations: { totalMs: 0 }, metrics: {}, logExcerpt: [], commands: [], startedAt: startedAt.toISOString() });
        }
      }
    for (const p of provisioned.filter((x) => x.planned.error && !stoppedByInterrupt(x)))
      for (const suite of suitesOf(p.pool.name))
        cells.push({
          pool: p.pool.name,
          suite,
          check: 'setup',
          status: 'ERROR',
          reason: p.planned.error!,
          diagnoses: [],
          durations: { totalMs: 0 },
          metrics: {},
          logExcerpt: p.planned.errorLog ?? [],
          commands: [],
          startedAt: startedAt.toISOString(),
        });
    for (const e of collector.loadErrors)
      cells.push({ pool: '*', suite: e.suite, check: 'load', status: 'ERROR', reason: `harness: the suite file could not be loaded, so none of its checks ran: ${e.message}`, diagnoses: [], durations: { totalMs: 0 }, metrics: {}, logExcerpt: e.stack, commands: [], startedAt: startedAt.toISOString() });
    for (const e of collector.runErrors)
      cells.push({ pool: '*', suite: 'harness', check: 'unhandled', status: 'ERROR', reason: e, diagnoses: [], durations: { totalMs: 0 }, metrics: {}, logExcerpt: [], commands: [], startedAt: startedAt.toISOString() });

    const poolResults: PoolResult[] = provisioned.map((p) => ({
      name: p.pool.name,
      ...(p.pool.description ? { description: p.pool.description } : {}),
      kernel: kernelLabel(p.pool.kernel),
      backend: p.pool.backend,
      image: p.image
        ? {
            name: p.image.name,
            source: p.image.source,
            key: p.image.key,
            osRelease: p.image.osRelease,
            ...(p.image.builtAt ? { builtAt: p.image.builtAt } : {}),
            ...(p.image.mirror ? { mirror: p.image.mirror } : {}),
            builtThisRun: p.image.built,
            buildMs: p.image.buildMs,
          }
        : null,
      criuEnv: p.pool.criu.env,
      inventory: p.inventory,
      capabilities: capabilitiesOf(cells, p.pool.name),
      ...(p.planned.error && !stoppedByInterrupt(p) ? { error: p.planned.error } : {}),
      phases: p.phases,
    }));
    // Verdicts are judged here from the cells and the pilots' criteria (the suite only measures), on this run's pools.
    const pilots = (s.suites as readonly string[]).includes(PILOT_SUITE) && loaded.config.pilots.length ? judgePilots(loaded.config.pilots, cells, { pools: pools.map((p) => p.name) }) : undefined;
    // Credentials in a mirror URL (user:password, a token in the query) never reach results.json, stdout or the reports.
    const results = redactDeep(RunResults.parse({
      schema: 'criu-compat/results',
      schemaVersion: 1,
      runId,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      tool: { name: 'criu-compat', version: TOOL_VERSION },
      host: { hostname: hostname(), kernelRelease: release(), arch: arch(), cpus: cpus().length, memoryBytes: totalmem() },
      config: { file: loaded.file, pools: pools.map((p) => p.name) },
      pools: poolResults,
      cells,
      summary: summarize(cells, notRun),
      interrupted: opts.signal?.aborted ?? false,
      ...(notRun.length ? { notRun } : {}),
      ...(opts.shard ? { shard: opts.shard } : {}),
      ...(pilots ? { pilots } : {}),
      exitCode: exitCodeFor(cells),
    }));
    await writeFileAtomic(join(runDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    await writeReports(results, runDir);
    await finishHygiene(auditSink, results, artifacts);
    return { results, runDir };
  } catch (e) {
    await abandonHygiene(auditSink, e);
    throw e;
  } finally {
    progress.done();
    if (network) await teardownNodeNetwork(network);
    await removeTree(workRoot);
    await sweepHostCgroups();
  }
}

/** A pool whose provisioning was stopped by Ctrl-C (image build killed): not run, not broken. */
function stoppedByInterrupt(p: ProvisionedPool): boolean {
  return p.planned.error?.startsWith('InterruptedError:') ?? false;
}

/**
 * What an interrupted run did not run: the tests the collector saw without a
 * verdict, and each suite of a pool that has no cell in it at all (stopped
 * while provisioning, or before its suites started) as check "*".
 */
function notRunOf(provisioned: readonly ProvisionedPool[], suitesOf: (pool: string) => readonly string[], cells: readonly Cell[], collected: readonly NotRun[], interrupted: boolean): NotRun[] {
  const out = [...collected];
  if (!interrupted) return out;
  for (const p of provisioned) {
    if (p.planned.error && !stoppedByInterrupt(p)) continue; // its setup ERROR cells stand
    for (const suite of suitesOf(p.pool.name))
      if (!cells.some((c) => c.pool === p.pool.name && c.suite === suite) && !out.some((n) => n.pool === p.pool.name && n.suite === suite))
        out.push({ pool: p.pool.name, suite, check: '*' });
  }
  return out;
}

async function runSuites(plan: RunPlan, collector: CellCollector, opts: RunOptions): Promise<void> {
  const t = plan.settings.timeouts;
  const perTest = plan.settings.repeat * (t.readyMs + 3 * t.criuMs + t.verifyMs + 2 * t.commandMs) + 30_000;
  const before = { SIGINT: process.listeners('SIGINT'), SIGTERM: process.listeners('SIGTERM') };
  const vitest = await createVitest(
    {
      config: false,
      root: PROJECT_ROOT,
      include: plan.settings.suites.map((s) => `suites/${s}.suite.ts`),
      watch: false,
      reporters: [collector],
      pool: 'forks',
      maxWorkers: Math.max(1, opts.jobs),
      fileParallelism: opts.jobs > 1,
      // Suite files run side by side, and within each, pools: share the jobs between them.
      maxConcurrency: Math.max(1, Math.ceil(opts.jobs / plan.settings.suites.length)),
      testTimeout: perTest,
      hookTimeout: t.environmentMs + 60_000,
      passWithNoTests: true,
      setupFiles: [join(PROJECT_ROOT, 'src/runner/worker-setup.ts')],
      provide: { plan },
    },
    { server: { watch: null }, logLevel: 'silent', cacheDir: join(opts.cacheDir, 'vite') },
  );
  // vitest's logger exits the process on SIGINT/SIGTERM; the CLI owns those
  // signals (it must clean up and write what ran), so take them back.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.off(sig, l);
  const onAbort = () => {
    collector.interrupted = true;
    void vitest.cancelCurrentRun('keyboard-input');
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (!opts.signal?.aborted) await vitest.start([]);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await vitest.close();
  }
}
