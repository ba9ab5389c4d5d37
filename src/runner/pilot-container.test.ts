import { describe, expect, test } from 'vitest';
import { runtimeFlags } from './pilot-container.ts';

describe('a container pilot\'s CRIU options as runtime flags', () => {
  test('runc and crun pass the four options they have flags for', () => {
    for (const rt of ['runc', 'crun'] as const)
      expect(runtimeFlags(rt, ['--tcp-established', '--file-locks', '--shell-job', '--ext-unix-sk'])).toEqual({ flags: { tcpEstablished: true, fileLocks: true, shellJob: true, extUnixSk: true }, unsupported: [] });
  });

  test('podman has two; the others are named, never dropped', () => {
    expect(runtimeFlags('podman', ['--tcp-established', '--shell-job', '--ext-unix-sk', '--file-locks'])).toEqual({ flags: { tcpEstablished: true, fileLocks: true }, unsupported: ['--shell-job', '--ext-unix-sk'] });
  });

  test('an option with a value, or one no runtime has, is unsupported everywhere', () => {
    for (const rt of ['runc', 'crun', 'podman'] as const) expect(runtimeFlags(rt, ['--ext-unix-sk=123', '--skip-in-flight', '--link-remap']).unsupported).toEqual(['--ext-unix-sk=123', '--skip-in-flight', '--link-remap']);
    expect(runtimeFlags('runc', [])).toEqual({ flags: {}, unsupported: [] });
  });
});
