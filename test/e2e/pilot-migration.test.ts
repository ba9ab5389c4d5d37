/**
 * A pilot's migration stage for real: the Perl key-value service (perl-base,
 * in every node image) as its own user with a writable directory, dumped on
 * host-sid (CRIU 4.2.1), its images and writable directory moved to
 * host-sid-b (the same image: PASS expected) and to host-trixie (CRIU 4.1.1:
 * images from a newer CRIU), restored and verified there. The verdict comes
 * from the judge over these cells: CONDITIONAL, only between the pools the
 * migration worked between.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { runJsonConfig, tempDir } from './harness.ts';
import { expectMeasuredMigration, pilot } from './pilot-services.ts';

let results: RunResults;
const cell = (check: string): Cell => {
  const c = results.cells.find((x) => x.pool === 'host-sid' && x.check === check);
  if (!c) throw new Error(`no cell host-sid ${check}; cells: ${results.cells.map((x) => `${x.pool}/${x.check}`).join(', ')}`);
  return c;
};
const criuOf = (pool: string) => results.pools.find((p) => p.name === pool)!.inventory!.criuVersion;

beforeAll(async () => {
  const dir = tempDir('criu-compat-pilot-migration-');
  const kv = pilot('kv', ['host-sid'], {
    // root: this machine gives CRIU no CAP_SYS_RESOURCE, which another user's service needs (a SKIP, not this test's subject).
    writable: ['/var/tmp'],
    env: { KV_LOG: '/var/tmp/kv.log' },
    options: ['--tcp-established'],
    verify: [['sh', '-c', 'grep -qx answer=42 /var/tmp/kv.log']],
  });
  const config = {
    pools: [
      { name: 'host-sid', kernel: 'host', image: 'debian-sid' },
      { name: 'host-sid-b', kernel: 'host', image: 'debian-sid' },
      { name: 'host-trixie', kernel: 'host', image: 'debian-trixie' },
    ],
    settings: { suites: ['pilot'] },
    pilots: [
      // A client that connects afresh each time: without a node network the service's address cannot move, so no connection can be held across.
      { ...kv, client: { tcp: { port: 7000 }, intervalMs: 50 }, stages: ['migration'], migrateTo: ['host-sid-b', 'host-trixie'], attempts: 2 },
      // The same service with a held client, held on the source: without a node network its connection cannot follow the service.
      { ...kv, name: 'kv-held', stages: ['migration'], migrateTo: ['host-sid-b'], attempts: 1 },
    ],
  };
  results = await runJsonConfig(dir, config);
}, 170_000);

describe('pilot migration', () => {
  test('the cells: one per destination, on the source pool, mode migration, destination set; the baseline passed', () => {
    expect(cell('kv/start').status, cell('kv/start').reason).toBe('PASS');
    const checks = results.cells.filter((c) => c.mode === 'migration').map((c) => `${c.pool} ${c.check} ${c.source}>${c.destination}`).sort();
    expect(checks).toEqual(['host-sid kv-held/migration → host-sid-b host-sid>host-sid-b', 'host-sid kv/migration → host-sid-b host-sid>host-sid-b', 'host-sid kv/migration → host-trixie host-sid>host-trixie']);
  });

  test('host-sid → host-sid-b: restored and verified there in every attempt (the writable dir came along), with measured freeze, transfer, restore and downtime', () => {
    const c = cell('kv/migration → host-sid-b');
    expect(c.status, c.reason).toBe('PASS');
    expect(c.reason).toMatch(/restored on host-sid-b verified/);
    expect(c.repetitions).toEqual({ attempts: 2, successes: 2, successRate: 1 });
    const m = c.metrics.pilot!;
    expectMeasuredMigration(m, 2);
    // The freeze lies inside the downtime, as the restore does.
    expect(m['freezeMsMax']!).toBeLessThan(m['downtimeMsMax']!);
    expect(c.commands.join('\n')).toMatch(/^\[host-sid\] .*dump[\s\S]*^\[host-sid-b\] .*restore/m);
  });

  test("host-sid → host-trixie: FAIL on the destination, diagnosed from its CRIU log (the node images' perl differs) with the CRIU version skew beside it", () => {
    expect([criuOf('host-sid'), criuOf('host-trixie')]).toEqual(['4.2.1', '4.1.1']);
    const c = cell('kv/migration → host-trixie');
    expect(c.status, c.reason).toBe('FAIL');
    expect(c.reason).toMatch(/^(2\/2 attempts failed; first: )?on host-trixie: criu restore failed/);
    // The service's executable comes from the node image: sid's perl is not trixie's, and CRIU checks the size of every mapped file.
    const size = c.diagnoses.find((d) => d.id === 'file-size-differs');
    expect(size?.evidence).toMatch(/File usr\/bin\/perl has bad size/);
    expect(c.diagnoses.map((d) => d.id)).toContain('criu-older-on-destination');
    expect(c.diagnoses.findIndex((d) => d.id === 'file-size-differs')).toBeLessThan(c.diagnoses.findIndex((d) => d.id === 'criu-older-on-destination'));
    expect(c.logExcerpt.join('\n')).toMatch(/Restoring FAILED/);
    expect(c.metrics.pilot!['restoreMsMax']).toBeUndefined(); // a failed restore is not a restore time
    // The playbook's fallback, for real: the same images restore on the source and the service verifies there.
    expect(c.fallback, c.reason).toMatchObject({ status: 'PASS', reason: expect.stringMatching(/^restored on host-sid from the same images and verified there/) });
    expect(c.reason).toMatch(/; fallback on host-sid: restored on host-sid/);
    expect(c.commands.join('\n')).toMatch(/^\[host-sid\] criu restore .*restore-fallback\.log/m);
  });

  test('the verdict, judged from those cells: CONDITIONAL, only between these pools', () => {
    const v = results.pilots!.find((x) => x.pilot === 'kv' && x.pool === 'host-sid')!;
    expect(v.verdict, v.why).toBe('CONDITIONAL');
    expect(v.conditions).toEqual(['only between these pools: host-sid → host-sid-b']);
    expect(v.response).toMatch(/cold-start fallback.*host-sid → host-trixie/);
    expect(v.evidence).toEqual(expect.arrayContaining(['kv/migration → host-sid-b', 'kv/migration → host-trixie']));
  });

  test('a held client, held on the source through the move: the migration passes, the held connection is measured lost (the address stays), and the verdict says clients must reconnect', () => {
    const c = cell('kv-held/migration → host-sid-b');
    expect(c.status, c.reason).toBe('PASS');
    expect(c.reason).toMatch(/no node network: the service address does not move/);
    expect(c.reason).toMatch(/held client on host-sid from before the dump: its connection was lost .*the service address stays on host-sid/);
    expect(c.metrics.pilot!['heldConnectionSurvived']).toBe(0);
    const v = results.pilots!.find((x) => x.pilot === 'kv-held' && x.pool === 'host-sid')!;
    const rows = v.reasons.filter((r) => r.cell === c.check);
    expect(rows.find((r) => r.criterion === 'heldConnectionSurvived')).toMatchObject({ measured: 0, ok: false });
    // Everything else measured against the criteria decides between "clients must reconnect" and NO-GO.
    const rest = rows.filter((r) => r.criterion !== 'heldConnectionSurvived');
    expect(rest.every((r) => r.measured !== null)).toBe(true);
    if (rest.every((r) => r.ok)) {
      expect(v.verdict, v.why).toBe('CONDITIONAL');
      expect(v.conditions).toEqual(['only without established TCP: clients must reconnect']);
      expect(v.response).toMatch(/does not follow the service to host-sid-b/);
    } else expect(v.verdict, v.why).toBe('NO-GO');
  });

  test('nothing of the run is left: no service, no tmpfs of the engine', () => {
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toMatch(/ cc-pilot /);
  });
});
