import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { diagnose, failureStatus } from './diagnose.ts';

const rec = (f: string) => readFileSync(join(import.meta.dirname, '../../fixtures/recorded/cri', f), 'utf8');

describe('the CRI path: diagnoses from what containerd said here', () => {
  test('containerd 1.7.24 answers CheckpointContainer with UNIMPLEMENTED: a tuple cause at checkpoint, not in other stages', () => {
    const text = rec('containerd-1.7.24-checkpoint-unimplemented.txt');
    expect(diagnose({ text, stage: 'cri-checkpoint' }).map((d) => d.id)).toEqual(['cri-checkpoint-unimplemented']);
    expect(diagnose({ text, stage: 'runtime-checkpoint' }).map((d) => d.id)).not.toContain('cri-checkpoint-unimplemented');
  });
  test('containerd 2.1.9 restoring a checkpoint of a locally imported image: the bare image ID cannot be pulled (FAIL of the tuple)', () => {
    const d = diagnose({ text: rec('containerd-2.1.9-restore-local-base-image.txt'), stage: 'cri-restore' });
    expect(d[0]).toMatchObject({ id: 'cri-restore-base-image-no-digest', blame: 'tuple', evidence: expect.stringContaining('failed to pull checkpoint base image sha256:1d68d44b') });
    expect(failureStatus(d)).toBe('FAIL');
  });
  test('containerd 1.7.24 given a checkpoint archive as a container image: it resolves the path as an image name (restore only, a tuple cause)', () => {
    const text = rec('containerd-1.7.24-restore-from-archive-not-found.txt');
    expect(diagnose({ text, stage: 'cri-restore' }).map((d) => d.id)).toEqual(['cri-restore-archive-not-an-image']);
    expect(diagnose({ text, stage: 'cri-checkpoint' }).map((d) => d.id)).not.toContain('cri-restore-archive-not-an-image');
    // An image name that is not a path (a pull that failed) is not this.
    expect(diagnose({ text: 'CRI CreateContainer failed: NOT_FOUND: failed to resolve image "localhost:5000/x:1": not found', stage: 'cri-restore' }).map((d) => d.id)).not.toContain('cri-restore-archive-not-an-image');
  });
  test('a read-only /var/lib/cni stops every pod sandbox: an environment cause (ERROR)', () => {
    const d = diagnose({ text: rec('containerd-1.7.24-runpodsandbox-cni-cache-read-only.txt'), stage: 'cri-restore' });
    expect(d.map((x) => x.id)).toEqual(['cri-cni-cache-read-only']);
    expect(failureStatus(d)).toBe('ERROR');
  });
});

describe('CRIU options the CRI cannot pass', () => {
  test('an established TCP connection or a file lock in the container: CRIU asks for its option (FAIL with the annotation as remedy)', () => {
    for (const f of ['containerd-2.1.9-criu-4.2.1-checkpoint-tcp-established-no-option.txt', 'containerd-2.1.9-criu-4.2.1-checkpoint-file-locks-no-option.txt']) {
      const d = diagnose({ text: rec(f), stage: 'cri-checkpoint' });
      expect(d.map((x) => x.id)).toEqual(['cri-checkpoint-needs-criu-option', 'rlimit-nofile']);
      expect(failureStatus(d)).toBe('FAIL');
    }
  });
});
