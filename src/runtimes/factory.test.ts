/**
 * Runtimes from one factory, asked for what they can do. The feature probe
 * is a real process: `criu` is a shell script that logs each call and
 * answers as CRIU does (exit 0 supported, exit 1 missing).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { Criu } from '../criu/driver.ts';
import type { Environment, ExecOptions, ExecResult } from '../environments/environment.ts';
import { run } from '../util/process.ts';
import type { RuntimeInfo } from './detect.ts';
import { createRuntime } from './factory.ts';

const dir = mkdtempSync(join(tmpdir(), 'cc-factory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function criuEnv(script: string): Environment {
  const exec = async (argv: readonly string[], opts: ExecOptions): Promise<ExecResult> =>
    run(argv[0] === 'criu' ? ['sh', '-c', script, 'criu', ...argv.slice(1)] : [...argv], { timeoutMs: opts.timeoutMs });
  const nope = () => Promise.reject(new Error('not used'));
  return { id: 'fake', backend: 'host', workDir: dir, exec, spawnDetached: nope, isRunning: nope, copyIn: nope, copyOut: nope, writeFile: nope, readFile: nope, du: nope, makeDir: nope, remove: nope, dispose: async () => {} };
}

const info = (name: RuntimeInfo['name'], checkpoint = true): RuntimeInfo => ({ name, version: '1', features: [], checkpoint, detail: checkpoint ? 'checkpoints' : `capability missing: ${name} cannot`, ...(name === 'podman' ? { ociRuntime: 'runc' } : {}) });

function make(name: RuntimeInfo['name'], script: string, checkpoint = true) {
  const env = criuEnv(script);
  return createRuntime(info(name, checkpoint), { env, criuEnv: {}, tag: 't', timeoutMs: 10_000, criu: new Criu(env, {}, 10_000), probeTimeoutMs: 10_000 });
}

describe('createRuntime', () => {
  test('each inventoried runtime gets its driver; only podman exports and imports checkpoints', () => {
    for (const name of ['runc', 'crun', 'podman'] as const) {
      const rt = make(name, 'exit 0');
      expect(rt.name).toBe(name);
      expect(rt.capabilities.checkpoint).toEqual({ ok: true, why: 'checkpoints' });
      expect(rt.capabilities.exportImport !== undefined).toBe(name === 'podman');
    }
    expect(make('crun', 'exit 0', false).capabilities.checkpoint).toEqual({ ok: false, why: 'capability missing: crun cannot' });
  });

  test('pre-dump asks CRIU for mem_dirty_track once per driver, on first use', async () => {
    const calls = join(dir, 'calls');
    const rt = make('runc', `echo "$@" >> ${calls}; echo "mem_dirty_track is supported"`);
    expect(() => readFileSync(calls)).toThrow();
    expect((await rt.capabilities.preDump()).status).toBe('PASS');
    expect((await rt.capabilities.preDump()).status).toBe('PASS');
    expect(readFileSync(calls, 'utf8')).toBe('check --feature mem_dirty_track\n');
  });

  test('CRIU saying the feature is missing: no pre-dump', async () => {
    expect((await make('podman', 'echo "Warn  (criu/cr-check.c:1071): Dirty tracking is OFF." >&2; exit 1').capabilities.preDump()).status).toBe('SKIP');
  });

  test('a probe that crashed decided nothing: ERROR, never a missing capability', async () => {
    const probe = await make('runc', 'kill -SEGV $$').capabilities.preDump();
    expect(probe.status).toBe('ERROR');
    expect(probe.reason).toMatch(/SIGSEGV/);
  });
});

test('the suites make runtimes only through the factory: no driver classes, no casts, no probes of their own', () => {
  for (const suite of ['runtime.suite.ts', 'round-trip.suite.ts']) {
    const text = readFileSync(join(import.meta.dirname, '../../suites', suite), 'utf8');
    expect(text).not.toMatch(/PodmanRuntime|OciRuntime|as [A-Z]\w*Runtime\b|mem_dirty_track|criu\.run\(/);
  }
});
