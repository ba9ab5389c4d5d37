/**
 * npm run bench — what the harness costs over the CRIU work it drives, as ratios.
 *
 * 1. Round trip of `counter` in one environment (debian-trixie, host kernel):
 *    "bare" is one shell script inside the node image doing it by hand (start,
 *    wait for ready, criu dump, criu restore -d, signal, wait for PASS);
 *    "harness" is the round-trip suite's own code (attemptRoundTrip).
 *    Medians of N runs each, interleaved. Target <= 1.15.
 * 2. Repetitions: one cell repeated N times in one environment vs N separate
 *    one-shot cells, each with its own environment. <= 1 means repetition adds
 *    nothing per attempt over running the cell again.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { DEFAULT_CONFIG_TEXT } from '../src/config/default.ts';
import { Criu } from '../src/criu/driver.ts';
import { NamespaceEnvironment } from '../src/environments/namespace/namespace-environment.ts';
import { resolveImage } from '../src/images/node-image.ts';
import { defaultCacheDir } from '../src/images/cache-dir.ts';
import { buildNatives } from '../src/runner/provision.ts';
import { attemptRoundTrip, type RoundTripCase } from '../src/runner/round-trip.ts';
import { mkdirPrivate, removeTree } from '../src/util/fs.ts';

const N = Number(process.env.BENCH_RUNS ?? 7);
const cacheDir = defaultCacheDir();
const { config, images } = parseConfig(DEFAULT_CONFIG_TEXT, 'default');
const timeouts = config.settings.timeouts;
// This machine kind has no debug-register breakpoints; CRIU 4.1.1 needs the stopgap (see README).
const criuEnv = { CRIU_FAULT: '130' };
const counter: RoundTripCase = { check: 'counter', workload: 'counter', args: [], mode: 'dump' };

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const BARE = `#!/bin/sh
# The round trip by hand, as an operator would script it.
set -e
d=/run/criu-compat/bare; rm -rf $d; mkdir -p $d/img
setsid /run/criu-compat/bin/counter >$d/out 2>&1 </dev/null &
pid=$!
until grep -qx ready $d/out; do sleep 0.005; done
criu dump -t $pid -D $d/img -o dump.log
criu restore -d -D $d/img -o restore.log
kill -USR1 $pid
until grep -q '^PASS' $d/out; do sleep 0.005; done
`;

const natives = await buildNatives(cacheDir, ['counter']);
const image = await resolveImage('debian-trixie', images['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000, onProgress: (w) => console.error(`image: ${w}`) });

async function withEnv<T>(fn: (env: NamespaceEnvironment, work: string) => Promise<T>): Promise<T> {
  const work = await mkdtemp(join(tmpdir(), 'criu-compat-bench-'));
  await mkdirPrivate(work);
  const env = await NamespaceEnvironment.start({ id: 'bench', rootfs: image.rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 15_000 });
  try {
    await env.makeDir('/run/criu-compat/bin');
    await env.copyIn(natives.workloads.counter!, '/run/criu-compat/bin/counter');
    return await fn(env, work);
  } finally {
    await env.dispose();
    await removeTree(work);
  }
}

async function harnessOnce(env: NamespaceEnvironment, i: number): Promise<number> {
  const t0 = performance.now();
  const dir = `/run/criu-compat/h${i}`;
  const a = await attemptRoundTrip(counter, { env, criu: new Criu(env, criuEnv, timeouts.criuMs), binary: '/run/criu-compat/bin/counter', dir, timeouts });
  if (a.status !== 'PASS') throw new Error(`harness round trip: ${a.status}: ${a.reason}`);
  const ms = performance.now() - t0;
  await env.remove(dir);
  return ms;
}

// 1. harness vs bare
const [mb, mh] = await withEnv(async (env, work) => {
  await writeFile(join(work, 'bare.sh'), BARE, { mode: 0o700 });
  const bare = async () => {
    const t0 = performance.now();
    const r = await env.exec(['sh', '/run/criu-compat/bare.sh'], { timeoutMs: 60_000, env: criuEnv });
    if (r.exitCode !== 0) throw new Error(`bare round trip failed: ${r.stderr}`);
    return performance.now() - t0;
  };
  await bare(); // warm both paths
  await harnessOnce(env, 0);
  const b: number[] = [];
  const h: number[] = [];
  for (let i = 1; i <= N; i++) {
    b.push(await bare());
    h.push(await harnessOnce(env, i));
  }
  return [median(b), median(h)];
});
console.log(`round trip of counter, debian-trixie (criu ${image.packages.criu}), ${N} runs each, medians:`);
console.log(`  bare shell script          ${mb.toFixed(0)} ms`);
console.log(`  harness (round-trip suite) ${mh.toFixed(0)} ms`);
console.log(`  ratio harness/bare         ${(mh / mb).toFixed(3)}   (target <= 1.15)`);

// 2. N repetitions vs N one-shot cells
const t0 = performance.now();
await withEnv(async (env) => {
  for (let i = 1; i <= N; i++) await harnessOnce(env, i);
});
const repeated = performance.now() - t0;
let separate = 0;
for (let i = 1; i <= N; i++) {
  const t1 = performance.now();
  await withEnv(async (env) => harnessOnce(env, i));
  separate += performance.now() - t1;
}
console.log(`repetitions: ${N} attempts in one cell vs ${N} one-shot cells:`);
console.log(`  ratio repeated/separate    ${(repeated / separate).toFixed(3)}   (${repeated.toFixed(0)} ms vs ${separate.toFixed(0)} ms)`);
