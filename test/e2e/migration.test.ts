/**
 * Migration cells for real, between two nodes of the debian-trixie image on
 * this machine's kernel (two namespace environments: separate mount, PID,
 * network and IPC namespaces, separate work directories; nothing shared but
 * the node image): a clean move PASSes with its figures; a destination
 * whose copy of a file is missing or differs, and an image set whose memory
 * was changed in transit, FAIL — never PASS, never ERROR — and a failed
 * restore proves the playbook's fallback on the source.
 */
import { chmodSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BUILTIN_IMAGES } from '../../src/config/builtin.ts';
import { Criu } from '../../src/criu/driver.ts';
import type { Environment } from '../../src/environments/environment.ts';
import { NamespaceEnvironment } from '../../src/environments/namespace/namespace-environment.ts';
import { defaultCacheDir } from '../../src/images/cache-dir.ts';
import { resolveImage } from '../../src/images/node-image.ts';
import { Timeouts } from '../../src/config/schema.ts';
import { MIGRATION_BASE, attemptMigration, migrationCases, type MigrationContext, type MigrationNode } from '../../src/runner/migration.ts';
import { buildNatives } from '../../src/runner/provision.ts';
import { harnessProcesses, tempDir } from './harness.ts';

const WORKLOADS = ['counter', 'open-file'];
let natives: Awaited<ReturnType<typeof buildNatives>>;
let a: MigrationNode;
let b: MigrationNode;
const timeouts = Timeouts.parse({});
const transit = tempDir('criu-compat-transit-');

async function node(name: string, rootfs: string): Promise<MigrationNode> {
  const work = tempDir(`criu-compat-mig-${name}-`);
  chmodSync(work, 0o700);
  const env = await NamespaceEnvironment.start({ id: name, rootfs, hostWorkDir: work, helper: natives.helper, timeoutMs: 30_000 });
  await env.makeDir(`${MIGRATION_BASE}/bin`);
  for (const w of WORKLOADS) await env.copyIn(natives.workloads[w]!, `${MIGRATION_BASE}/bin/${w}`);
  return { pool: name, env, criu: new Criu(env, { CRIU_FAULT: '130' }, timeouts.criuMs) };
}

beforeAll(async () => {
  const cacheDir = defaultCacheDir();
  natives = await buildNatives(cacheDir, WORKLOADS);
  const image = await resolveImage('debian-trixie', BUILTIN_IMAGES['debian-trixie']!, { cacheDir, buildTimeoutMs: 900_000 });
  [a, b] = await Promise.all([node('node-a', image.rootfs), node('node-b', image.rootfs)]);
}, 900_000);

afterAll(async () => {
  await Promise.all([a?.env.dispose(), b?.env.dispose()]);
});

function migrate(workload: string, o: Partial<MigrationContext> & { source?: MigrationNode; destination?: MigrationNode } = {}) {
  const c = migrationCases({ destination: 'node-b', workloads: [workload], modes: ['cold'] }, [64])[0]!;
  return attemptMigration(c, { source: a, destination: b, dir: `${MIGRATION_BASE}/cells/${workload}-${Math.random().toString(36).slice(2, 8)}`, binary: `${MIGRATION_BASE}/bin/${workload}`, transit: `${transit}/t`, timeouts, preDumps: 2, ...o });
}

/** Runs a shell snippet on a node, failing the test if it fails. */
async function sh(env: Environment, script: string, ...args: string[]): Promise<string> {
  const r = await env.exec(['sh', '-c', script, 'sh', ...args], { timeoutMs: 10_000 });
  expect(r.exitCode, r.stderr).toBe(0);
  return r.stdout;
}

describe('migration between two nodes', () => {
  test('counter, cold: restored on the other node, verified there, with its figures; nothing of it runs anywhere afterwards', async () => {
    const r = await migrate('counter');
    expect(r.status, r.reason).toBe('PASS');
    expect(r.reason).toMatch(/restored on node-b verified its own state/);
    expect(r.commands.some((c) => c.startsWith('[node-a] criu dump'))).toBe(true);
    expect(r.commands.some((c) => c.startsWith('[node-b] criu restore'))).toBe(true);
    const m = r.metrics.migration!;
    expect(m.transferBytes).toBeGreaterThan(16 << 20); // counter keeps 16 MiB of heap
    expect(m.freezeMs).toBeGreaterThan(0);
    expect(m.restoreMs).toBeGreaterThan(0);
    expect(m.downtimeMs).toBeGreaterThanOrEqual(m.freezeMs! + m.restoreMs!);
    expect(r.workloadOutput).toEqual(expect.arrayContaining(['ready', 'PASS']));
    expect(harnessProcesses().filter((p) => /\/bin\/counter/.test(p))).toEqual([]);
  });

  test('open-file, cold: its files travel with it (same path, size and mode on the destination)', async () => {
    const r = await migrate('open-file');
    expect(r.status, r.reason).toBe('PASS');
  });

  test('a file missing on the destination: FAIL with CRIU\'s reason, and the same images restore on the source (fallback)', async () => {
    const r = await migrate('open-file', { tamper: (env, dir) => sh(env, 'rm -f "$1"/data/cc-open-file-*', dir).then(() => undefined) });
    expect(r.status, r.reason).toBe('FAIL');
    expect(r.reason).toMatch(/on node-b: criu restore failed/);
    expect(r.diagnoses[0]).toMatchObject({ id: 'file-missing', evidence: expect.stringMatching(/cc-open-file-\d+ on restore/) });
    expect(r.fallback).toMatchObject({ status: 'PASS' });
  });

  test('a file whose size differs on the destination: FAIL, never PASS', async () => {
    const r = await migrate('open-file', { tamper: (env, dir) => sh(env, 'for f in "$1"/data/cc-open-file-*; do truncate -s 100 "$f"; done', dir).then(() => undefined) });
    expect(r.status, r.reason).toBe('FAIL');
    expect(r.diagnoses[0]).toMatchObject({ id: 'file-size-differs', evidence: expect.stringMatching(/has bad size 100 \(expect 65536\)/) });
    expect(r.fallback).toMatchObject({ status: 'PASS' });
  });

  test("memory changed in transit (a page of the counter's heap overwritten in pages-1.img): the workload itself catches it, FAIL", async () => {
    const r = await migrate('counter', {
      tamper: (env, dir) => sh(env, 'f="$1"/img/pages-1.img; n=$(( $(stat -c %s "$f") / 4096 / 2 )); dd if=/dev/zero of="$f" bs=4096 seek=$n count=4 conv=notrunc 2>/dev/null', dir).then(() => undefined),
    });
    expect(r.status, r.reason).toBe('FAIL');
    expect(r.reason).toMatch(/restored on node-b: .*(changed|differ|wrong)/i);
    // The untouched images on the source still restore there: the fallback is proved even when CRIU's restore itself succeeded.
    expect(r.fallback).toMatchObject({ status: 'PASS' });
  });
});
