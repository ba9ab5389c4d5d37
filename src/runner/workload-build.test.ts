/**
 * settings.workloadBuild. The image mode's real build (a node image's cc)
 * is proved by a run (README, Workload catalogue); here: the host mode's
 * libc label, and that host mode gives every pool that label and no
 * binaries of its own (the run's are used).
 */
import { expect, test } from 'vitest';
import type { ProvisionedPool } from '../backends/pool-backend.ts';
import { parseConfig } from '../config/load.ts';
import { assignWorkloadBuilds, hostLibc } from './workload-build.ts';

test("the host build's libc is this machine's glibc, static", async () => {
  expect(await hostLibc()).toMatch(/^glibc \d+\.\d+ \(static, built on this machine\)$/);
});

test('host mode: each pool records the libc and keeps the run\'s binaries', async () => {
  const pools = [{ planned: { name: 'a' } }, { planned: { name: 'b', error: 'x' } }] as unknown as ProvisionedPool[];
  await assignWorkloadBuilds(pools, 'host', ['counter'], { fixturesDir: '/nonexistent', cacheDir: '/nonexistent', helper: '/nonexistent', workRoot: '/nonexistent', timeoutMs: 1, progress: () => {} });
  for (const p of pools) expect(p.planned).toMatchObject({ fixtureLibc: expect.stringMatching(/^glibc /) });
  expect(pools[0]!.planned.workloads).toBeUndefined();
});

test('settings.workloadBuild: host by default, image on request, nothing else', () => {
  const cfg = (extra: string) => parseConfig(`pools: [{name: a, kernel: host, image: debian-trixie}]\n${extra}`, 'f').config.settings.workloadBuild;
  expect(cfg('')).toBe('host');
  expect(cfg('settings: {workloadBuild: image}')).toBe('image');
  expect(() => cfg('settings: {workloadBuild: vm}')).toThrow(/workloadBuild/);
});
