/**
 * round-trip: for each workload, start → ready → criu dump (the tree must
 * be gone) → criu restore → the workload checks its own state and says PASS.
 * Only that PASS makes the cell PASS. "counter/pre-dump" does the same with
 * an iterative pre-dump first and SKIPs where dirty tracking is missing.
 */
import { afterAll, beforeAll, describe, inject, test } from 'vitest';
import { Criu, describeFailure, probeBroken, type CriuRun } from '../src/criu/driver.ts';
import type { Environment } from '../src/environments/environment.ts';
import { failureStatus, settle, type CellDraft } from '../src/runner/cell.ts';
import { binaryPath, openEnvironment } from '../src/runner/environments.ts';
import { Workload } from '../src/workloads/protocol.ts';
import { readCriuStats } from '../src/criu/stats.ts';

const SUITE = 'round-trip';
const plan = inject('plan');
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error) : [];
const t = plan.settings.timeouts;

interface Case {
  check: string;
  workload: string;
  preDump: boolean;
}
const cases: Case[] = plan.settings.workloads.map((w) => ({ check: w, workload: w, preDump: false }));
if (plan.settings.workloads.includes('counter')) cases.push({ check: 'counter/pre-dump', workload: 'counter', preDump: true });

describe.each(pools)('$name', (pool) => {
  let env: Environment;
  let criu: Criu;
  beforeAll(async () => {
    env = await openEnvironment(plan, pool, SUITE);
    criu = new Criu(env, pool.criuEnv, t.criuMs);
  }, t.environmentMs + 30_000);
  afterAll(async () => {
    await env?.dispose();
  });

  test.for(cases)('$check', async (c, ctx) => {
    const started = new Date();
    const t0 = performance.now();
    const dir = `${env.workDir}/cells/${c.check.replace(/\//g, '_')}`;
    await env.makeDir(`${dir}/img`);
    const wl = new Workload(env, c.workload, binaryPath(env, plan.natives.workloads[c.workload]!), `${dir}/workload.out`);
    wl.abortSignal = criu.signal = ctx.signal;
    const commands: string[] = [];
    const durations: CellDraft['durations'] = { totalMs: 0 };
    const finish = async (draft: Omit<CellDraft, 'durations'> & { run?: CriuRun }) => {
      const { run, ...rest } = draft;
      durations.totalMs = performance.now() - t0;
      const imageBytes = await env.du(`${dir}/img`).catch(() => undefined);
      const stats = await readCriuStats(env, `${dir}/img`);
      const output = await wl.lines();
      if (rest.status !== 'PASS') await wl.kill();
      let artifacts: string | undefined;
      if (plan.keepArtifacts) artifacts = `${pool.hostWorkDir}/${SUITE}/cells/${c.check.replace(/\//g, '_')}`;
      else await env.remove(dir);
      settle(ctx, { pool: pool.name, suite: SUITE, check: c.check }, started, {
        ...rest,
        durations,
        commands,
        workloadOutput: output,
        metrics: { ...(imageBytes ? { imageBytes } : {}), ...stats },
        ...(run ? { diagnoses: run.diagnoses, logExcerpt: run.excerpt } : {}),
        ...(artifacts ? { artifacts } : {}),
      });
    };
    const criuStep = async (what: string, args: string[], logFile: string) => {
      const run = await criu.run(args, { logFile, operation: what });
      commands.push(run.argv.join(' ').replaceAll(`${env.workDir}/`, ''));
      return run;
    };

    // Probe the capability a mode needs before starting anything.
    if (c.preDump) {
      const probe = await criu.run(['check', '--feature', 'mem_dirty_track'], { timeoutMs: t.commandMs });
      if (!probe.ok && probeBroken(probe))
        return finish({ status: failureStatus(probe.diagnoses), reason: describeFailure('criu check --feature mem_dirty_track', probe, t.commandMs), run: probe });
      if (!probe.ok) return finish({ status: 'SKIP', reason: 'capability missing: mem_dirty_track (memory dirty tracking, needed by pre-dump)', run: probe });
    }

    await wl.start();
    const ready = await wl.waitReady(t.readyMs);
    if (!ready.ok)
      return finish({ status: 'ERROR', reason: ready.alive ? `workload ${c.workload} printed no "ready" within ${t.readyMs} ms` : `workload ${c.workload} exited before it was ready` });

    if (c.preDump) {
      const pre = await criuStep('pre-dump', ['pre-dump', '-t', String(wl.pid), '-D', `${dir}/pre`, '-o', 'pre-dump.log', '-v4'], `${dir}/pre/pre-dump.log`);
      durations.preDumpMs = pre.result.durationMs;
      if (!pre.ok) return finish({ status: failureStatus(pre.diagnoses), reason: describeFailure('criu pre-dump', pre, t.criuMs), run: pre });
    }
    const dumpArgs = ['dump', '-t', String(wl.pid), '-D', `${dir}/img`, '-o', 'dump.log', '-v4', ...(c.preDump ? ['--prev-images-dir', '../pre', '--track-mem'] : [])];
    const dump = await criuStep('dump', dumpArgs, `${dir}/img/dump.log`);
    durations.dumpMs = dump.result.durationMs;
    if (!dump.ok) return finish({ status: failureStatus(dump.diagnoses), reason: describeFailure('criu dump', dump, t.criuMs), run: dump });
    if (!(await wl.waitGone(2000))) return finish({ status: 'FAIL', reason: 'criu dump exited 0 but the process tree is still running', run: dump });

    const restore = await criuStep('restore', ['restore', '-d', '-D', `${dir}/img`, '-o', 'restore.log', '-v4'], `${dir}/img/restore.log`);
    durations.restoreMs = restore.result.durationMs;
    if (!restore.ok) return finish({ status: failureStatus(restore.diagnoses), reason: describeFailure('criu restore', restore, t.criuMs), run: restore });

    const v0 = performance.now();
    const verdict = await wl.verdict(t.verifyMs);
    durations.verifyMs = performance.now() - v0;
    if (verdict.status === 'PASS') return finish({ status: 'PASS', reason: 'restored workload verified its own state', run: restore });
    if (verdict.status === 'FAIL') return finish({ status: 'FAIL', reason: `restored workload: ${verdict.message}`, run: restore });
    return finish({
      status: 'FAIL',
      reason: verdict.alive ? `restored workload gave no verdict within ${t.verifyMs} ms` : 'restored workload died without a verdict',
      run: restore,
    });
  });
});
