import { describe, expect, test } from 'vitest';
import { runtimeFlags } from './pilot-container.ts';

describe('a container pilot\'s CRIU options as runtime flags', () => {
  test('runc and crun pass the four options they have flags for', () => {
    for (const rt of ['runc', 'crun'] as const)
      expect(runtimeFlags(rt, ['--tcp-established', '--file-locks', '--shell-job', '--ext-unix-sk'])).toEqual({ flags: { tcpEstablished: true, fileLocks: true, shellJob: true, extUnixSk: true }, config: [], unsupported: [] });
  });

  test('podman has two; the others are named, never dropped', () => {
    expect(runtimeFlags('podman', ['--tcp-established', '--shell-job', '--ext-unix-sk', '--file-locks'])).toEqual({ flags: { tcpEstablished: true, fileLocks: true }, config: [], unsupported: ['--shell-job', '--ext-unix-sk'] });
  });

  test('an option without a flag (or with a value) goes to runc\'s CRIU configuration file; crun and podman cannot take it', () => {
    const other = ['--ext-unix-sk=123', '--skip-in-flight', '--link-remap'];
    expect(runtimeFlags('runc', ['--tcp-established', ...other])).toEqual({ flags: { tcpEstablished: true }, config: other, unsupported: [] });
    for (const rt of ['crun', 'podman'] as const) expect(runtimeFlags(rt, other)).toEqual({ flags: {}, config: [], unsupported: other });
    expect(runtimeFlags('runc', [])).toEqual({ flags: {}, config: [], unsupported: [] });
  });
});
