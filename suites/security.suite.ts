/**
 * security: the playbook's controls that a node can show, per pool.
 * secret-in-image (which of a workload's secrets CRIU writes into the images,
 * plaintext), archive-at-rest (what each runtime's checkpoint archive or
 * image files look like on disk: modes, owner, compression), checkpoint-api-
 * access (who on the node can reach a runtime's API socket or a checkpoint
 * directory), forensic-restore-sandbox (a restore into a sandbox with no
 * route out and no writable host path, proved from inside the restored
 * process) and transfer-integrity (a checkpoint changed in transit is refused
 * before restore). The steps live in src/runner/security/.
 */
import { afterAll, describe, inject, test } from 'vitest';
import { Criu } from '../src/criu/driver.ts';
import type { Environment } from '../src/environments/environment.ts';
import { settle } from '../src/runner/cell.ts';
import { binaryPath, openEnvironment, workloadBinaries } from '../src/runner/environments.ts';
import { poolSession } from '../src/runner/pool-session.ts';
import { archiveAtRest } from '../src/runner/security/archive-at-rest.ts';
import { checkpointApiAccess } from '../src/runner/security/api-access.ts';
import { canarySeed, canaryTokens, type Canary } from '../src/runner/security/canary.ts';
import { forensicRestoreSandbox } from '../src/runner/security/forensic-sandbox.ts';
import { secretInImage } from '../src/runner/security/secret-in-image.ts';
import { transferIntegrity } from '../src/runner/security/transfer-check.ts';
import { transitDir } from '../src/runner/transfer.ts';
import { needs, SECURITY_PEER_SESSION } from '../src/suites/security.needs.ts';

const SUITE = 'security';
const plan = inject('plan');
const pools = plan.settings.suites.includes(SUITE) ? plan.pools.filter((p) => !p.error) : [];
const t = plan.settings.timeouts;
// Made here, kept in this worker's memory only: never in a file, a log or a result. A bad seed file is the cell's ERROR
// (a suite file that throws while loading would leave the run without cells).
let canary: Canary | Error;
try {
  canary = canaryTokens(canarySeed());
} catch (e) {
  canary = e as Error;
}

// Pools run side by side (up to maxConcurrency); the cells of one pool run in order.
describe.concurrent.each(pools)('$name', (pool) => {
  const session = poolSession(plan, pool, SUITE, { criuTimeoutMs: t.criuMs, workloads: needs.copyWorkloads });
  const bin = (w: string) => binaryPath(session.env, workloadBinaries(plan, pool)[w]!);
  const id = (check: string, more: { runtime?: string; workload?: string } = {}) => ({ pool: pool.name, suite: SUITE, check, ...more });
  const base = () => `${session.env.workDir}/security`;
  let peer: Promise<{ env: Environment; criu: Criu }> | undefined;
  afterAll(async () => {
    await (await peer?.catch(() => undefined))?.env.dispose();
  });

  describe(SUITE, { concurrent: false }, () => {
    test('secret-in-image', async (ctx) => {
      const started = new Date();
      if (canary instanceof Error) return settle(ctx, id('secret-in-image', { workload: 'secret-canary' }), started, { status: 'ERROR', reason: `harness: no canary: ${canary.message}`, durations: { totalMs: 0 } });
      const draft = await secretInImage({ env: session.env, criu: session.criu, binary: bin('secret-canary'), dir: `${base()}/secret-in-image`, hostScratch: `${pool.hostWorkDir}/security-scan`, canary, timeouts: t, signal: ctx.signal });
      settle(ctx, id('secret-in-image', { workload: 'secret-canary' }), started, draft);
    });

    const runtimes = pool.runtimes.filter((r) => r.version !== null && plan.settings.runtimes.includes(r.name));
    if (!runtimes.length)
      test('archive-at-rest', (ctx) => {
        settle(ctx, id('archive-at-rest'), new Date(), { status: 'SKIP', reason: `capability missing: no container runtime (${plan.settings.runtimes.join(', ')}) in this node image: no checkpoint archive or runtime image directory to look at`, durations: { totalMs: 0 } });
      });
    for (const info of runtimes)
      test(`archive-at-rest/${info.name}`, async (ctx) => {
        const started = new Date();
        const cid = id(`archive-at-rest/${info.name}`, { runtime: info.name, workload: 'counter' });
        if (!info.checkpoint) return settle(ctx, cid, started, { status: 'SKIP', reason: `capability missing: ${info.name} cannot checkpoint here (${info.detail})`, durations: { totalMs: 0 } });
        session.criu.signal = ctx.signal;
        const tag = `${plan.runId}-${pool.name}-sec-${info.name}`.replace(/[^A-Za-z0-9_.-]/g, '_');
        settle(ctx, cid, started, await archiveAtRest({ env: session.env, criu: session.criu, criuEnv: pool.criuEnv, info, counter: bin('counter'), dir: `${base()}/archive-${info.name}`, tag, timeouts: t, signal: ctx.signal }));
      });

    test('checkpoint-api-access', async (ctx) => {
      const started = new Date();
      settle(ctx, id('checkpoint-api-access'), started, await checkpointApiAccess({ env: session.env, runtimes: pool.runtimes, dir: `${base()}/api-access`, timeouts: t }));
    });

    test('forensic-restore-sandbox', async (ctx) => {
      const started = new Date();
      settle(ctx, id('forensic-restore-sandbox', { workload: 'sandbox-probe' }), started, await forensicRestoreSandbox({ env: session.env, criu: session.criu, binary: bin('sandbox-probe'), dir: `${base()}/forensic`, timeouts: t, signal: ctx.signal }));
    });

    test('transfer-integrity', async (ctx) => {
      const started = new Date();
      const cid = { ...id('transfer-integrity', { workload: 'threads' }), source: pool.name, destination: pool.name };
      let dst: { env: Environment; criu: Criu };
      try {
        peer ??= openEnvironment(plan, pool, SECURITY_PEER_SESSION, { workloads: false }).then((env) => ({ env, criu: new Criu(env, pool.criuEnv, t.criuMs, { hwBreakpoints: pool.hwBreakpoints }) }));
        dst = await peer;
      } catch (e) {
        return settle(ctx, cid, started, { status: 'ERROR', reason: `harness: cannot open the pool's second node: ${(e as Error).message}`, durations: { totalMs: 0 } });
      }
      const transit = await transitDir(`${pool.hostWorkDir}/security-transit`, 'transfer');
      settle(ctx, cid, started, await transferIntegrity({ source: session, destination: dst, workload: 'threads', hostBinary: workloadBinaries(plan, pool)['threads']!, dir: `${base()}/transfer`, transit, timeouts: t, signal: ctx.signal }));
    });
  });
});
