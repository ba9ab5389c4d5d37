/**
 * The pilot engine in a VM pool (qemu backend, Debian trixie's 6.12 kernel,
 * CRIU 4.1.1): the kernel CRIU 4.1.1 can dump TCP on, root with every
 * capability, soft-dirty tracking. The same key-value pilot as on the host,
 * as root and as nobody (writable dirs), with a freeze budget the first one
 * cannot meet, so its pre-copy variant runs. ~13 min under TCG on a loaded
 * 2-core machine.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { runJsonConfig, tempDir } from '../e2e/harness.ts';
import { canDumpInet, pilot } from '../e2e/pilot-services.ts';

const POOL = 'k6.12-trixie';
let results: RunResults;
const cell = (check: string): Cell => {
  const c = results.cells.find((x) => x.check === check);
  if (!c) throw new Error(`no cell ${check}; cells: ${results.cells.map((x) => x.check).join(', ')}`);
  return c;
};

beforeAll(async () => {
  const dir = tempDir('criu-compat-pilot-vm-');
  const slow = { timeoutMs: 30_000, intervalMs: 100, options: ['--tcp-established'] };
  const config = {
    pools: [{ name: POOL, kernel: 'debian/trixie', image: 'debian-trixie', vm: { memoryMiB: 1536 } }],
    settings: { suites: ['pilot'] },
    pilots: [
      pilot('kv', [POOL], { ...slow, criteria: { freezeMsP95: 1 } }),
      pilot('kv-nobody', [POOL], {
        ...slow,
        user: 'nobody',
        writable: ['/var/tmp', '/var/log'],
        env: { KV_LOG: '/var/tmp/kv.log' },
        verify: [['sh', '-c', 'grep -qx answer=42 /var/tmp/kv.log && test "$(stat -c %U /var/tmp/kv.log)" = nobody && test -s /var/log/dpkg.log']],
      }),
    ],
  };
  results = await runJsonConfig(dir, config);
});

describe('pilot engine in a VM', () => {
  test('CRIU 4.1.1 dumps TCP on 6.12: every primary stage PASSes with the held connection kept, as root and as nobody', () => {
    expect(canDumpInet(results, POOL)).toBe(true);
    for (const name of ['kv', 'kv-nobody'])
      for (const stage of ['start', 'leave-running', 'checkpoint-restore']) {
        const c = cell(`${name}/${stage}`);
        expect(c.status, `${c.check}: ${c.reason}`).toBe('PASS');
        const m = c.metrics.pilot!;
        expect(m['successes']).toBe(2);
        expect(m['heldConnectionSurvived']).toBe(1);
        expect(m['clientErrors']).toBe(0);
        if (stage === 'start') continue;
        expect(m['freezeMsMax']!).toBeLessThanOrEqual(m['checkpointMsMax']!);
        expect(m['clientGapMsMax']!).toBeGreaterThanOrEqual(m['freezeMsMax']! - 2);
      }
  });

  test('pre-copy runs where the freeze p95 missed the budget (and this kernel tracks dirty pages): pre-dump, then a dump on top of it', () => {
    for (const name of ['kv', 'kv-nobody']) {
      const primary = cell(`${name}/checkpoint-restore`);
      const budget = name === 'kv' ? 1 : 500;
      const pre = results.cells.find((c) => c.check === `${name}/checkpoint-restore/pre-copy`);
      expect(Boolean(pre), name).toBe(primary.metrics.pilot!['freezeMsP95']! > budget);
      if (!pre) continue;
      expect(pre.status, pre.reason).toBe('PASS');
      expect(pre.commands[0]).toMatch(/^criu pre-dump .*--track-mem/);
      expect(pre.commands[1]).toMatch(/^criu dump .*--prev-images-dir \.\.\/pre --track-mem --tcp-established/);
      expect(pre.metrics.pilot!['heldConnectionSurvived']).toBe(1);
    }
    expect(results.cells.some((c) => c.check.endsWith('/reconnect'))).toBe(false); // nothing failed
  });
});
