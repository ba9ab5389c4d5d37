import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { loadConfig, parseConfig } from './load.ts';
import { migrationPairs, pairNeedsNetwork } from '../plan/migration-pairs.ts';

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, 'pools.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('config loading', () => {
  test('the embedded default is valid: four host pools (one with container runtimes), then 3 Debian kernels x 2 node images in VMs', async () => {
    const { config, file } = await loadConfig();
    expect(file).toBe('(embedded default)');
    expect(config.pools.filter((p) => p.backend === 'namespace').map((p) => p.name)).toEqual(['host-bookworm', 'host-trixie', 'host-trixie-nobp', 'host-trixie-containers', 'host-sid-containerd']);
    const vms = config.pools.filter((p) => p.backend === 'qemu');
    expect(new Set(vms.map((p) => p.kernel))).toEqual(new Set(['debian/bullseye', 'debian/bookworm', 'debian/trixie']));
    expect(new Set(vms.map((p) => p.image))).toEqual(new Set(['debian-bookworm', 'debian-trixie']));
    expect(vms).toHaveLength(6);
    expect(config.pools[2]!.criu.env).toEqual({ CRIU_FAULT: '130' });
    expect(config.settings.workloads).toContain('process-tree');
  });

  test('defaults fill in backend, criu env and settings', () => {
    const { config } = parseConfig('pools:\n  - {name: a, kernel: host, image: debian-trixie}\n', 'f.yaml');
    expect(config.pools[0]).toMatchObject({ backend: 'namespace', criu: { env: {} } });
    expect(config.settings.timeouts.criuMs).toBe(20_000);
  });

  test('each load gets its own default settings: a config with pilots (the pilot suite joins its suites) leaves the next load alone', () => {
    const pools = 'pools:\n  - {name: a, kernel: host, image: debian-trixie}\n';
    const first = parseConfig(`${pools}pilots:\n  - {name: r, pools: [a], service: {command: [sleep, infinity]}, ready: {command: ['true']}}\n`, 'f.yaml');
    expect(first.config.settings.suites).toContain('pilot');
    const second = parseConfig(pools, 'g.yaml');
    expect(second.config.settings.suites).not.toContain('pilot');
    expect(second.config.settings).not.toBe(first.config.settings);
    expect(second.config.settings.timeouts).not.toBe(first.config.settings.timeouts);
  });

  test('a kernel other than host means a VM: backend defaults to qemu, vm settings get defaults', () => {
    const { config } = parseConfig('pools:\n  - {name: a, kernel: debian/bookworm, image: debian-trixie}\n  - {name: b, kernel: {debian: trixie}, image: debian-trixie, vm: {memoryMiB: 1024}}\n', 'f.yaml');
    expect(config.pools[0]).toMatchObject({ backend: 'qemu', vm: { memoryMiB: 3072, cpus: 2, modules: [] } });
    expect(config.pools[1]).toMatchObject({ backend: 'qemu', vm: { memoryMiB: 1024 } });
    expect(config.settings.accel).toBe('auto');
  });

  test('kernel and backend must agree; a bad kernel names the accepted forms', () => {
    expect(errorOf('pools:\n  - {name: a, kernel: debian/bookworm, image: debian-trixie, backend: namespace}\n')).toMatchObject({
      path: 'pools[0].backend',
      expected: expect.stringMatching(/backend "qemu" for a kernel other than "host"/),
    });
    expect(errorOf('pools:\n  - {name: a, kernel: host, image: debian-trixie, backend: qemu}\n')).toMatchObject({ path: 'pools[0].kernel' });
    expect(errorOf('pools:\n  - {name: a, kernel: linux-6.1, image: debian-trixie}\n')).toMatchObject({
      path: 'pools[0].kernel',
      expected: expect.stringMatching(/^a kernel: "host".*"debian\/SUITE"/),
    });
    expect(errorOf('pools:\n  - {name: a, kernel: debian/bookworm, image: debian-trixie, vm: {memoryMiB: 64}}\n').path).toBe('pools[0].vm.memoryMiB');
    expect(errorOf('settings: {accel: hvf}\npools:\n  - {name: a, kernel: host, image: debian-trixie}\n').path).toBe('settings.accel');
  });

  test('vm.cpu: a QEMU CPU model name (with optional feature switches); a malformed one names the pool and field', () => {
    const { config } = parseConfig('pools:\n  - {name: a, kernel: debian/trixie, image: debian-trixie, vm: {cpu: qemu64}}\n  - {name: b, kernel: debian/trixie, image: debian-trixie, vm: {cpu: "Haswell-v4,-avx2,+pcid"}}\n  - {name: c, kernel: debian/trixie, image: debian-trixie}\n', 'f.yaml');
    expect(config.pools.map((p) => p.vm.cpu)).toEqual(['qemu64', 'Haswell-v4,-avx2,+pcid', undefined]);
    for (const bad of ['"max; rm -rf /"', '"-cpu max"', '""', '"max,,"'])
      expect(errorOf(`pools:\n  - {name: a, kernel: debian/trixie, image: debian-trixie, vm: {cpu: ${bad}}}\n`)).toMatchObject({ path: 'pools[0].vm.cpu', expected: expect.stringMatching(/a QEMU CPU model name/) });
  });

  test('JSON works too, and user images can be defined', () => {
    const { images } = parseConfig(JSON.stringify({ images: { mine: { rootfs: '/srv/root' } }, pools: [{ name: 'p', kernel: 'host', image: 'mine' }] }), 'f.json');
    expect(images.mine).toEqual({ rootfs: '/srv/root' });
  });

  test('an unknown key names its path', () => {
    const e = errorOf('pools:\n  - {name: a, kernel: host, image: debian-trixie, kernal: x}\n');
    expect(e.file).toBe('pools.yaml');
    expect(e.path).toBe('pools[0].kernal');
    expect(e.message).toMatch(/^pools\.yaml: at pools\[0\]\.kernal \(line 2\): no such key/);
    expect(e.line).toBe(2);
  });

  test('a wrong type names its path and what was expected', () => {
    const e = errorOf('pools:\n  - {name: a, kernel: host, image: debian-trixie}\nsettings:\n  timeouts: {criuMs: "fast"}\n');
    expect(e.path).toBe('settings.timeouts.criuMs');
    expect(e.expected).toMatch(/number/);
  });

  test('an unknown image lists the known ones', () => {
    const e = errorOf('pools:\n  - {name: a, kernel: host, image: ubuntu}\n');
    expect(e.path).toBe('pools[0].image');
    expect(e.expected).toMatch(/debian-bookworm, debian-bookworm-containers, debian-bullseye, debian-sid, debian-sid-containerd, debian-sid-containers, debian-trixie, debian-trixie-containerd, debian-trixie-containers/);
  });

  test('a kernel other than host is refused with what is supported', () => {
    expect(errorOf('pools:\n  - {name: a, kernel: "6.1", image: debian-trixie}\n').path).toBe('pools[0].kernel');
  });

  test('duplicate pool names are refused', () => {
    expect(errorOf('pools:\n  - {name: a, kernel: host, image: debian-trixie}\n  - {name: a, kernel: host, image: debian-bookworm}\n').path).toBe('pools[1].name');
  });

  test('malformed YAML gives line and column', () => {
    const e = errorOf('pools:\n  - name: a\n   kernel: [host\n');
    expect(e.path).toMatch(/^line \d+, column \d+$/);
    expect(e.expected).toMatch(/valid YAML/);
  });

  test('an empty pool list is refused', () => {
    expect(errorOf('pools: []\n').path).toBe('pools');
  });

  test('a missing file says so', async () => {
    await expect(loadConfig('/nonexistent/pools.yaml')).rejects.toThrow(/\/nonexistent\/pools\.yaml: at \(top level\): cannot read the file \(ENOENT\)/);
  });
});

const POOLS = 'pools:\n  - {name: a, kernel: host, image: debian-trixie}\n  - {name: b, kernel: host, image: debian-sid}\n  - {name: c, kernel: debian/trixie, image: debian-trixie}\n';


describe('migrations: in the config', () => {
  test('a group of pools gives every ordered pair, the diagonal included; from × to gives those; a pair named twice runs each workload and mode once', () => {
    const { config } = parseConfig(`${POOLS}migrations:\n  - {name: g, pools: [a, c]}\n  - {name: h, from: [b], to: [a, c]}\n  - {name: more, from: [a], to: [c], modes: [cold, pre-copy]}\n  - {name: same, from: [a], to: [c]}\n`, 'f.yaml');
    const pairs = migrationPairs(config, new Set(['a', 'b', 'c']));
    expect(pairs.map((p) => `${p.source}>${p.destination}`)).toEqual(['a>a', 'a>c', 'c>a', 'c>c', 'b>a', 'b>c', 'a>c']);
    // The later group adds only pre-copy to a>c (cold ran already); the last adds nothing.
    expect(pairs.at(-1)).toMatchObject({ group: 'more', modes: ['pre-copy'] });
    expect(pairs[0]).toMatchObject({ group: 'g', workloads: ['counter'], modes: ['cold'], preDumps: 2 });
    // --pool b,c: only pairs whose two pools run.
    expect(migrationPairs(config, new Set(['b', 'c'])).map((p) => `${p.source}>${p.destination}`)).toEqual(['c>c', 'b>c']);
  });

  test('bad groups are refused before any work, naming the file, the path and what was expected', () => {
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a, x]}\n`)).toMatchObject({ path: 'migrations[0].pools[1]', expected: expect.stringMatching(/a pool defined under pools:.*\(got "x"\)/) });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, from: [a]}\n`)).toMatchObject({ path: 'migrations[0].to' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a], from: [a], to: [b]}\n`)).toMatchObject({ path: 'migrations[0].pools' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a], modes: [warp]}\n`)).toMatchObject({ path: 'migrations[0].modes[0]' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a]}\n  - {name: g, pools: [b]}\n`)).toMatchObject({ path: 'migrations[1].name' });
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a]}\nsettings: {suites: [round-trip]}\n`)).toMatchObject({ path: 'settings.suites', expected: expect.stringMatching(/"migration"/) });
  });

  test('mode cri: the pairs carry it; a group with none of them is refused', () => {
    const { config } = parseConfig(`${POOLS}migrations:\n  - {name: g, from: [a], to: [b], workloads: [counter, process-tree, threads], modes: [cold, cri]}\n`, 'f.yaml');
    const [pair] = migrationPairs(config, new Set(['a', 'b']));
    expect(pair).toMatchObject({ source: 'a', destination: 'b', modes: ['cold', 'cri'] });
    expect(pairNeedsNetwork(pair!)).toBe(false);
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a, b], workloads: [threads, big-mem], modes: [cri]}\n`)).toMatchObject({ path: 'migrations[0].workloads', expected: expect.stringMatching(/mode "cri".*counter, process-tree/) });
  });

  test('tcp-external: serviceAddress move (default) or stay reaches the pairs; the pair asks for the node network (its peer is a third node)', () => {
    const { config } = parseConfig(`${POOLS}migrations:\n  - {name: g, pools: [a, c], workloads: [tcp-external]}\n  - {name: h, from: [b], to: [c], workloads: [tcp-external], serviceAddress: stay}\n  - {name: k, from: [b], to: [a]}\n`, 'f.yaml');
    const pairs = migrationPairs(config, new Set(['a', 'b', 'c']));
    expect(pairs.map((p) => `${p.source}>${p.destination} ${p.serviceAddress} ${pairNeedsNetwork(p)}`)).toEqual(['a>a move true', 'a>c move true', 'c>a move true', 'c>c move true', 'b>c stay true', 'b>a move false']);
    expect(errorOf(`${POOLS}migrations:\n  - {name: g, pools: [a], workloads: [tcp-external], serviceAddress: elsewhere}\n`)).toMatchObject({ path: 'migrations[0].serviceAddress', expected: expect.stringMatching(/"move".*"stay"/) });
  });
});
