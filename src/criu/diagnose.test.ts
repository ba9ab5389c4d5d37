import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { criuVersionsOnTheWire, diagnose, diagnoseVerdict, failureStatus, logExcerpt, olderCriuOnDestination } from './diagnose.ts';

const rec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/criu-logs', f), 'utf8');
const ids = (text: string, timedOut = false) => diagnose({ text, timedOut }).map((d) => d.id);

describe('diagnosis on logs recorded here', () => {
  test('migrations whose destination lacks a file, or holds another version of it: FAILs naming the file', () => {
    const missing = diagnose({ text: rec('trixie-4.1.1-restore-file-missing.excerpt.log') });
    expect(missing[0]).toMatchObject({ id: 'file-missing', blame: 'tuple', evidence: expect.stringContaining('cc-open-file-16739') });
    const size = diagnose({ text: rec('trixie-4.1.1-restore-file-bad-size.excerpt.log') });
    expect(size[0]).toMatchObject({ id: 'file-size-differs', evidence: expect.stringMatching(/has bad size 100 \(expect 65536\)/) });
    expect(failureStatus(missing)).toBe('FAIL');
    expect(failureStatus(size)).toBe('FAIL');
  });

  test('a host-dumped task restored in a TCG VM: the restore exits 0, the task dies on an instruction the emulated CPU lacks (FAIL); the shadow-stack warning is only a note', () => {
    const d = diagnose({ text: rec('trixie-4.1.1-restore-host-to-vm-6.12-invalid-opcode.excerpt.log') });
    expect(d.map((x) => x.id)).toEqual(['cpu-invalid-opcode', 'shadow-stack-lost']);
    expect(d.map((x) => x.blame)).toEqual(['tuple', 'note']);
    expect(failureStatus(d)).toBe('FAIL');
  });
  test('a VM-dumped task restored on the host, whose bounding set lacks CAP_SYS_RESOURCE: capabilities beyond the destination, a FAIL of the direction', () => {
    const d = diagnose({ text: rec('trixie-4.1.1-restore-vm-6.12-to-host-caps.excerpt.log') });
    expect(d.map((x) => x.id)).toEqual(['capabilities-not-restorable', 'rlimit-nofile']);
    expect(failureStatus(d)).toBe('FAIL');
  });

  test('CRIU 3.17.1 on kernel 6.18: vDSO bounds, fatal', () => {
    const d = diagnose({ text: rec('bookworm-3.17.1-dump-vdso.log') });
    expect(d.map((x) => x.id)).toEqual(['vdso-bounds', 'kerndat-init']);
    expect(d[0]).toMatchObject({ fatal: true, blame: 'tuple', evidence: '(00.209341) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds' });
  });

  test('the rlimit warning of CRIU 4.x without CAP_SYS_RESOURCE is a note, never a cause', () => {
    const d = diagnose({ text: "(00.003565) Error (criu/util.c:1533): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted" });
    expect(d).toMatchObject([{ id: 'rlimit-nofile', blame: 'note', fatal: false }]);
  });

  test('CRIU 4.1.1 dump that hung after the parasite: hardware breakpoints, only when it timed out', () => {
    const log = rec('trixie-4.1.1-dump-hw-breakpoint-hang.log');
    expect(ids(log, true)).toContain('hw-breakpoints');
    expect(ids(log, false)).not.toContain('hw-breakpoints');
  });

  test("a rest at the breakpoint wait is the hang only where the pool's probe did not see breakpoints work; elsewhere a slow host (ERROR)", () => {
    const hang = rec('trixie-4.1.1-dump-hw-breakpoint-hang.log');
    const slow = rec('bookworm-3.17.1-kernel-6.12-tcg-loaded-dump-timeout.excerpt.log');
    for (const probed of [false, null, undefined]) expect(diagnose({ text: hang, timedOut: true, hwBreakpoints: probed }).map((d) => d.id)).toEqual(['hw-breakpoints']);
    // TCG emulates debug registers (the probe says so), yet a 64 MiB dump at load 12 timed out at the same place.
    for (const text of [hang, slow]) {
      const d = diagnose({ text, timedOut: true, hwBreakpoints: true });
      expect(d.map((x) => x.id)).toEqual(['criu-slow-not-hung']);
      expect(failureStatus(d)).toBe('ERROR');
    }
    expect(diagnose({ text: slow, timedOut: false, hwBreakpoints: true })).toEqual([]);
  });

  test('runtime-side signatures from FIELD-NOTES', () => {
    expect(ids('Error (criu/util.c:640): execvp("iptables-restore", ...) failed: No such file or directory')).toEqual(['iptables-restore-missing']);
    expect(ids('iptables v1.8.11 (nf_tables):  RULE_INSERT failed (No such file or directory): rule in chain INPUT\n(02.7) Error (criu/netfilter.c:105): Iptables configuration failed')).toEqual(['iptables-lock-failed']);
    expect(diagnose({ text: "(00.1) Error (criu/cr-restore.c:1512): Can't fork for 25: File exists" })[0]).toMatchObject({ id: 'pid-collision', blame: 'environment' });
    expect(ids('Warn  (criu/cr-check.c:824): Dirty tracking is OFF. Memory snapshot will not work.')).toEqual(['dirty-tracking-off']);
  });

  test('CRIU 3.17.1 dumping a glibc 2.36 program on kernel 5.10 (a VM pool): rseq without get_rseq_conf', () => {
    const d = diagnose({ text: rec('bookworm-3.17.1-kernel-5.10-dump-rseq.log') });
    expect(d).toMatchObject([{ id: 'rseq-no-get-rseq-conf', blame: 'tuple', fatal: false }]);
  });

  test('CRIU 4.1.1 dumping a process of another user (uid 1001) as root without CAP_SYS_RESOURCE (host-trixie, caps-and-creds)', () => {
    const d = diagnose({ text: rec('trixie-4.1.1-dump-other-user-rlimit.excerpt.log') });
    expect(d.map((x) => x.id)).toEqual(['rlimit-other-user', 'rlimit-nofile']);
    expect(d[0]).toMatchObject({ blame: 'environment', fatal: false, evidence: "(00.007572) Error (criu/cr-dump.c:371): Can't get rlimit 0: Operation not permitted" });
    expect(failureStatus(d)).toBe('ERROR');
  });

  describe("the pilots' services from Debian's packages, dumped by hand on the host kernel (fixtures/recorded/pilots)", () => {
    const pilotRec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/pilots', f), 'utf8');
    test('redis-server 8.0.2 with CRIU 4.1.1 on 6.18: its listening socket stops the dump (sockopt-passcred), a FAIL of the tuple', () => {
      const d = diagnose({ text: pilotRec('host-trixie-4.1.1-redis-dump-sockopt-passcred.excerpt.log') });
      expect(d.map((x) => x.id)).toEqual(['sockopt-passcred', 'rlimit-nofile']);
      expect(failureStatus(d)).toBe('FAIL');
    });
    test('postgres 17 sharing the node\'s IPC namespace: its SysV segment cannot be dumped, the remedy names its own IPC namespace', () => {
      const d = diagnose({ text: pilotRec('host-trixie-4.1.1-postgres-dump-sysv-shm-outside-ipc-ns.excerpt.log') });
      expect(d.map((x) => x.id)).toEqual(['sysv-shm-outside-ipc-ns']);
      expect(d[0]!.remediation).toMatch(/unshare --ipc/);
      expect(failureStatus(d)).toBe('FAIL');
    });
    test("nginx 1.30 (sid) as Debian runs it, master root and workers www-data: CRIU 4.2.1 as root cannot read a worker's limits here", () => {
      const d = diagnose({ text: pilotRec('host-sid-4.2.1-nginx-dump-worker-rlimit-other-user.excerpt.log') });
      expect(d.map((x) => x.id)).toEqual(['rlimit-other-user', 'rlimit-nofile']);
      expect(d[0]!.evidence).toMatch(/Can't get rlimit 0/);
    });
  });

  test('CRIU 4.1.1 dumping deleted-file without --link-remap (host-trixie): the option is named', () => {
    const d = diagnose({ text: rec('trixie-4.1.1-dump-link-remap-needed.excerpt.log') });
    expect(d.map((x) => x.id)).toEqual(['link-remap-needed', 'rlimit-nofile']);
    expect(d[0]).toMatchObject({ blame: 'tuple', evidence: expect.stringContaining("Can't create link remap for /run/criu-compat/cells/deleted-file/cc-deleted-3/name-a. Use link-remap option.") });
    expect(failureStatus(d)).toBe('FAIL');
  });

  test("restored workloads' FAIL lines, as real runs printed them (CRIU 4.1.1 and 3.17.1 on 6.12 and 6.18)", () => {
    const seen: [string, string][] = [
      ['the periodic timerfd stopped: no expiration in 201 ms, and it is disarmed (restored with the 0 s left it showed while an expiration was pending)', 'timerfd-pending-disarmed'],
      ['after restore: read 1 gave 5, expected 1: the eventfd is no longer in semaphore mode (EFD_SEMAPHORE lost)', 'eventfd-semaphore-lost'],
      ['thread 412 is allowed CPUs {0,1}, it was pinned to {0}', 'cpu-affinity-not-restored'],
      ['main thread: no_new_privs is off', 'no-new-privs-lost'],
      ['after restore: child: ambient capabilities 0, expected 0x1', 'ambient-caps-lost'],
    ];
    for (const [line, id] of seen) expect(diagnoseVerdict(line).map((d) => ({ id: d.id, blame: d.blame, evidence: d.evidence }))).toEqual([{ id, blame: 'tuple', evidence: line }]);
    expect(diagnoseVerdict('heap byte 7 changed')).toEqual([]);
    // They never fire on CRIU's own logs.
    for (const f of ['bookworm-3.17.1-dump-vdso.log', 'trixie-4.1.1-dump-hw-breakpoint-hang.log']) expect(diagnoseVerdict(rec(f))).toEqual([]);
  });

  test('an unknown failure gets no diagnosis', () => {
    expect(ids('Error (criu/files.c:1): something nobody has seen')).toEqual([]);
  });

  test('log excerpt keeps error lines and the tail, capped', () => {
    const ex = logExcerpt(rec('bookworm-3.17.1-dump-vdso.log'));
    expect(ex).toContain('(00.209341) Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds');
    expect(ex.length).toBeLessThanOrEqual(16);
    const many = Array.from({ length: 50 }, (_, i) => `Error (x.c:${i}): e${i}`).join('\n');
    expect(logExcerpt(many)).toHaveLength(12);
  });
});

describe('a migration towards an older CRIU', () => {
  test('is named from the two pools\' CRIU versions when the restore failed; same or newer on the destination is not', () => {
    const d = olderCriuOnDestination({ pool: 'host-sid', criuVersion: '4.2.1' }, { pool: 'host-trixie', criuVersion: '4.1.1' });
    expect(d).toMatchObject({ id: 'criu-older-on-destination', blame: 'tuple', evidence: 'criu 4.2.1 (host-sid) → criu 4.1.1 (host-trixie)' });
    expect(olderCriuOnDestination({ pool: 'a', criuVersion: '4.1.1' }, { pool: 'b', criuVersion: '4.2.1' })).toBeUndefined();
    expect(olderCriuOnDestination({ pool: 'a', criuVersion: '3.17.1' }, { pool: 'b', criuVersion: '3.17.1' })).toBeUndefined();
    // Unknown versions decide nothing.
    expect(olderCriuOnDestination({ pool: 'a', criuVersion: null }, { pool: 'b', criuVersion: '3.17.1' })).toBeUndefined();
  });
});

describe('lazy migration from this host kernel', () => {
  test("the source's splice failure is named (from the source's log beside the destination's)", () => {
    const d = diagnose({ text: rec('trixie-4.1.1-lazy-from-host-6.18-splice.excerpt.log') });
    expect(d.map((x) => x.id)).toContain('lazy-source-splice-failed');
    expect(failureStatus(d)).toBe('FAIL');
  });

  test('two CRIU versions over the wire are named; one version is not', () => {
    expect(criuVersionsOnTheWire({ pool: 'a', criuVersion: '4.1.1' }, { pool: 'b', criuVersion: '4.2.1' })).toMatchObject({ id: 'criu-versions-on-the-wire', blame: 'tuple' });
    expect(criuVersionsOnTheWire({ pool: 'a', criuVersion: '4.1.1' }, { pool: 'b', criuVersion: '4.1.1' })).toBeUndefined();
  });
});

describe('pilot services (CRIU 4.2.1, host-sid, seen here)', () => {
  test('a held client connection dumped without --tcp-established: FAIL, tcp-established-needed', () => {
    const text = "(00.022383) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for self: Operation not permitted\n(00.063984) Error (criu/sk-inet.c:200): inet: Connected TCP socket, consider using --tcp-established option.\n(00.064017) Error (criu/cr-dump.c:1545): Dump files (pid: 235) failed with -1\n";
    const d = diagnose({ text });
    expect(d[0]).toMatchObject({ id: 'tcp-established-needed', blame: 'tuple' });
    expect(failureStatus(d)).toBe('FAIL');
  });
  test('a reconnecting client caught half-way into the listener: FAIL, tcp-in-flight, the remedy names --skip-in-flight', () => {
    const text = '(00.054516) Error (criu/sk-inet.c:185): inet: In-flight connection (l) for 2228f9\n(00.054518) Error (criu/sk-inet.c:186): inet: In-flight connections can be ignored with the --skip-in-flight option.\n';
    const d = diagnose({ text });
    expect(d[0]).toMatchObject({ id: 'tcp-in-flight', remediation: expect.stringMatching(/--skip-in-flight/) });
    expect(failureStatus(d)).toBe('FAIL');
  });
});
