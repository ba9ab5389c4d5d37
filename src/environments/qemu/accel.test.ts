import { describe, expect, test } from 'vitest';
import { type ProbeResult, probeVerdict } from './accel.ts';

const probe = (r: Partial<ProbeResult> & Pick<ProbeResult, 'outcome'>): ProbeResult => ({ ms: null, printedMs: null, endedMs: 0, tail: [], ...r });

describe('what a KVM probe boot says about KVM', () => {
  test('a guest that reached its agent and powered off: KVM, remembered', () => {
    const v = probeVerdict(probe({ outcome: 'up', printedMs: 900, ms: 1200, endedMs: 1200 }), 15_000);
    expect(v).toEqual({ remember: true, choice: { accel: 'kvm', why: 'kvm: a KVM probe guest reached its agent in 0.9 s and powered off in 1.2 s' } });
  });

  test('a guest that hung for the whole time box with QEMU running: TCG, remembered', () => {
    const v = probeVerdict(probe({ outcome: 'hung', endedMs: 15_000 }), 15_000);
    expect(v.remember).toBe(true);
    expect(v.choice).toEqual({ accel: 'tcg', why: 'tcg: a KVM probe guest hung for the whole 15 s time box with QEMU still running (nested virtualisation not working here)' });
  });

  test('QEMU that exits at once (a bogus kernel) is no verdict on KVM: TCG for this run only, not remembered, and never "did not finish within 15 s"', () => {
    // QEMU's own words for /etc/passwd given as the kernel, as seen here (qemu-system-x86_64 7.2).
    const v = probeVerdict(probe({ outcome: 'exited', endedMs: 80, tail: ['qemu: linux kernel too old to load a ram disk'] }), 15_000);
    expect(v.remember).toBe(false);
    expect(v.choice.accel).toBe('tcg');
    expect(v.choice.why).toBe(
      'tcg: the KVM probe could not decide: QEMU exited after 0.1 s before the guest reached its agent: qemu: linux kernel too old to load a ram disk; TCG for this run only, nothing remembered',
    );
    expect(v.choice.why).not.toMatch(/did not finish|within 15 s/);
  });

  test('QEMU that did not start: not remembered either', () => {
    const v = probeVerdict(probe({ outcome: 'not-started', tail: ['spawn /nonexistent ENOENT'] }), 15_000);
    expect(v).toMatchObject({ remember: false, choice: { accel: 'tcg' } });
    expect(v.choice.why).toMatch(/^tcg: the KVM probe could not decide: QEMU did not start: spawn \/nonexistent ENOENT; TCG for this run only/);
  });
});
