/**
 * A pilot's migration between two VM pools (QEMU, Debian trixie's 6.12
 * kernel, CRIU 4.1.1), linked by the pilot so they boot in the same wave:
 * the Perl key-value service dumped in one guest, its images and writable
 * directory moved through the host, restored and verified in the other.
 * The verdict follows from the measured downtime against the pilot's budget
 * (under TCG on a busy machine it can miss it): asserted from the number.
 * The same service with a held client and serviceAddress move: the client
 * on a client node of the run's network holds its connection to a service
 * address that moves from vm-a to vm-b with CRIU's network lock.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { runJsonConfig, tempDir } from './harness.ts';
import { pilot } from './pilot-services.ts';

const BUDGET_MS = 5000;
let results: RunResults;

beforeAll(async () => {
  const dir = tempDir('criu-compat-pilot-migration-vm-');
  const kv = pilot('kv', ['vm-a'], { writable: ['/var/tmp'], env: { KV_LOG: '/var/tmp/kv.log' }, options: ['--tcp-established'], verify: [['sh', '-c', 'grep -qx answer=42 /var/tmp/kv.log']], criteria: { freezeMsP95: 2000, clientGapMsMax: BUDGET_MS } });
  const vm = (name: string) => ({ name, kernel: 'debian/trixie', image: 'debian-trixie', vm: { memoryMiB: 1024 } });
  const moving = { ...kv, name: 'kv-move', service: { ...kv.service, env: { ...kv.service.env, KV_LISTEN: '0.0.0.0' } }, stages: ['migration'], migrateTo: ['vm-b'], attempts: 1, serviceAddress: 'move' };
  const config = { pools: [vm('vm-a'), vm('vm-b')], settings: { suites: ['pilot'] }, pilots: [{ ...kv, client: { tcp: { port: 7000 }, intervalMs: 50 }, stages: ['migration'], migrateTo: ['vm-b'], attempts: 1 }, moving] };
  results = await runJsonConfig(dir, config);
}, 600_000);

describe('pilot migration between two VM pools', () => {
  test('vm-a → vm-b: dumped in one guest, restored and verified in the other, every figure measured', () => {
    expect(results.pools.map((p) => `${p.name} ${p.inventory?.criuVersion}`).sort()).toEqual(['vm-a 4.1.1', 'vm-b 4.1.1']);
    const c = results.cells.find((x) => x.pool === 'vm-a' && x.check === 'kv/migration → vm-b')!;
    expect(c.status, c.reason).toBe('PASS');
    expect(c.commands.join('\n')).toMatch(/^\[vm-a\] criu dump[\s\S]*^\[vm-b\] criu restore/m);
    const m = c.metrics.pilot!;
    for (const k of ['freezeMsMax', 'transferMsMax', 'restoreMsMax', 'downtimeMsMax', 'imageBytesMax']) expect(m[k], k).toBeGreaterThan(0);
    expect(m['clientErrors']).toBe(0);
  });

  test('the verdict follows from the measured downtime against the budget', () => {
    const c = results.cells.find((x) => x.check === 'kv/migration → vm-b')!;
    const gap = c.metrics.pilot!['clientGapMsMax']!;
    const v = results.pilots!.find((x) => x.pilot === 'kv' && x.pool === 'vm-a')!;
    if (gap > BUDGET_MS) {
      expect(v.verdict, v.why).toBe('NO-GO');
      expect(v.why).toMatch(/client gap max .* > 5000 ms/);
      expect(v.response).toMatch(/disruption/);
    } else expect(v.verdict, v.why).toBe('GO');
  });

  test("serviceAddress move between two guests: the held client on a client node, the address and CRIU's lock handed to vm-b, the connection judged from what the client saw", () => {
    const c = results.cells.find((x) => x.pool === 'vm-a' && x.check === 'kv-move/migration → vm-b')!;
    const commands = c.commands.join('\n');
    expect(commands, c.reason).toMatch(/^service address \S+ on vm-a; client node \S+ holds a connection to \S+:7000$/m);
    if (c.status === 'PASS') {
      expect(commands).toMatch(/^\[vm-a\] iptables-save: [1-9]\d* CRIU lock rules? for \S+ → \[vm-b\] iptables-restore --noflush$/m);
      expect(commands).toMatch(/^service address \S+: off vm-a, on vm-b$/m);
      const survived = c.metrics.pilot!['heldConnectionSurvived'];
      expect(survived).toBeDefined();
      expect(c.reason).toMatch(survived === 1 ? /its connection answered throughout/ : /its connection was lost/);
    } else {
      // Never an ERROR (a harness bug): a FAIL of the tuple, diagnosed.
      expect(c.status, c.reason).toBe('FAIL');
      expect(c.diagnoses.length, c.reason).toBeGreaterThan(0);
    }
  });
});
