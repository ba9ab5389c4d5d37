import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { diagnose } from '../criu/diagnose.ts';
import { summarizeArchive } from '../runner/container-round-trip.ts';
import { describeRuntimeFailure, type RuntimeRun } from './container-runtime.ts';
import { parseCrunFeatures, parseRuntimeVersion } from './detect.ts';
import { parsePrintStats } from './podman.ts';

const rec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/runtime-output', f), 'utf8');
const ids = (text: string) => diagnose({ text }).map((d) => d.id);

describe('runtime detection on --version outputs recorded in the Debian node images', () => {
  test('versions', () => {
    expect(parseRuntimeVersion('runc', rec('trixie-runc-version.txt'))).toBe('1.1.15+ds1');
    expect(parseRuntimeVersion('runc', rec('bookworm-runc-version.txt'))).toBe('1.1.5+ds1');
    expect(parseRuntimeVersion('crun', rec('trixie-crun-version.txt'))).toBe('1.21');
    expect(parseRuntimeVersion('podman', rec('bookworm-podman-version.txt'))).toBe('4.3.1');
    expect(parseRuntimeVersion('podman', rec('trixie-podman-version.txt'))).toBe('5.4.2');
    expect(parseRuntimeVersion('crun', 'sh: 1: crun: not found')).toBeUndefined();
  });

  test('crun built with CRIU (trixie) and without (bookworm)', () => {
    expect(parseCrunFeatures(rec('trixie-crun-version.txt'))).toContain('+CRIU');
    const bookworm = parseCrunFeatures(rec('bookworm-crun-version.txt'));
    expect(bookworm).toContain('+SECCOMP');
    expect(bookworm).not.toContain('+CRIU');
  });
});

describe('runtime failure signatures on outputs recorded here', () => {
  test('crun on a hybrid cgroup layout (crun 1.8.1 under podman 4.3.1, crun 1.21 directly)', () => {
    expect(ids(rec('podman-4.3.1-crun-1.8.1-cgroup-hybrid.txt'))).toEqual(['crun-cgroup-hybrid']);
    expect(ids(rec('crun-1.21-run-cgroup-hybrid.txt'))).toEqual(['crun-cgroup-hybrid']);
  });

  test('RLIMIT_NOFILE / RLIMIT_NPROC raise without CAP_SYS_RESOURCE blames the environment, not the tuple', () => {
    const d = diagnose({ text: rec('podman-4.3.1-runc-1.1.5-ulimit-nofile-eperm.txt') });
    expect(d).toMatchObject([{ id: 'container-rlimit', blame: 'environment' }]);
    expect(ids(rec('podman-4.3.1-compat-api-runc-1.1.5-rlimit-nproc-eperm.txt'))).toEqual(['container-rlimit']);
    expect(ids('Error: OCI runtime error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted')).toEqual(['container-rlimit']);
  });

  test('TCP dump on kernel >= 6.16 with CRIU 4.1.1: SO_PASSCRED', () => {
    const text = rec('runc-1.1.15-criu-4.1.1-kernel-6.18-tcp-established.txt');
    expect(ids(text)).toEqual(['sockopt-passcred', 'rlimit-nofile']);
    const run = { argv: [], result: { exitCode: 1, stdout: '', stderr: '', timedOut: false, durationMs: 1 }, text, diagnoses: diagnose({ text }), excerpt: [], ok: false } satisfies RuntimeRun;
    expect(describeRuntimeFailure('runc checkpoint', run, 1000)).toBe('runc checkpoint failed (exit 1): CRIU cannot read SO_PASSCRED/SO_PASSSEC from TCP/UDP sockets on this kernel');
  });

  test('no iptables-restore for the network lock of a container with its own network namespace (runc 1.1.15, CRIU 4.1.1)', () => {
    // Recorded with iptables-restore off criu's PATH: CRIU's own hint (CONFIG_NETFILTER_XT_MARK) would send the reader the wrong way.
    const text = rec('runc-1.1.15-criu-4.1.1-checkpoint-no-iptables-restore.txt');
    expect(ids(text)).toEqual(['iptables-restore-missing', 'rlimit-nofile']);
    const run = { argv: [], result: { exitCode: 1, stdout: '', stderr: '', timedOut: false, durationMs: 1 }, text, diagnoses: diagnose({ text }), excerpt: [], ok: false } satisfies RuntimeRun;
    expect(describeRuntimeFailure('runc checkpoint', run, 1000)).toBe("runc checkpoint failed (exit 1): No iptables-restore for CRIU's network lock");
  });

  test('podman 4.3.1 told to checkpoint through a crun built without CRIU (bookworm: no +CRIU in crun --version)', () => {
    expect(ids(rec('podman-4.3.1-crun-1.8.1-checkpoint-unsupported.txt'))).toEqual(['runtime-no-checkpoint']);
    expect(rec('bookworm-crun-version.txt')).not.toContain('+CRIU');
  });

  test('without a known signature the first CRIU error beats the runtime\'s "container still running"', () => {
    const text = rec('runc-1.1.15-criu-4.1.1-kernel-6.18-tcp-established.txt').replace(/Can't get 1:\d+ opt: Operation not supported/g, 'something else broke');
    const run = { argv: [], result: { exitCode: 1, stdout: '', stderr: '', timedOut: false, durationMs: 1 }, text, diagnoses: diagnose({ text }), excerpt: [], ok: false } satisfies RuntimeRun;
    expect(describeRuntimeFailure('runc checkpoint', run, 1000)).toBe('runc checkpoint failed (exit 1): criu: sockets: something else broke');
  });

  test('a restore error line carries the task pid before "Error"; it is still the one named', () => {
    const text = rec('podman-5.4.2-runc-1.1.15-criu-4.1.1-kernel-6.12-tcp-restore-network-none.txt');
    const run = { argv: [], result: { exitCode: 125, stdout: '', stderr: 'Restoring FAILED.', timedOut: false, durationMs: 1 }, text, diagnoses: diagnose({ text }), excerpt: [], ok: false } satisfies RuntimeRun;
    expect(run.diagnoses.map((d) => d.id)).toEqual(['restore-loopback-down']);
    expect(describeRuntimeFailure('podman restore', run, 1000)).toBe('podman restore failed (exit 125): Loopback is down in the network namespace the restore uses');
    const unknown = text.replace('Network is unreachable', 'No route to host');
    const bare = { ...run, text: unknown, diagnoses: diagnose({ text: unknown }) };
    expect(describeRuntimeFailure('podman restore', bare, 1000)).toBe("podman restore failed (exit 125): soccr: Can't connect inet socket back: No route to host");
  });
});

describe('podman --print-stats', () => {
  test('podman 4.3.1 whose checkpoint failed prints durations only', () => {
    expect(parsePrintStats('{\n    "podman_checkpoint_duration": 397803,\n    "container_statistics": null\n}\n')).toEqual({ podmanCheckpointDurationUs: 397803 });
  });
  test('podman 5 shape: per-container runtime and CRIU figures, flattened, times in µs', () => {
    const out = parsePrintStats(
      JSON.stringify({
        podman_checkpoint_duration: 296913,
        container_statistics: [{ id: 'x', runtime_checkpoint_duration: 195920, criu_statistics: { freezing_time: 3471, frozen_time: 124388, pages_written: 4368 } }],
      }),
    );
    expect(out).toEqual({ podmanCheckpointDurationUs: 296913, runtimeCheckpointDurationUs: 195920, 'criu.freezingTimeUs': 3471, 'criu.frozenTimeUs': 124388, 'criu.pagesWritten': 4368 });
    expect(parsePrintStats('Error: no such container')).toBeUndefined();
  });
});

test('an export archive is summarised by names, never contents', () => {
  const s = summarizeArchive(['config.dump', 'spec.dump', 'checkpoint/', 'checkpoint/pages-1.img', 'checkpoint/core-1.img', 'rootfs-diff.tar', 'stats-dump'], 16_815_212);
  expect(s).toBe('archive 16.8 MB, root-only: config.dump, spec.dump, checkpoint/ (2 files), rootfs-diff.tar, stats-dump');
});
