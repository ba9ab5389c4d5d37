/**
 * npm run bench — what the kubelet's checkpoint path costs over runc's own:
 * in one namespace node of debian-sid-containerd (containerd 2.1.9, runc,
 * CRIU 4.2.1) on the host kernel, a small container (the counter workload,
 * ~17 MB of memory) in a CRI pod is checkpointed N times with CRI
 * CheckpointContainer (the kubelet's call: CRIU dump with the container left
 * running, plus containerd's rootfs diff, config and spec dumps and the tar
 * archive), and N times with `runc checkpoint --leave-running` of the very
 * same container (containerd's runc state directory), alternating. Prints the
 * medians and their ratio.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILTIN_IMAGES } from '../src/config/builtin.ts';
import { NamespaceEnvironment } from '../src/environments/namespace/namespace-environment.ts';
import { defaultCacheDir } from '../src/images/cache-dir.ts';
import { resolveImage } from '../src/images/node-image.ts';
import { buildStatic, buildStaticDir } from '../src/native/build-static.ts';
import { startWorkload } from '../src/runner/cri-cells.ts';
import { CriPods } from '../src/runtimes/cri/cri-pods.ts';
import { removeTree } from '../src/util/fs.ts';

const N = Number(process.env.BENCH_RUNS ?? 5);
const ROOT = join(import.meta.dirname, '..');
const cache = defaultCacheDir();
const image = await resolveImage('debian-sid-containerd', BUILTIN_IMAGES['debian-sid-containerd']!, { cacheDir: cache, buildTimeoutMs: 900_000, onProgress: (w) => console.error(`image: ${w}`) });
const [helper, pause, registry, counter] = await Promise.all([
  buildStaticDir('cc-ns', join(ROOT, 'src/environments/namespace/cc-ns'), cache),
  buildStatic('cc-pause', join(ROOT, 'src/native/cc-pause.c'), [], cache),
  buildStatic('cc-registry', join(ROOT, 'src/native/cc-registry.c'), [], cache),
  buildStatic('counter', join(ROOT, 'fixtures/workloads/counter.c'), [join(ROOT, 'fixtures/workloads/cc-workload.h')], cache),
]);
const host = await mkdtemp(join(tmpdir(), 'criu-compat-bench-cri-'));
const env = await NamespaceEnvironment.start({ id: 'bench-cri', rootfs: image.rootfs, hostWorkDir: host, helper, timeoutMs: 30_000 });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let pods: CriPods | undefined;
try {
  await env.makeDir(`${env.workDir}/bin`);
  await env.copyIn(counter, `${env.workDir}/bin/counter`);
  pods = new CriPods({ env, pause, registry, workloads: { counter: `${env.workDir}/bin/counter` }, tag: `bench-cri-${process.pid}`, timeoutMs: 60_000, criuEnv: { CRIU_FAULT: '130' } });
  await pods.start();
  const ctx = { pods, dir: `${env.workDir}/bench`, timeoutMs: 60_000, version: pods.node.version };
  await env.makeDir(ctx.dir);
  const w = await startWorkload(ctx, 'counter');
  if (w.draft) throw new Error(`the counter container did not start: ${w.draft.reason}`);
  const cri: number[] = [];
  const runc: number[] = [];
  for (let i = 0; i < N; i++) {
    let t = performance.now();
    await pods.client.checkpoint(w.id, `${ctx.dir}/cri-${i}.tar`, 60);
    cri.push(performance.now() - t);
    await env.remove(`${ctx.dir}/cri-${i}.tar`);
    const img = `${ctx.dir}/runc-${i}`;
    await env.makeDir(img);
    t = performance.now();
    const r = await env.exec(['runc', '--root', '/run/containerd/runc/k8s.io', 'checkpoint', '--leave-running', '--image-path', img, '--work-path', img, w.id], { timeoutMs: 60_000, env: { CRIU_FAULT: '130' } });
    runc.push(performance.now() - t);
    if (r.exitCode !== 0) throw new Error(`runc checkpoint failed: ${(r.stderr || r.stdout).trim().slice(-400)}`);
    await env.remove(img);
  }
  const c = median(cri);
  const rc = median(runc);
  console.log(`CRI checkpoint vs runc checkpoint of the same container (counter, containerd ${pods.node.version}, debian-sid-containerd, host kernel), ${N} each, medians:`);
  console.log(`  CRI CheckpointContainer (archive)       ${c.toFixed(0)} ms   (max ${Math.max(...cri).toFixed(0)} ms)`);
  console.log(`  runc checkpoint --leave-running          ${rc.toFixed(0)} ms   (max ${Math.max(...runc).toFixed(0)} ms)`);
  console.log(`  ratio CRI / runc                         ${(c / rc).toFixed(2)}`);
} finally {
  const left = await pods?.stop().catch((e: Error) => [`stopping containerd failed: ${e.message}`]);
  if (left?.length) {
    console.error(`left behind in the node: ${left.join('; ')}`);
    process.exitCode = 1;
  }
  await env.dispose();
  await removeTree(host);
}
