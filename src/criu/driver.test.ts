/**
 * A CRIU that crashes, hangs or exits oddly is never read as "feature
 * missing". The processes here are real (run through the same process
 * helper the backends use): `criu` is replaced by a shell that kills itself
 * with SIGSEGV, sleeps past its timeout, or exits with a given status.
 */
import { describe, expect, test } from 'vitest';
import type { Environment, ExecOptions, ExecResult } from '../environments/environment.ts';
import { failureStatus } from './diagnose.ts';
import { run } from '../util/process.ts';
import { Criu, describeFailure, featureVerdict } from './driver.ts';

/** An Environment on the host whose `criu` is the given shell script. */
function fakeCriuEnv(script: string): Environment {
  const exec = async (argv: readonly string[], opts: ExecOptions): Promise<ExecResult> =>
    run(argv[0] === 'criu' ? ['sh', '-c', script, 'criu', ...argv.slice(1)] : [...argv], { timeoutMs: opts.timeoutMs, signal: opts.signal });
  const nope = () => Promise.reject(new Error('not used'));
  return { id: 'fake', backend: 'host', workDir: '/nonexistent', exec, spawnDetached: nope, isRunning: nope, copyIn: nope, copyOut: nope, writeFile: nope, readFile: nope, du: nope, makeDir: nope, remove: nope, dispose: async () => {} };
}

const probe = (script: string, timeoutMs = 10_000) => new Criu(fakeCriuEnv(script), {}, timeoutMs).run(['check', '--feature', 'mem_dirty_track']);

describe('the process helper', () => {
  test('a process killed by SIGSEGV is reported with its signal, not only as exit 139', async () => {
    const r = await run(['sh', '-c', 'kill -SEGV $$'], { timeoutMs: 10_000 });
    expect(r).toMatchObject({ exitCode: 139, signal: 'SIGSEGV', timedOut: false });
    const normal = await run(['sh', '-c', 'exit 139'], { timeoutMs: 10_000 });
    expect(normal.exitCode).toBe(139);
    expect(normal.signal).toBeUndefined();
  });
});

describe('criu killed by a signal', () => {
  test('a feature probe that crashed (after printing the feature-missing warning) is ERROR, not a missing capability', async () => {
    const r = await probe('echo "Warn  (criu/cr-check.c:1071): Dirty tracking is OFF. Memory snapshot will not work." >&2; kill -SEGV $$');
    expect(r.ok).toBe(false);
    expect(r.killedBy).toBe('SIGSEGV');
    const v = featureVerdict('mem_dirty_track', r, 10_000);
    expect(v.status).toBe('ERROR');
    expect(v.reason).toBe('criu check --feature mem_dirty_track failed: criu killed by SIGSEGV');
    expect(v.reason).not.toMatch(/capability missing/);
  });

  test('a crashed dump is FAIL with the criu-crashed diagnosis (blame, cause, remedy)', async () => {
    const r = await new Criu(fakeCriuEnv('echo "(00.012) Dumping task 42" >&2; kill -ABRT $$'), {}, 10_000).run(['dump', '-t', '42']);
    const d = r.diagnoses.find((x) => x.id === 'criu-crashed');
    expect(d).toMatchObject({ blame: 'tuple', fatal: false, evidence: 'criu killed by SIGABRT' });
    expect(d!.cause).toMatch(/died from a signal/);
    expect(d!.remediation).toMatch(/newest CRIU/);
    expect(failureStatus(r.diagnoses)).toBe('FAIL');
    expect(describeFailure('criu dump', r, 10_000)).toBe('criu dump failed: criu killed by SIGABRT');
  });

  test('a probe killed by our own timeout is ERROR (timed out), not crashed and not missing', async () => {
    const r = await probe('sleep 30', 300);
    expect(r.result.timedOut).toBe(true);
    expect(r.killedBy).toBeUndefined();
    expect(r.diagnoses.some((d) => d.id === 'criu-crashed')).toBe(false);
    expect(featureVerdict('mem_dirty_track', r, 300)).toEqual({ status: 'ERROR', reason: 'criu check --feature mem_dirty_track timed out after 0 s' });
  });
});

describe('a capability is missing only when CRIU says so', () => {
  test('exit 1 with CRIU\'s message: SKIP naming it', async () => {
    const r = await probe('echo "Warn  (criu/cr-check.c:1071): Dirty tracking is OFF. Memory snapshot will not work." >&2; exit 1');
    expect(featureVerdict('mem_dirty_track', r, 10_000)).toEqual({
      status: 'SKIP',
      reason: 'capability missing: mem_dirty_track (Dirty tracking is OFF. Memory snapshot will not work.)',
    });
  });

  test('exit 1 without a message (checks such as sk_ns print none): SKIP', async () => {
    expect(featureVerdict('sk_ns', await probe('exit 1'), 10_000)).toEqual({ status: 'SKIP', reason: 'capability missing: sk_ns' });
  });

  test('any other exit status decided nothing: ERROR', async () => {
    const v = featureVerdict('mem_dirty_track', await probe('exit 255'), 10_000);
    expect(v.status).toBe('ERROR');
    expect(v.reason).toMatch(/exited 255, not CRIU's answer for a missing feature/);
    expect(featureVerdict('mem_dirty_track', await probe('exit 127'), 10_000).reason).toMatch(/no criu in this node image/);
  });

  test('CRIU that cannot start on this kernel stays the tuple\'s FAIL', async () => {
    const r = await probe('echo "Error (criu/kerndat.c:1802): Could not initialize kernel features detection." >&2; exit 1');
    expect(featureVerdict('mem_dirty_track', r, 10_000).status).toBe('FAIL');
  });

  test('the feature is supported: PASS', async () => {
    expect(featureVerdict('mem_dirty_track', await probe('echo "mem_dirty_track is supported"'), 10_000)).toEqual({ status: 'PASS', reason: 'mem_dirty_track is supported' });
  });
});

describe('a hang the harness stops itself', () => {
  test('is the hang it rests in, not a crash: CRIU killed by our stop carries no criu-crashed', async () => {
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'criu-compat-hang-'));
    try {
      const log = join(dir, 'dump.log');
      const env = { ...fakeCriuEnv(`echo "(16.38) pie: 425: 425: new_sp=0x7f2dec9f71c8 ip 0x45f033" > ${log}; exec sleep 30`), readFile: async (p: string) => readFileSync(p) };
      const r = await new Criu(env, {}, 20_000, { hwBreakpoints: false }).run(['dump', '-t', '425'], { logFile: log });
      expect(r.hung).toMatch(/breakpoint/);
      expect(r.killedBy).toBeUndefined();
      expect(r.diagnoses.map((d) => d.id)).toEqual(['hw-breakpoints']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 20_000);
});

describe('a migration restore', () => {
  test("carries the two nodes' CPUs into the diagnosis: the features the destination lacks are named", async () => {
    const criu = new Criu(fakeCriuEnv(`echo "(00.1)    172: Error (criu/arch/x86/crtools.c:395): x86: FPU xsave area present, but host cpu doesn't support it" >&2; exit 1`), {}, 10_000);
    const source = { model: 'rich', flags: ['fpu', 'fxsr', 'xsave', 'avx2', 'hypervisor'] };
    const destination = { model: 'poor', flags: ['fpu', 'fxsr'] };
    const r = await criu.restore({ imagesDir: '/nonexistent', detach: true }, { cpu: { source, destination } });
    expect(r.ok).toBe(false);
    expect(r.diagnoses.map((d) => d.id)).toEqual(['cpu-features-missing']);
    expect(r.diagnoses[0]!.cause).toMatch(/^The destination's CPU \(poor\) lacks 2 features the source's \(rich\) offered: xsave, avx2\. CRIU names: xsave\./);
    const plain = await criu.restore({ imagesDir: '/nonexistent', detach: true });
    expect(plain.diagnoses[0]!.cause).toMatch(/^CRIU names: xsave\. /);
  });
});

describe('a remedy applied to the driver', () => {
  /** An Environment that records the environment each command is given. */
  function echoing(): { env: Environment; envs: Record<string, string>[] } {
    const envs: Record<string, string>[] = [];
    const env = fakeCriuEnv('echo "argv: $*"');
    const exec = env.exec;
    return { env: { ...env, exec: (argv, opts) => (envs.push(opts.env ?? {}), exec(argv, opts)), readFile: () => Promise.reject(new Error('no log')) }, envs };
  }

  test("its environment joins the pool's, its options go on dump, pre-dump and restore, never on check; the pool's driver is unchanged", async () => {
    const { env, envs } = echoing();
    const pool = new Criu(env, { POOL_SETTING: 'x' }, 10_000);
    const fixed = pool.withRemedy({ CRIU_FAULT: '130' }, ['--network-lock=nftables']);
    const dump = await fixed.dump({ pid: 7, imagesDir: '/d' });
    expect(dump.argv).toEqual(['criu', 'dump', '-t', '7', '-D', '/d', '--network-lock=nftables']);
    expect(envs[0]).toEqual({ POOL_SETTING: 'x', CRIU_FAULT: '130' });
    expect((await fixed.preDump({ pid: 7, imagesDir: '/p' })).argv.at(-1)).toBe('--network-lock=nftables');
    expect((await fixed.restore({ imagesDir: '/d', detach: true })).argv).toEqual(['criu', 'restore', '-d', '-D', '/d', '--network-lock=nftables']);
    expect((await fixed.check()).argv).toEqual(['criu', 'check']);
    const before = await pool.dump({ pid: 7, imagesDir: '/d' });
    expect(before.argv).toEqual(['criu', 'dump', '-t', '7', '-D', '/d']);
    expect(envs.at(-1)).toEqual({ POOL_SETTING: 'x' });
  });
});
