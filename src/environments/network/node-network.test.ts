import { expect, test } from 'vitest';
import { qemuArgv } from '../qemu/qemu-machine.ts';
import { addressOf, bridgeName, claimHost, clientNetnsName, macOf, tapName, vethName, type NodeNetworkSpec } from './node-network.ts';

const spec = (runPid: number): NodeNetworkSpec => ({ runPid, bridge: bridgeName(runPid), prefix: '10.100.1', prefixLen: 24, stateDir: '/tmp/x' });

test('host interface names fit IFNAMSIZ (15) for the largest PID and host number, and carry the run PID', () => {
  const pid = 4_194_304; // pid_max's ceiling
  for (const n of [bridgeName(pid), vethName(pid, 254), tapName(pid, 254), clientNetnsName(pid, 254)]) {
    expect(n.length).toBeLessThanOrEqual(15);
    expect(n).toContain(String(pid));
  }
  expect(new Set([vethName(pid, 2), tapName(pid, 2), clientNetnsName(pid, 2), bridgeName(pid)]).size).toBe(4);
});

test('MACs are locally administered unicast and differ per run and per host (QEMU would give every VM the same one)', () => {
  const a = macOf(spec(1234), 2);
  expect(a).toMatch(/^52:54(:[0-9a-f]{2}){4}$/);
  expect(parseInt(a.slice(0, 2), 16) & 0b11).toBe(0b10);
  expect(macOf(spec(1234), 3)).not.toBe(a);
  expect(macOf(spec(1235), 2)).not.toBe(a);
  expect(addressOf(spec(1), 7)).toBe('10.100.1.7');
});

test('a VM with a NIC gets a virtio-net device on the tap QEMU opens itself (no helper scripts), with its MAC', () => {
  const argv = qemuArgv({ id: 't', vmlinuz: '/k', initrd: '/i', memoryMiB: 512, cpus: 1, accel: 'tcg', channels: 1, dir: '/tmp/x', nic: { tap: 'cct1x2', mac: '52:54:00:00:01:02' } });
  expect(argv[argv.indexOf('-netdev') + 1]).toBe('tap,id=net0,ifname=cct1x2,script=no,downscript=no');
  expect(argv[argv.indexOf('-netdev') + 3]).toBe('virtio-net-pci,netdev=net0,mac=52:54:00:00:01:02');
  expect(qemuArgv({ id: 't', vmlinuz: '/k', initrd: '/i', memoryMiB: 512, cpus: 1, accel: 'tcg', channels: 1, dir: '/tmp/x' })).not.toContain('-netdev');
});

test('address claims are shared through files: parallel claimers get distinct hosts 2…254, then a clear error', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'cc-claims-'));
  try {
    const s = { ...spec(77), stateDir: dir };
    const got = await Promise.all(Array.from({ length: 253 }, (_, i) => claimHost(s, `node ${i}`)));
    expect(new Set(got).size).toBe(253);
    expect(Math.min(...got)).toBe(2);
    expect(Math.max(...got)).toBe(254);
    await expect(claimHost(s, 'one too many')).rejects.toThrow(/all 253 addresses of 10\.100\.1\.0\/24 are taken/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
