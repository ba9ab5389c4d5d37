/**
 * A container pilot's migration stage for real: the key-value service in a
 * runc container (from a root filesystem made on this machine) and in a
 * podman container (from an OCI archive of it), checkpointed by the runtime
 * on host-sid-containers, moved (runc: images, CRIU's work directory and
 * the bundle; podman: its export archive, the container's image first)
 * with the integrity check, restored by the destination's runtime: to a
 * second pool of the same image (host-sid-containers-b), to trixie's
 * (another CRIU); and a runc pilot to a pool whose image has no runc. What
 * each cell must say follows from the pools' probed CRIU versions and
 * runtimes, never from a verdict written here.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Cell, RunResults } from '../../src/results/schema.ts';
import { ociArchiveScript } from '../../src/runtimes/cri/oci-archive.ts';
import { ROOT, removeTempDirs, runJsonConfig, tempDir } from './harness.ts';
import { SERVICE, ask, expectMeasuredMigration, markedProcesses, pilotCgroups } from './pilot-services.ts';

const SID = 'host-sid-containers';
const SID_B = 'host-sid-containers-b';
const TRIXIE = 'host-trixie-containers';
const PLAIN = 'host-sid';
let results: RunResults;
const cell = (check: string): Cell => {
  const c = results.cells.find((x) => x.pool === SID && x.check === check);
  if (!c) throw new Error(`no cell ${SID} ${check}; cells: ${results.cells.map((x) => `${x.pool}/${x.check}`).join(', ')}`);
  return c;
};
const inventory = (pool: string) => results.pools.find((p) => p.name === pool)!.inventory!;
const canCheckpoint = (pool: string, rt: string) => inventory(pool).runtimes?.find((r) => r.name === rt)?.checkpoint === true;
/** a < b for dotted versions (4.1.1 < 4.2.1). */
const older = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split('.').map(Number));
  for (let i = 0; i < Math.max(x!.length, y!.length); i++) if ((x![i] ?? 0) !== (y![i] ?? 0)) return (x![i] ?? 0) < (y![i] ?? 0);
  return false;
};

/** The key-value service as a container pilot, with a client that connects afresh each time (the address does not move without a node network). */
function kv(name: string, container: object, migrateTo: string[], attempts: number) {
  return {
    name,
    pools: [SID],
    service: { container: { command: ['perl', '-e', SERVICE], ...container } },
    ready: { tcp: { port: 7000 }, timeoutMs: 15_000 },
    seed: [{ command: ask('SET answer 42', 'OK'), timeoutMs: 15_000 }],
    verify: [{ command: ask('GET answer', '42'), timeoutMs: 15_000 }],
    client: { tcp: { port: 7000 }, intervalMs: 50 },
    criu: { options: ['--tcp-established'] },
    stages: ['migration'],
    migrateTo,
    attempts,
    criteria: { freezeMsP95: 500, clientGapMsMax: 20_000 },
  };
}

beforeAll(async () => {
  const dir = tempDir('criu-compat-pilot-ct-mig-');
  const rootfs = join(dir, 'rootfs');
  execFileSync(join(ROOT, 'fixtures/pilots/make-perl-rootfs.sh'), [rootfs], { stdio: 'ignore', timeout: 120_000 });
  const archive = join(dir, 'perl.oci.tar');
  execFileSync('sh', ['-c', ociArchiveScript({ rootDir: rootfs, out: archive, name: 'localhost/criu-compat/perl:1', entrypoint: ['/usr/bin/perl'], env: ['PATH=/usr/bin:/bin'] })], { stdio: 'ignore', timeout: 120_000 });
  const env = { CRIU_FAULT: '130' };
  const config = {
    pools: [
      { name: SID, kernel: 'host', image: 'debian-sid-containers', criu: { env } },
      { name: SID_B, kernel: 'host', image: 'debian-sid-containers', criu: { env } },
      { name: TRIXIE, kernel: 'host', image: 'debian-trixie-containers', criu: { env } },
      { name: PLAIN, kernel: 'host', image: 'debian-sid' },
    ],
    settings: { suites: ['pilot'] },
    pilots: [
      kv('kv-runc', { rootfs, runtime: 'runc' }, [SID_B, TRIXIE], 2),
      kv('kv-podman', { archive, runtime: 'podman' }, [SID_B, TRIXIE], 1),
      // A destination whose node image has no runc.
      kv('kv-runc-nowhere', { rootfs, runtime: 'runc' }, [PLAIN], 1),
    ],
  };
  results = await runJsonConfig(dir, config);
}, 600_000);
afterAll(() => removeTempDirs());

describe('container pilot migration', () => {
  test('the pools have the runtimes (probed); the baselines passed; no cell is an ERROR', () => {
    for (const pool of [SID, SID_B, TRIXIE]) for (const rt of ['runc', 'podman']) expect(canCheckpoint(pool, rt), `${pool} ${rt}`).toBe(true);
    expect(inventory(PLAIN).runtimes?.find((r) => r.name === 'runc')?.version ?? null).toBeNull();
    for (const p of ['kv-runc', 'kv-podman', 'kv-runc-nowhere']) expect(cell(`${p}/start`).status, cell(`${p}/start`).reason).toBe('PASS');
    expect(results.cells.filter((c) => c.status === 'ERROR').map((c) => `${c.pool}/${c.check}: ${c.reason}`)).toEqual([]);
  });

  test('runc to a pool of the same image: runc checkpoint there, images and bundle moved, runc restore here, verified in every attempt, with measured numbers', () => {
    expect(inventory(SID_B).criuVersion).toBe(inventory(SID).criuVersion);
    const c = cell(`kv-runc/migration → ${SID_B}`);
    expect(c.status, c.reason).toBe('PASS');
    expect(c.mode).toBe('migration');
    expect([c.source, c.destination]).toEqual([SID, SID_B]);
    expect(c.repetitions).toEqual({ attempts: 2, successes: 2, successRate: 1 });
    expect(c.commands[0]).toMatch(new RegExp(`^\\[${SID}\\] runc --root rt/state checkpoint --image-path img --work-path img.work --tcp-established `));
    expect(c.commands[1]).toMatch(new RegExp(`^\\[${SID_B}\\] .*'runc' .*'restore' '-d' '--bundle' .*'--tcp-established'`));
    const m = c.metrics.pilot!;
    expectMeasuredMigration(m, 2);
    // CRIU's frozen time (its stats in runc's work directory) lies inside runc's whole checkpoint.
    expect(m['freezeMsMax']!).toBeLessThan(m['checkpointMsMax']!);
  });

  test('podman to a pool of the same image: the image loaded there first, checkpoint --export, the archive carried, restore --import, verified', () => {
    const c = cell(`kv-podman/migration → ${SID_B}`);
    expect(c.status, c.reason).toBe('PASS');
    const steps = c.commands.map((l) => `${/^\[([^\]]+)\]/.exec(l)?.[1]} ${/ (save|load|container checkpoint|container restore) /.exec(l)?.[1]}`);
    expect(steps).toEqual([`${SID} save`, `${SID_B} load`, `${SID} container checkpoint`, `${SID_B} container restore`]);
    expect(c.commands[2]).toMatch(/ --tcp-established --export checkpoint\.tar\.gz /);
    expect(c.commands[3]).toMatch(/ --tcp-established --import checkpoint\.tar\.gz$/);
    const m = c.metrics.pilot!;
    expectMeasuredMigration(m, 1);
    expect(m['freezeMsMax']!).toBeLessThan(m['checkpointMsMax']!); // the freeze podman printed
  });

  test("to trixie's pool: PASS when its CRIU is not older, else FAIL on the destination with the cause from the runtime's CRIU log, and the fallback restores on the source", () => {
    const newerImages = older(inventory(TRIXIE).criuVersion!, inventory(SID).criuVersion!);
    for (const [p, attempts] of [['kv-runc', 2], ['kv-podman', 1]] as const) {
      const c = cell(`${p}/migration → ${TRIXIE}`);
      if (!newerImages) {
        expect(c.status, c.reason).toBe('PASS');
        continue;
      }
      const rt = p === 'kv-runc' ? 'runc restore' : 'podman restore --import';
      expect(c.status, c.reason).toBe('FAIL');
      expect(c.reason).toMatch(new RegExp(`^(${attempts}/${attempts} attempts failed; first: )?on ${TRIXIE}: ${rt} failed`));
      expect(c.diagnoses.map((d) => d.id)).toContain('criu-older-on-destination');
      expect(c.diagnoses[0]!.blame).not.toBe('note');
      expect(c.logExcerpt.length).toBeGreaterThan(0);
      expect(c.metrics.pilot!['restoreMsMax']).toBeUndefined(); // a failed restore is not a restore time
      expect(c.fallback, c.reason).toMatchObject({ status: 'PASS', reason: expect.stringMatching(new RegExp(`^restored on ${SID} from the same images and verified there`)) });
      expect(c.commands.at(-1)).toMatch(new RegExp(`^\\[${SID}\\] .*restore`));
    }
  });

  test('to a pool whose image has no runc: a SKIP naming it, nothing run; the verdict stays UNDECIDED', () => {
    const c = cell(`kv-runc-nowhere/migration → ${PLAIN}`);
    expect(c.status).toBe('SKIP');
    expect(c.reason).toMatch(new RegExp(`^capability missing: runc on ${PLAIN} \\(not installed in its node image`));
    expect(c.commands).toEqual([]);
    expect(results.pilots!.find((x) => x.pilot === 'kv-runc-nowhere' && x.pool === SID)!.verdict).toBe('UNDECIDED');
  });

  test('the verdicts, judged from those cells and the measured numbers: the pools whose migration met every criterion decide between GO, CONDITIONAL and NO-GO', () => {
    for (const p of ['kv-runc', 'kv-podman']) {
      const v = results.pilots!.find((x) => x.pilot === p && x.pool === SID)!;
      const cells = results.cells.filter((c) => c.pool === SID && c.check.startsWith(`${p}/migration → `));
      expect(cells.map((c) => c.status)).not.toContain('ERROR');
      // A destination is met when its cell passed and every criterion row of it holds (the freeze and client gap are measured, and a loaded machine can miss them).
      const met = cells.filter((c) => c.status === 'PASS' && v.reasons.filter((r) => r.cell === c.check).every((r) => r.ok)).map((c) => c.destination!);
      expect(v.reasons.filter((r) => r.cell === `${p}/migration → ${SID_B}`).every((r) => r.measured !== null)).toBe(true);
      if (met.length === cells.length) expect(v.verdict, v.why).toBe('GO');
      else if (!met.length) expect(v.verdict, v.why).toBe('NO-GO');
      else {
        expect(v.verdict, v.why).toBe('CONDITIONAL');
        expect(v.conditions).toEqual([`only between these pools: ${met.map((d) => `${SID} → ${d}`).join(', ')}`]);
      }
      if (cells.some((c) => c.status === 'FAIL')) expect(v.response).toMatch(/cold-start fallback/);
    }
  });

  test('nothing is left behind: no service, no container cgroup, no mount of a pilot root', () => {
    expect(markedProcesses()).toEqual([]);
    expect(pilotCgroups(results.runId)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/pilot-rootfs/);
  });
});
