import { describe, expect, test } from 'vitest';
import { allBackends, backendOf } from './registry.ts';

describe('backend registry', () => {
  test('each backend name a pool can give has its implementation', () => {
    for (const name of ['namespace', 'qemu', 'container'] as const) expect(backendOf(name).name).toBe(name);
    expect(allBackends().map((b) => b.name).sort()).toEqual(['container', 'namespace', 'qemu']);
  });

  test('pools on this machine\'s kernel start together; VMs in waves; VM directories are swept when stale', () => {
    expect(allBackends().filter((b) => b.placement === 'host').map((b) => b.name).sort()).toEqual(['container', 'namespace']);
    expect(backendOf('qemu').placement).toBe('waves');
    expect(backendOf('qemu').tempPrefixes).toEqual(['criu-compat-vm-']);
  });
});
