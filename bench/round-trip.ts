/**
 * npm run bench — what the harness costs over the CRIU work it drives.
 *
 * One environment (debian-trixie on the host kernel, namespace backend).
 * "bare": one shell script inside it does the round trip of `counter` by
 * hand (start, wait for ready, criu dump, criu restore -d, signal, wait for
 * PASS). "harness": the same round trip through the harness's own code path
 * (Environment, Criu driver, Workload protocol), as the round-trip suite
 * runs it. Medians of N runs each, interleaved; prints the ratio.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.ts';
import { DEFAULT_CONFIG_TEXT } from '../src/config/default.ts';
import { Criu } from '../src/criu/driver.ts';
import { NamespaceEnvironment } from '../src/environments/namespace/namespace-environment.ts';
import { defaultCacheDir, resolveImage } from '../src/images/node-image.ts';
import { buildNatives } from '../src/runner/provision.ts';
import { mkdirPrivate, removeTree } from '../src/util/fs.ts';
import { Workload } from '../src/workloads/protocol.ts';

const N = Number(process.env.BENCH_RUNS ?? 7);
const cacheDir = defaultCacheDir();
const loaded = parseConfig(DEFAULT_CONFIG_TEXT, 'default');
const criuEnv = { CRIU_FAULT: '130' }; // this machine kind has no debug-register breakpoints (see README)

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

async function main(): Promise<void> {
  const natives = await buildNatives(cacheDir, ['counter']);
  const image = await resolveImage('debian-trixie', loaded.images['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000, onProgress: (w) => console.error(`image: ${w}`) });
  const work = await mkdtemp(join(tmpdir(), 'criu-compat-bench-'));
  await mkdirPrivate(work);
  const env = await NamespaceEnvironment.start({ id: 'bench', rootfs: image.rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 15_000 });
  try {
    await env.makeDir('/run/criu-compat/bin');
    await env.copyIn(natives.workloads.counter!, '/run/criu-compat/bin/counter');
    await writeFile(join(work, 'bare.sh'), BARE, { mode: 0o700 });
    const criu = new Criu(env, criuEnv, 30_000);

    const bare = async () => {
      const t0 = performance.now();
      const r = await env.exec(['sh', '/run/criu-compat/bare.sh'], { timeoutMs: 60_000, env: criuEnv });
      if (r.exitCode !== 0) throw new Error(`bare round trip failed: ${r.stderr}`);
      return performance.now() - t0;
    };
    const harness = async (i: number) => {
      const t0 = performance.now();
      const dir = `/run/criu-compat/h${i}`;
      await env.makeDir(`${dir}/img`);
      const wl = new Workload(env, 'counter', '/run/criu-compat/bin/counter', `${dir}/out`);
      await wl.start();
      if (!(await wl.waitReady(10_000)).ok) throw new Error('not ready');
      const dump = await criu.run(['dump', '-t', String(wl.pid), '-D', `${dir}/img`, '-o', 'dump.log', '-v4'], { logFile: `${dir}/img/dump.log` });
      if (!dump.ok || !(await wl.waitGone(2000))) throw new Error(`dump failed: ${dump.excerpt.join(' | ')}`);
      const restore = await criu.run(['restore', '-d', '-D', `${dir}/img`, '-o', 'restore.log', '-v4'], { logFile: `${dir}/img/restore.log` });
      if (!restore.ok) throw new Error(`restore failed: ${restore.excerpt.join(' | ')}`);
      const v = await wl.verdict(10_000);
      if (v.status !== 'PASS') throw new Error(`verify: ${JSON.stringify(v)}`);
      const ms = performance.now() - t0;
      await env.remove(dir);
      return ms;
    };

    await bare(); // warm caches on both paths
    await harness(0);
    const b: number[] = [];
    const h: number[] = [];
    for (let i = 1; i <= N; i++) {
      b.push(await bare());
      h.push(await harness(i));
    }
    const mb = median(b);
    const mh = median(h);
    console.log(`round trip of counter, debian-trixie (criu ${image.packages.criu}), ${N} runs each, medians:`);
    console.log(`  bare shell script   ${mb.toFixed(0)} ms`);
    console.log(`  harness             ${mh.toFixed(0)} ms`);
    console.log(`  ratio harness/bare  ${(mh / mb).toFixed(3)}  (target <= 1.15)`);
  } finally {
    await env.dispose();
    await removeTree(work);
  }
}

await main();
