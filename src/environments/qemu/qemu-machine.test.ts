import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { qemuArgv } from './qemu-machine.ts';

test('guests boot with the IO-APIC timer check off: on a loaded host an emulated 6.12 guest panicked there (recorded console)', () => {
  const recorded = readFileSync(join(import.meta.dirname, '../../../fixtures/recorded/console/6.12-tcg-loaded-io-apic-timer-panic.txt'), 'utf8');
  expect(recorded).toMatch(/Kernel panic - not syncing: IO-APIC \+ timer doesn't work!/);
  expect(recorded).toMatch(/setup_IO_APIC/);
  const argv = qemuArgv({ id: 't', vmlinuz: '/k', initrd: '/i', memoryMiB: 512, cpus: 1, accel: 'tcg', channels: 1, dir: '/tmp/x', append: 'cc.probe' });
  const append = argv[argv.indexOf('-append') + 1]!;
  expect(append.split(' ')).toEqual(expect.arrayContaining(['no_timer_check', 'panic=-1', 'cc.probe']));
});

test('-cpu: the pool\'s vm.cpu when set; otherwise host under KVM and max under TCG', () => {
  const base = { id: 't', vmlinuz: '/k', initrd: '/i', memoryMiB: 512, cpus: 1, channels: 0, dir: '/tmp/x' } as const;
  const cpu = (o: Partial<Parameters<typeof qemuArgv>[0]>) => {
    const argv = qemuArgv({ ...base, accel: 'tcg', ...o });
    return argv[argv.indexOf('-cpu') + 1];
  };
  expect(cpu({ accel: 'tcg' })).toBe('max');
  expect(cpu({ accel: 'kvm' })).toBe('host');
  expect(cpu({ accel: 'kvm', cpu: 'Nehalem' })).toBe('Nehalem');
  expect(cpu({ accel: 'tcg', cpu: 'qemu64' })).toBe('qemu64');
});
