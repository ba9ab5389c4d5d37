/**
 * Container pilots for real: the key-value service of the engine's tests,
 * run from a container root filesystem made on this machine (the shipped
 * fixtures/pilots/make-perl-rootfs.sh: Perl and its C library from the
 * host's own packages) and from an OCI archive made of it (the cri suite's
 * archive writer, run on the host): nothing from a registry. runc and podman
 * in Debian unstable's node image (CRIU 4.2.1), runc in trixie's (CRIU
 * 4.1.1). What each cell must say follows from the pools' probed CRIU, the
 * kernel and the runtimes found in their images, never from a verdict
 * written here. Their migration stage: pilot-container-migration.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { ociArchiveScript } from '../../src/runtimes/cri/oci-archive.ts';
import type { Cell, RunResults } from '../../src/results/schema.ts';
import { ROOT, removeTempDirs, runJsonConfig, tempDir } from './harness.ts';
import { MARK, SERVICE, ask, canDumpInet, markedProcesses, pilotCgroups } from './pilot-services.ts';
import { capEffOf } from '../../src/runner/capabilities.ts';

/** Does a process started here (as criu is) have CAP_SYS_RESOURCE, which dumping another user's process needs? */
const hasSysResource = () => Boolean(((capEffOf(readFileSync('/proc/self/status', 'utf8')) ?? 0n) >> 24n) & 1n);

const SID = 'host-sid-containers';
const TRIXIE = 'host-trixie-containers';
let results: RunResults;
let rootfs = '';
let archive = '';
const cell = (pool: string, check: string): Cell => {
  const c = results.cells.find((x) => x.pool === pool && x.check === check);
  if (!c) throw new Error(`no cell ${pool} ${check}; cells: ${results.cells.map((x) => `${x.pool}/${x.check}`).join(', ')}`);
  return c;
};
const verdict = (pool: string, pilot: string) => results.pilots?.find((v) => v.pool === pool && v.pilot === pilot);
const runtimeOf = (pool: string, name: string) => results.pools.find((p) => p.name === pool)!.inventory?.runtimes?.find((r) => r.name === name);

/** The key-value pilot as a container service, with a held client. */
function kv(name: string, pools: string[], container: object, options: string[], extra: object = {}) {
  return {
    name,
    pools,
    service: { container: { command: ['perl', '-e', SERVICE], ...container } },
    ready: { tcp: { port: 7000 }, timeoutMs: 15_000 },
    seed: [{ command: ask('SET answer 42', 'OK'), timeoutMs: 15_000 }],
    verify: [{ command: ask('GET answer', '42'), timeoutMs: 15_000 }],
    client: { held: { port: 7000, send: `PING ${MARK}\n`, expect: 'PONG' }, intervalMs: 50 },
    criu: { options },
    attempts: 2,
    ...extra,
  };
}

beforeAll(async () => {
  const dir = tempDir('criu-compat-pilot-container-');
  rootfs = join(dir, 'rootfs');
  execFileSync(join(ROOT, 'fixtures/pilots/make-perl-rootfs.sh'), [rootfs], { stdio: 'ignore', timeout: 120_000 });
  archive = join(dir, 'perl.oci.tar');
  execFileSync('sh', ['-c', ociArchiveScript({ rootDir: rootfs, out: archive, name: 'localhost/criu-compat/perl:1', entrypoint: ['/usr/bin/perl'], env: ['PATH=/usr/bin:/bin'] })], { stdio: 'ignore', timeout: 120_000 });
  const config = {
    pools: [
      { name: SID, kernel: 'host', image: 'debian-sid-containers', criu: { env: { CRIU_FAULT: '130' } } },
      { name: TRIXIE, kernel: 'host', image: 'debian-trixie-containers', criu: { env: { CRIU_FAULT: '130' } } },
    ],
    settings: { suites: ['pilot'] },
    pilots: [
      // runc from the rootfs directory, on both pools.
      kv('kv-runc', [SID, TRIXIE], { rootfs, runtime: 'runc' }, ['--tcp-established']),
      // podman from the OCI archive.
      kv('kv-podman', [SID], { archive, runtime: 'podman' }, ['--tcp-established'], { stages: ['checkpoint-restore'] }),
      // A held connection without --tcp-established: breaks at the checkpoint.
      // Its reconnect variant (--skip-in-flight: runc takes it through a CRIU configuration file) may make it CONDITIONAL: clients reconnect.
      kv('kv-no-tcp', [SID], { archive, runtime: 'runc' }, [], { stages: ['checkpoint-restore'], criteria: { clientErrorsMax: 1000 } }),
      // As the container's own user (its /etc/passwd): the process runs as nobody, and the seed runs as nobody through runc exec.
      kv('kv-nobody', [SID], { rootfs, runtime: 'runc', user: 'nobody' }, ['--tcp-established'], { stages: ['checkpoint-restore'], attempts: 1, seed: [{ command: ask('SET answer 42', 'OK'), user: 'nobody', timeoutMs: 15_000 }] }),
      // An option podman has no flag for: never dropped silently.
      kv('kv-podman-unix', [SID], { rootfs, runtime: 'podman' }, ['--tcp-established', '--ext-unix-sk'], { stages: ['checkpoint-restore'], attempts: 1 }),
    ],
  };
  results = await runJsonConfig(dir, config);
});
afterAll(() => removeTempDirs());

describe('container pilots', () => {
  test('the pools have the runtimes the pilots name (probed), and no cell is an ERROR', () => {
    for (const pool of [SID, TRIXIE]) expect(runtimeOf(pool, 'runc')?.checkpoint, pool).toBe(true);
    expect(runtimeOf(SID, 'podman')?.checkpoint).toBe(true);
    expect(results.cells.filter((c) => c.status === 'ERROR').map((c) => `${c.pool}/${c.check}: ${c.reason}`)).toEqual([]);
  });

  test('start: the container runs from the rootfs and from the OCI archive, ready, seeded, verified, the held client answered', () => {
    for (const [pool, name] of [[SID, 'kv-runc'], [TRIXIE, 'kv-runc'], [SID, 'kv-podman'], [SID, 'kv-no-tcp'], [SID, 'kv-podman-unix'], [SID, 'kv-nobody']] as const) {
      const c = cell(pool, `${name}/start`);
      expect(c.status, `${pool} ${name}: ${c.reason}`).toBe('PASS');
      expect(c.metrics.pilot!['clientErrors']).toBe(0);
      expect(c.metrics.pilot!['heldConnectionSurvived']).toBe(1);
    }
  });

  test('runc with --tcp-established: stages through runc checkpoint/restore; PASS where this CRIU dumps TCP on this kernel, else a diagnosed FAIL; freeze from CRIU stats', () => {
    for (const pool of [SID, TRIXIE])
      for (const stage of ['leave-running', 'checkpoint-restore'] as const) {
        const c = cell(pool, `kv-runc/${stage}`);
        const m = c.metrics.pilot!;
        expect(c.commands[0]).toMatch(new RegExp(`^runc --root \\S+ checkpoint .*${stage === 'leave-running' ? '--leave-running ' : ''}--tcp-established `));
        if (!canDumpInet(results, pool)) {
          expect(c.status, `${pool} ${stage}: ${c.reason}`).toBe('FAIL');
          expect(c.reason).toMatch(/^(\d\/\d attempts failed; first: )?runc checkpoint/);
          expect(c.diagnoses.map((d) => d.id)).toContain('sockopt-passcred');
          continue;
        }
        expect(c.status, `${pool} ${stage}: ${c.reason}`).toBe('PASS');
        expect(m['successes']).toBe(2);
        expect(m['heldConnectionSurvived']).toBe(1);
        // CRIU's frozen time (its stats-dump in runc's work directory) is part of the whole runc checkpoint, never all of it.
        expect(m['freezeMsMax']!).toBeGreaterThan(0);
        expect(m['freezeMsMax']!).toBeLessThan(m['checkpointMsMax']!);
        expect(m['imageBytesMax']!).toBeGreaterThan(100_000);
        if (stage === 'checkpoint-restore') {
          expect(c.commands[1]).toMatch(/'restore' '-d' .*'--tcp-established'/);
          expect(m['restoreMsMax']!).toBeGreaterThan(0);
        }
      }
    for (const pool of [SID, TRIXIE]) {
      const v = verdict(pool, 'kv-runc')!;
      expect(v.verdict, `${pool}: ${JSON.stringify(v.reasons)}`).toBe(canDumpInet(results, pool) ? 'GO' : 'NO-GO');
    }
  });

  test('podman from the OCI archive: podman container checkpoint/restore with --tcp-established, the freeze podman printed', () => {
    const c = cell(SID, 'kv-podman/checkpoint-restore');
    expect(c.commands[0]).toMatch(/podman .* container checkpoint --print-stats --tcp-established /);
    expect(c.commands[1]).toMatch(/podman .* container restore --print-stats --tcp-established /);
    expect(canDumpInet(results, SID)).toBe(true); // CRIU 4.2.1
    expect(c.status, c.reason).toBe('PASS');
    const m = c.metrics.pilot!;
    expect(m['freezeMsMax']!).toBeGreaterThan(0);
    expect(m['freezeMsMax']!).toBeLessThan(m['checkpointMsMax']!);
    expect(m['imageBytesMax']!).toBeGreaterThan(100_000); // podman's own checkpoint directory, measured before the restore
    expect(verdict(SID, 'kv-podman')!.verdict).toBe('GO');
  });

  test('a held connection without --tcp-established: runc checkpoint fails with the cause; CONDITIONAL only if the reconnecting variant passed', () => {
    const c = cell(SID, 'kv-no-tcp/checkpoint-restore');
    expect(c.status, c.reason).toBe('FAIL');
    expect(c.diagnoses.map((d) => d.id)).toContain('tcp-established-needed');
    expect(c.logExcerpt.join('\n')).toMatch(/consider using --tcp-established/);
    // The variant: a fresh connection per probe, --skip-in-flight given to runc's CRIU through org.criu.config (it has no such flag).
    const r = cell(SID, 'kv-no-tcp/checkpoint-restore/reconnect');
    expect(r.commands[0]).toBe('org.criu.config (CRIU configuration file runc reads on checkpoint and restore): skip-in-flight');
    expect(r.commands[1]).toMatch(/^runc --root \S+ checkpoint --image-path img --work-path img.work kv-no-tcp-/);
    expect(r.diagnoses.map((d) => d.id)).not.toContain('tcp-in-flight'); // the configuration file took effect
    const v = verdict(SID, 'kv-no-tcp')!;
    if (r.status === 'PASS') {
      expect(v.verdict).toBe('CONDITIONAL');
      expect(v.conditions.join(' ')).toMatch(/reconnect/);
    } else {
      expect(r.status, r.reason).toBe('FAIL');
      expect(v.verdict).toBe('NO-GO');
      expect(v.response).toMatch(/established-TCP/);
    }
  });

  test("a container user: start checks the process runs as that uid; the checkpoint needs CAP_SYS_RESOURCE, a SKIP naming it where root lacks it", () => {
    const c = cell(SID, 'kv-nobody/checkpoint-restore');
    if (!hasSysResource()) {
      expect(c.status).toBe('SKIP');
      expect(c.reason).toMatch(/^capability missing: CAP_SYS_RESOURCE .*\(the service runs as nobody\)$/);
    } else expect(c.status, c.reason).toBe('PASS');
  });

  test('an option the runtime has no flag for is a SKIP naming it, not dropped', () => {
    const c = cell(SID, 'kv-podman-unix/checkpoint-restore');
    expect(c.status).toBe('SKIP');
    expect(c.reason).toMatch(/^capability missing: podman has no checkpoint\/restore flag for the CRIU option\(s\) --ext-unix-sk /);
    expect(c.commands).toEqual([]);
  });

  test('nothing is left behind: no service, no client, no container cgroup, no mount of a pilot root', () => {
    expect(markedProcesses()).toEqual([]);
    expect(pilotCgroups(results.runId)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/pilot-rootfs/);
  });
});
