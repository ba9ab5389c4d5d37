/**
 * Tampered image sets are caught, on this machine's kernel (namespace
 * backend, debian-trixie's CRIU 4.1.1 with CRIU_FAULT=130 as in the default
 * host-trixie-nobp pool): a flipped page of counter restores, and the
 * workload's own verification FAILs; a changed file size in files.img makes
 * CRIU refuse the restore, diagnosed; so does the open file itself changed
 * after the dump (missing, truncated, chmod-ed). Never PASS.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { Criu } from '../../src/criu/driver.ts';
import { BASE_ENV } from '../../src/environments/environment.ts';
import { NamespaceEnvironment } from '../../src/environments/namespace/namespace-environment.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { Workload } from '../../src/workloads/protocol.ts';
import { recordedRegFiles, tamperPages, tamperRegFileSize, type Tampered } from './tamper.ts';

let env: NamespaceEnvironment;
let criu: Criu;
let hostDir: string;
let bins: Record<string, string>;

beforeAll(async () => {
  const cacheDir = defaultCacheDir();
  const natives = await buildNatives(cacheDir, ['counter', 'open-file']);
  const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
  hostDir = mkdtempSync(join(tmpdir(), 'criu-compat-tamper-'));
  env = await NamespaceEnvironment.start({ id: 'tamper', rootfs: image.rootfs, hostWorkDir: hostDir, helper: natives.helper, timeoutMs: 30_000 });
  criu = new Criu(env, { ...BASE_ENV, CRIU_FAULT: '130' }, 60_000);
  bins = {};
  await env.makeDir(`${env.workDir}/bin`);
  for (const w of ['counter', 'open-file']) await env.copyIn(natives.workloads[w]!, (bins[w] = `${env.workDir}/bin/${w}`));
}, 900_000);

afterAll(async () => {
  await env?.dispose();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

/** Starts W, dumps it, tampers with a host copy of its images, copies the changed file back. */
async function dumpAndTamper(w: string, tamper: (dir: string) => Tampered): Promise<{ wl: Workload; img: string; t: Tampered }> {
  const img = `${env.workDir}/${w}-img`;
  await env.makeDir(img);
  const wl = new Workload(env, w, bins[w]!, `${env.workDir}/${w}.out`);
  await wl.start();
  expect((await wl.waitReady(10_000)).ok).toBe(true);
  const dump = await criu.dump({ pid: wl.pid, imagesDir: img, logFile: 'dump.log', verbosity: 4 });
  expect(dump.ok, dump.excerpt.join('\n')).toBe(true);
  const copy = mkdtempSync(join(tmpdir(), 'criu-compat-tamper-img-'));
  try {
    await env.copyOut(img, join(copy, 'img'));
    const t = tamper(join(copy, 'img'));
    await env.copyIn(join(copy, 'img', t.file), `${img}/${t.file}`);
    return { wl, img, t };
  } finally {
    rmSync(copy, { recursive: true, force: true });
  }
}

describe('tampered image sets', () => {
  test("bytes flipped in counter's pages: CRIU restores it, the workload's verification FAILs naming the changed byte", async () => {
    const { wl, img, t } = await dumpAndTamper('counter', (dir) => tamperPages(dir));
    expect(t.file).toMatch(/^pages-\d+\.img$/);
    const r = await criu.restore({ detach: true, imagesDir: img, logFile: 'restore.log', verbosity: 4 });
    expect(r.ok, r.excerpt.join('\n')).toBe(true);
    const v = await wl.verdict(10_000);
    await wl.kill();
    expect(v).toEqual({ status: 'FAIL', message: expect.stringMatching(/^heap byte \d+ changed$/) });
  });

  test('a file size changed in files.img: CRIU refuses the restore, diagnosed file-size-differs with the file and both sizes', async () => {
    let name = '';
    const { wl, img } = await dumpAndTamper('open-file', (dir) => {
      name = recordedRegFiles(dir).find((f) => /\/cc-open-file-\d+$/.test(f.name) && f.size === 65536)!.name;
      return tamperRegFileSize(dir, /\/cc-open-file-\d+$/, 1234);
    });
    const r = await criu.restore({ detach: true, imagesDir: img, logFile: 'restore.log', verbosity: 4 });
    expect(r.ok).toBe(false);
    expect(await wl.alive()).toBe(false);
    const d = r.diagnoses.find((x) => x.blame !== 'note')!;
    expect(d).toMatchObject({ id: 'file-size-differs', blame: 'tuple' });
    expect(d.cause).toContain(`${name} is 65536 bytes where the restore runs; the checkpoint recorded 1234`);
  });

  test('the open file changed after the dump (missing, truncated, chmod-ed): each restore is refused and diagnosed with the file and what differs; the original restores and PASSes', async () => {
    const { wl, img } = await dumpAndTamper('open-file', () => ({ file: 'files.img', what: 'nothing' }));
    const f = `/tmp/cc-open-file-${wl.pid}`;
    const sh = (cmd: string) => env.exec(['sh', '-c', cmd], { timeoutMs: 10_000 });
    expect((await sh(`cp -p ${f} ${f}.orig`)).exitCode).toBe(0);
    const cases = [
      { change: `rm ${f}`, id: 'file-missing', says: `${f} does not exist where the restore runs` },
      { change: `cp -p ${f}.orig ${f} && truncate -s 100 ${f}`, id: 'file-size-differs', says: `${f} is 100 bytes where the restore runs; the checkpoint recorded 65536` },
      { change: `cp -p ${f}.orig ${f} && chmod 0640 ${f}`, id: 'file-mode-differs', says: `${f} has mode 0640 where the restore runs; the checkpoint recorded 0600` },
    ];
    for (const c of cases) {
      expect((await sh(c.change)).exitCode).toBe(0);
      const r = await criu.restore({ detach: true, imagesDir: img, logFile: 'restore.log', verbosity: 4 });
      expect(r.ok, c.id).toBe(false);
      const d = r.diagnoses.filter((x) => x.blame !== 'note');
      expect(d.map((x) => x.id)).toEqual([c.id]);
      expect(d[0]!.cause).toContain(c.says);
    }
    expect((await sh(`chmod 0600 ${f}`)).exitCode).toBe(0);
    const ok = await criu.restore({ detach: true, imagesDir: img, logFile: 'restore.log', verbosity: 4 });
    expect(ok.ok, ok.excerpt.join('\n')).toBe(true);
    expect(await wl.verdict(10_000)).toEqual({ status: 'PASS' });
  });
});
