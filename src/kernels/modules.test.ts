import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { moduleName, parseModulesDep, selectModules } from './modules.ts';

// Lines of the modules.dep that depmod wrote for Debian's linux-image-6.1.0-50-amd64 here.
const dep = parseModulesDep(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/modules.dep-6.1.0-50-subset'), 'utf8'));

describe('kernel module selection', () => {
  test('names are normalised like modprobe does', () => {
    expect(moduleName('kernel/crypto/crc32c-intel.ko.xz')).toBe('crc32c_intel');
    expect(moduleName('kernel/net/unix/unix_diag.ko')).toBe('unix_diag');
  });

  test('dependencies load before their users, each once', () => {
    const sel = selectModules(dep, ['crc32c_generic', 'nft_compat', 'nf_tables', 'virtio_console']);
    const order = sel.load.map(moduleName);
    expect(order).toEqual(['crc32c_generic', 'nfnetlink', 'libcrc32c', 'nf_tables', 'x_tables', 'nft_compat', 'virtio_ring', 'virtio', 'virtio_console']);
    expect(sel.notModules).toEqual([]);
  });

  test('a wanted name that is built in (or absent) is reported, not invented', () => {
    const sel = selectModules(dep, ['tun', 'autofs', 'unix-diag']);
    expect(sel.load).toEqual(['kernel/drivers/net/tun.ko', 'kernel/net/unix/unix_diag.ko']);
    expect(sel.notModules).toEqual(['autofs']);
  });
});
