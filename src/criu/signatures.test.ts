import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { diagnose, failureStatus, undiagnosed, withUndiagnosed, type DiagnoseInput } from './diagnose.ts';
import { activeSignatures, useOperatorSignatures } from './signatures.ts';

const root = join(import.meta.dirname, '../..');
const rec = (f: string) => readFileSync(join(root, 'fixtures/recorded/criu-logs', f), 'utf8');
const ext = (f: string) => readFileSync(join(root, 'fixtures/recorded/external', f), 'utf8');
const refs = (r: string | string[] | undefined) => (r === undefined ? [] : Array.isArray(r) ? r : [r]);
const decisive = (input: DiagnoseInput) => diagnose(input).filter((d) => d.blame !== 'note');

/** What a recording needs beside its text to show its signature (how CRIU ended there). */
const ENDING: Record<string, Partial<DiagnoseInput>> = {
  'hw-breakpoints': { timedOut: true },
  'criu-slow-not-hung': { timedOut: true, hwBreakpoints: true },
  'criu-crashed': { signal: 'SIGABRT' },
};

describe('the knowledge base', () => {
  test('every reference is a recording in the repository or the URL of a public report; each recording shows its signature', () => {
    let recorded = 0;
    for (const s of activeSignatures()) {
      for (const r of refs(s.reference)) {
        if (/^https:\/\//.test(r)) {
          expect(r, s.id).toMatch(/^https:\/\/github\.com\/[\w.-]+\/[\w.-]+\/(issues|pull)\/\d+$/);
          continue;
        }
        expect(existsSync(join(root, r)), `${s.id}: ${r}`).toBe(true);
        const text = readFileSync(join(root, r), 'utf8');
        const ids = diagnose({ text, ...ENDING[s.id] }).map((d) => d.id);
        expect(ids, `${s.id} on ${r}`).toContain(s.id);
      }
      if (refs(s.reference).some((r) => !r.startsWith('https://'))) recorded++;
    }
    // Issue 16: at least 30 signatures, each tested on a recording made here or a cited excerpt of a public report.
    expect(recorded).toBeGreaterThanOrEqual(30);
  });

  test("the failure modes issue 16 names are all known", () => {
    const ids = new Set(activeSignatures().map((s) => s.id));
    for (const id of [
      'kerndat-init', 'diag-module-missing', 'iptables-restore-missing', 'nftables-lock-unavailable', 'dirty-tracking-off', 'pre-dump-without-soft-dirty',
      'userfaultfd-unavailable', 'rlimit-nofile', 'rlimit-other-user', 'pid-collision', 'fd-from-other-mount-ns', 'tcp-established-needed',
      'ext-unix-sk-needed', 'file-size-differs', 'file-mode-differs', 'cpu-features-missing', 'images-from-newer-criu', 'criu-older-on-destination',
      'cgroup-controller-missing', 'seccomp-suspend-refused', 'apparmor-profile-refused', 'selinux-context-invalid', 'restore-out-of-memory', 'criu-crashed',
    ])
      expect(ids.has(id), id).toBe(true);
  });

  test('remedies the harness can apply are carried as data', () => {
    const remedy = (id: string) => activeSignatures().find((s) => s.id === id)?.remedy;
    expect(remedy('hw-breakpoints')).toEqual({ env: { CRIU_FAULT: '130' } });
    expect(remedy('rseq-no-get-rseq-conf')).toEqual({ env: { GLIBC_TUNABLES: 'glibc.pthread.rseq=0' } });
    expect(remedy('tcp-established-needed')).toEqual({ criuOptions: ['--tcp-established'] });
    expect(remedy('ext-unix-sk-needed')).toEqual({ criuOptions: ['--ext-unix-sk'] });
    expect(remedy('file-locks-needed')).toEqual({ criuOptions: ['--file-locks'] });
    expect(remedy('runtime-no-checkpoint')).toEqual({ runtime: 'runc' });
    expect(remedy('file-missing')).toBeUndefined();
  });
});

describe('signatures on logs recorded here (CRIU 4.1.1 and 4.2.1 in namespace nodes on this 6.18 kernel)', () => {
  test.for([
    ['trixie-4.1.1-host-6.18-dump-tcp-without-tcp-established.excerpt.log', 'tcp-established-needed', 'FAIL'],
    ['trixie-4.1.1-host-6.18-dump-external-unix-socket.excerpt.log', 'ext-unix-sk-needed', 'FAIL'],
    ['trixie-4.1.1-host-6.18-dump-not-session-leader.excerpt.log', 'shell-job-needed', 'FAIL'],
    ['trixie-4.1.1-host-6.18-dump-file-lock-without-file-locks.excerpt.log', 'file-locks-needed', 'FAIL'],
    ['trixie-4.1.1-host-6.18-dump-fd-from-other-mount-ns.excerpt.log', 'fd-from-other-mount-ns', 'ERROR'],
    ['trixie-4.1.1-host-6.18-restore-pid-in-use.excerpt.log', 'pid-collision', 'ERROR'],
    ['trixie-4.1.1-host-6.18-restore-big-mem-ulimit-v-enomem.excerpt.log', 'restore-out-of-memory', 'ERROR'],
    ['trixie-4.1.1-host-6.18-restore-images-of-4.2.1-vdso-elf.excerpt.log', 'images-from-newer-criu', 'FAIL'],
    ['trixie-4.1.1-host-6.18-dump-tcp-established-sockopt.excerpt.log', 'sockopt-passcred', 'FAIL'],
    ['trixie-4.1.1-host-6.18-dump-track-mem-no-soft-dirty.excerpt.log', 'dirty-tracking-off', 'FAIL'],
    ['trixie-4.1.1-host-6.18-check-all-dirty-tracking-off.excerpt.log', 'dirty-tracking-off', 'FAIL'],
    ['sid-4.2.1-host-6.18-dump-tcp-established-no-iptables.excerpt.log', 'iptables-restore-missing', 'FAIL'],
  ] as const)('%s → %s (%s)', ([file, id, status]) => {
    const d = decisive({ text: rec(file) });
    expect(d[0]).toMatchObject({ id });
    expect(d[0]!.evidence.length).toBeGreaterThan(0);
    expect(failureStatus(d)).toBe(status);
  });

  test('a pre-dump on this kernel (no soft-dirty): CRIU 4.1.1 aborts on an assertion (SIGABRT), both the cause and the crash are named', () => {
    const text = rec('trixie-4.1.1-host-6.18-pre-dump-no-soft-dirty-abort.excerpt.log');
    expect(diagnose({ text, signal: 'SIGABRT' }).map((d) => d.id)).toEqual(['pre-dump-without-soft-dirty', 'criu-crashed', 'rlimit-nofile']);
    // Without the signal the log alone still names the cause; a timed-out run is not a crash.
    expect(decisive({ text }).map((d) => d.id)).toEqual(['pre-dump-without-soft-dirty']);
    expect(decisive({ text, signal: 'SIGKILL', timedOut: true }).map((d) => d.id)).not.toContain('criu-crashed');
  });

  test("the stage decides which signatures apply: a dump's complaint is not a restore's", () => {
    const text = rec('trixie-4.1.1-host-6.18-dump-tcp-without-tcp-established.excerpt.log');
    expect(decisive({ text, stage: 'dump' }).map((d) => d.id)).toEqual(['tcp-established-needed']);
    expect(decisive({ text, stage: 'restore' })).toEqual([]);
    // rlimit-nofile applies at any stage.
    expect(diagnose({ text, stage: 'restore' }).map((d) => d.id)).toEqual(['rlimit-nofile']);
  });
});

describe('signatures on excerpts of public reports (cited in their reference)', () => {
  test.for([
    ['criu-496-check-diag-module-missing.excerpt.log', 'diag-module-missing', 'FAIL'],
    ['criu-1119-lazy-pages-uffd-unavailable.excerpt.log', 'userfaultfd-unavailable', 'FAIL'],
    ['criu-83-restore-cgroup-controller-missing.excerpt.log', 'cgroup-controller-missing', 'FAIL'],
    ['criu-2464-restore-apparmor-profile.excerpt.log', 'apparmor-profile-refused', 'FAIL'],
    ['criu-1402-dump-selinux-context.excerpt.log', 'selinux-context-invalid', 'FAIL'],
    ['criu-1267-restore-lsm-mismatch.excerpt.log', 'lsm-mismatch', 'FAIL'],
    ['criu-2391-dump-seccomp-suspend-refused.excerpt.log', 'seccomp-suspend-refused', 'ERROR'],
    ['criu-pr-2403-nftables-lock-unsupported.excerpt.log', 'nftables-lock-unavailable', 'FAIL'],
  ] as const)('%s → %s (%s)', ([file, id, status]) => {
    const text = ext(file);
    expect(text.split('\n')[0]).toMatch(/^# .*https:\/\/github\.com\//);
    const d = decisive({ text });
    expect(d.map((x) => x.id)).toEqual([id]);
    expect(failureStatus(d)).toBe(status);
  });
});

describe('undiagnosed', () => {
  test('an unknown failure names its stage and its first error lines, skipping what a note explains; never an empty reason', () => {
    const text = [
      "(00.000925) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted",
      '(00.010000) Error (criu/files.c:1): something nobody has seen',
      '(00.010001) Error (criu/cr-dump.c:2111): Dumping FAILED.',
    ].join('\n');
    const d = withUndiagnosed(diagnose({ text }), { text, stage: 'dump' });
    expect(d.map((x) => x.id)).toEqual(['rlimit-nofile', 'undiagnosed']);
    expect(d[1]).toMatchObject({ blame: 'note', title: expect.stringContaining('at dump') });
    expect(d[1]!.evidence).toBe('(00.010000) Error (criu/files.c:1): something nobody has seen | (00.010001) Error (criu/cr-dump.c:2111): Dumping FAILED.');
    expect(failureStatus(d)).toBe('FAIL');
    // A known cause needs no such entry.
    const known = rec('trixie-4.1.1-host-6.18-restore-pid-in-use.excerpt.log');
    expect(withUndiagnosed(diagnose({ text: known }), { text: known, stage: 'restore' }).map((x) => x.id)).not.toContain('undiagnosed');
  });

  test.for<[Parameters<typeof undiagnosed>[0], string]>([
    [{ text: '' }, 'no output at an unknown stage'],
    [{ text: '   \n\n', reason: 'harness: the lazy-pages daemon made no socket within 20000 ms' }, 'harness: the lazy-pages daemon made no socket within 20000 ms'],
    [{ text: 'line one\nline two\nline three\nline four', stage: 'restore' }, 'line two | line three | line four'],
  ])('with nothing decisive in the log it still says something: %j', ([input, evidence]) => {
    const d = undiagnosed(input);
    expect(d.evidence).toBe(evidence);
    expect(d.cause).toContain(evidence);
    expect(d.cause.trim()).not.toBe('');
  });
});

describe("an operator's signature file", () => {
  const dir = mkdtempSync(join(tmpdir(), 'cc-sigs-op-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  afterEach(() => useOperatorSignatures([]));
  const write = (name: string, text: string) => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  test('adds a diagnosis the built-in set lacks, and can replace a built-in one (overrides: true)', () => {
    const text = '(00.01) Error (criu/files-reg.c:9): nfs: Stale file handle on /srv/data';
    expect(decisive({ text })).toEqual([]);
    const mine = write('mine.yaml', "- id: nfs-stale-handle\n  stage: [dump, restore]\n  match: {line: 'Stale file handle'}\n  blame: environment\n  title: NFS handle went stale\n  cause: The volume was remounted.\n  remediation: Remount before restoring.\n");
    const over = write('over.yaml', "- id: pid-collision\n  overrides: true\n  stage: restore\n  match: {line: \"Can't fork for \\\\d+: File exists\"}\n  blame: tuple\n  title: Our own words for a PID clash\n  cause: c\n  remediation: r\n");
    useOperatorSignatures([mine, over]);
    expect(decisive({ text, stage: 'restore' })).toMatchObject([{ id: 'nfs-stale-handle', blame: 'environment', evidence: text }]);
    const pid = decisive({ text: rec('trixie-4.1.1-host-6.18-restore-pid-in-use.excerpt.log') });
    expect(pid).toMatchObject([{ id: 'pid-collision', title: 'Our own words for a PID clash', blame: 'tuple' }]);
    expect(activeSignatures().filter((s) => s.id === 'pid-collision')).toHaveLength(1);
    useOperatorSignatures([]);
    expect(decisive({ text })).toEqual([]);
  });

  test('when: conditions on the CRIU and kernel versions, read from the caller or from the log header; unknown versions claim nothing', () => {
    const f = write('when.yaml', "- id: old-criu-new-kernel\n  stage: any\n  match: {line: 'vdso', when: {criuVersionBelow: '4.1', kernelAtLeast: '6.13'}}\n  blame: tuple\n  title: t\n  cause: c\n  remediation: r\n");
    useOperatorSignatures([f]);
    const has = (input: DiagnoseInput) => diagnose(input).some((d) => d.id === 'old-criu-new-kernel');
    const old = rec('bookworm-3.17.1-dump-vdso.log'); // Version: 3.17.1, Running on … Linux 6.18.44
    expect(has({ text: old })).toBe(true);
    expect(has({ text: old, criuVersion: '4.1.1' })).toBe(false);
    expect(has({ text: old, kernelRelease: '6.12.57+deb13-amd64' })).toBe(false);
    const bare = '(00.2) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds';
    expect(has({ text: bare })).toBe(false);
    expect(has({ text: bare, criuVersion: '3.17.1', kernelRelease: '6.18.44-fc-v657' })).toBe(true);
  });
});

test("the README's table lists every built-in signature with its family, stages and blame", () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const table = readme.slice(readme.indexOf('<!-- signatures:begin -->'), readme.indexOf('<!-- signatures:end -->'));
  const rows = [...table.matchAll(/^\| `([a-z0-9-]+)` \| ([a-z-]+) \| ([a-z, -]+) \| ([a-z]+)/gm)].map((m) => ({ id: m[1], family: m[2], stages: m[3]!.split(', '), blame: m[4] }));
  const builtin = activeSignatures().filter((s) => s.file.startsWith('src/criu/signatures/'));
  expect(rows.map((r) => r.id).sort()).toEqual(builtin.map((s) => s.id).sort());
  for (const s of builtin) {
    const row = rows.find((r) => r.id === s.id);
    expect(row, s.id).toMatchObject({ family: s.file.replace(/^.*\//, '').replace(/\.yaml$/, ''), stages: [...s.stages], blame: s.blame });
  }
  expect(rows).toHaveLength(builtin.length);
});
