/**
 * The pilot engine for real: a tiny stateful service (an in-memory key-value
 * server in Perl, which every Debian node image has in perl-base) run as a
 * pilot on host-trixie (CRIU 4.1.1) and host-sid (CRIU 4.2.1) with a held
 * client outside its tree, real CRIU, every stage measured. What each cell
 * must say follows from what the pools are (their probed CRIU version and
 * this machine's kernel), never from a verdict written here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { capEffOf } from '../../src/runner/capabilities.ts';
import { runJsonConfig, tempDir } from './harness.ts';
import { HTTP_SERVICE, INTERVAL, canDumpInet as canDump, markedProcesses, pilot } from './pilot-services.ts';

let results: RunResults;
const cell = (pool: string, check: string): Cell => {
  const c = results.cells.find((x) => x.pool === pool && x.check === check);
  if (!c) throw new Error(`no cell ${pool} ${check}; cells: ${results.cells.map((x) => `${x.pool}/${x.check}`).join(', ')}`);
  return c;
};
const pools = () => results.pools.map((p) => p.name);
const canDumpInet = (pool: string) => canDump(results, pool);

/** Does a process started here (as criu is) have CAP_SYS_RESOURCE, which dumping another user's process needs? */
const hasSysResource = () => ((capEffOf(readFileSync('/proc/self/status', 'utf8')) ?? 0n) >> 24n) & 1n;

beforeAll(async () => {
  const dir = tempDir('criu-compat-pilot-engine-');
  const config = {
    pools: [
      { name: 'host-trixie', kernel: 'host', image: 'debian-trixie' },
      { name: 'host-sid', kernel: 'host', image: 'debian-sid' },
    ],
    settings: { suites: ['pilot'] },
    pilots: [
      pilot('kv', ['host-trixie', 'host-sid'], { options: ['--tcp-established'] }),
      // As its own user, writing under a writable directory; /var/log keeps the image's contents.
      pilot('kv-nobody', ['host-sid'], {
        user: 'nobody',
        writable: ['/var/tmp', '/var/log'],
        env: { KV_LOG: '/var/tmp/kv.log' },
        options: ['--tcp-established'],
        verify: [['sh', '-c', 'grep -qx answer=42 /var/tmp/kv.log && test "$(stat -c %U /var/tmp/kv.log)" = nobody && test -s /var/log/dpkg.log']],
        // Readiness by a command, and the seed run as another user (runuser).
        ready: { command: ['perl', '-MIO::Socket::INET', '-e', 'IO::Socket::INET->new("127.0.0.1:7000") or exit 1'] },
        seedUser: 'nobody',
      }),
      // HTTP: readiness by GET with the expected status and body, a client requesting throughout.
      {
        name: 'web',
        pools: ['host-sid'],
        service: { command: ['perl', '-e', HTTP_SERVICE] },
        ready: { http: { port: 7080, path: '/', status: 200, body: 'hello' }, timeoutMs: 10_000 },
        client: { http: { port: 7080, path: '/', status: 200, body: 'hello' }, intervalMs: INTERVAL },
        // A client requesting every 50 ms is often mid-request at the dump (seen: "Connected TCP socket" without
        // --tcp-established) or queued on the listener ("In-flight connection"): the service needs both options.
        criu: { options: ['--tcp-established', '--skip-in-flight'] },
        stages: ['checkpoint-restore'],
        attempts: 2,
        criteria: { freezeMsP95: 500 },
      },
      // A held client and no --tcp-established: the service cannot be checkpointed with its client.
      pilot('kv-no-tcp', ['host-sid']),
    ],
  };
  results = await runJsonConfig(dir, config);
});

describe('pilot engine', () => {
  test('the cells carry the pilot, its stage as mode, and no ERROR anywhere', () => {
    expect(results.cells.filter((c) => c.status === 'ERROR').map((c) => `${c.pool}/${c.check}: ${c.reason}`)).toEqual([]);
    for (const c of results.cells) {
      expect(c.suite).toBe('pilot');
      expect(c.check.startsWith(`${c.pilot}/`)).toBe(true);
      expect(c.check).toBe(`${c.pilot}/${c.mode}`);
    }
    expect(pools().sort()).toEqual(['host-sid', 'host-trixie']);
  });

  test('start: the service runs as its user, ready, seeded, verified, and the held client answered throughout', () => {
    for (const [pool, name] of [['host-trixie', 'kv'], ['host-sid', 'kv'], ['host-sid', 'kv-nobody'], ['host-sid', 'kv-no-tcp']] as const) {
      const c = cell(pool, `${name}/start`);
      expect(c.status, `${pool} ${c.reason}`).toBe('PASS');
      expect(c.repetitions).toEqual({ attempts: 2, successes: 2, successRate: 1 });
      const m = c.metrics.pilot!;
      expect(m['clientProbes']).toBeGreaterThanOrEqual(2 * 8); // 3 before, 5 after verify, per attempt
      expect(m['clientErrors']).toBe(0);
      expect(m['heldConnectionSurvived']).toBe(1);
      expect(m['freezeMsP95']).toBeUndefined(); // no checkpoint in the baseline
    }
  });

  test('kv with --tcp-established: PASS where this CRIU can dump TCP on this kernel, else FAIL diagnosed sockopt-passcred', () => {
    for (const pool of pools())
      for (const stage of ['leave-running', 'checkpoint-restore'] as const) {
        const c = cell(pool, `kv/${stage}`);
        const m = c.metrics.pilot!;
        expect(m['attempts']).toBe(2);
        if (!canDumpInet(pool)) {
          expect(c.status, `${pool} ${stage}: ${c.reason}`).toBe('FAIL');
          expect(c.diagnoses.map((d) => d.id)).toContain('sockopt-passcred');
          expect(m['successes']).toBe(0);
          expect(m['freezeMsMax']).toBeUndefined(); // a failed dump froze nothing worth counting
          expect(c.logExcerpt.join('\n')).toMatch(/Can't get 1:(16|34) opt/);
          continue;
        }
        expect(c.status, `${pool} ${stage}: ${c.reason}`).toBe('PASS');
        expect(m['successes']).toBe(2);
        expect(m['heldConnectionSurvived']).toBe(1);
        expect(m['clientErrors']).toBe(0);
        // CRIU's frozen time lies inside the dump; the held client got no answer while the service was frozen.
        expect(m['freezeMsP95']!).toBeLessThanOrEqual(m['freezeMsMax']!);
        expect(m['freezeMsMax']!).toBeGreaterThan(0);
        expect(m['freezeMsMax']!).toBeLessThanOrEqual(m['checkpointMsMax']!);
        expect(m['clientGapMsMax']!).toBeGreaterThanOrEqual(m['freezeMsMax']! - 2);
        expect(m['imageBytesMax']!).toBeGreaterThan(0);
        expect(c.distribution!['freezeMs']!.n).toBe(2);
        expect(c.commands.join('\n')).toMatch(/criu dump .*--tcp-established/);
        if (stage === 'checkpoint-restore') {
          expect(m['restoreMsMax']!).toBeGreaterThan(0);
          expect(c.commands.join('\n')).toMatch(/criu restore .*--tcp-established/);
        } else expect(c.commands.join('\n')).toMatch(/--leave-running/);
      }
  });

  test('variants run only when they could help: reconnect after a failed held checkpoint, pre-copy never (every freeze was within 500 ms)', () => {
    for (const pool of pools()) {
      const primary = cell(pool, 'kv/checkpoint-restore');
      const reconnect = results.cells.find((c) => c.pool === pool && c.check === 'kv/checkpoint-restore/reconnect');
      expect(Boolean(reconnect), pool).toBe(primary.status === 'FAIL');
      const pre = results.cells.find((c) => c.pool === pool && c.check === 'kv/checkpoint-restore/pre-copy');
      expect(pre).toBeUndefined();
      expect(primary.status === 'PASS' ? primary.metrics.pilot!['freezeMsP95']! : 0).toBeLessThanOrEqual(500);
    }
  });

  test('a held connection without --tcp-established breaks the checkpoint: FAIL with the cause; the reconnect variant (fresh connections, --skip-in-flight) shows what clients that reconnect get', () => {
    for (const stage of ['leave-running', 'checkpoint-restore']) {
      const c = cell('host-sid', `kv-no-tcp/${stage}`);
      expect(c.status, c.reason).toBe('FAIL');
      expect(c.diagnoses[0]!.id).toBe(canDumpInet('host-sid') ? 'tcp-established-needed' : 'sockopt-passcred');
      expect(c.reason).toMatch(/^2\/2 attempts failed; first: criu dump/);
      expect(c.metrics.pilot!['successes']).toBe(0);
    }
    const v = cell('host-sid', 'kv-no-tcp/checkpoint-restore/reconnect');
    expect(v.commands.join('\n')).toMatch(/criu dump .*--skip-in-flight/);
    expect(v.commands.join('\n')).not.toMatch(/--tcp-established/);
    expect(v.metrics.pilot!['heldConnectionSurvived']).toBeUndefined(); // no held connection in this variant
    if (!canDumpInet('host-sid')) return void expect(v.status).toBe('FAIL');
    expect(v.status, v.reason).toBe('PASS');
    const m = v.metrics.pilot!;
    // The service was down between the dump and the restore: the reconnecting client saw it (a gap, maybe refusals).
    expect(m['clientGapMsMax']!).toBeGreaterThanOrEqual(m['freezeMsMax']! - 2);
    expect(m['clientProbes']!).toBeGreaterThan(m['clientErrors']!);
  });

  test('a service of its own user: dumped by root where CRIU holds CAP_SYS_RESOURCE, else as nobody with --unprivileged and restored by root; the verdict names that; its writable dirs held the image contents and its own file', () => {
    expect(cell('host-sid', 'kv-nobody/start').status).toBe('PASS'); // the verify step read /var/tmp/kv.log (owned by nobody) and /var/log/dpkg.log
    const root = Boolean(hasSysResource());
    for (const stage of ['leave-running', 'checkpoint-restore']) {
      const c = cell('host-sid', `kv-nobody/${stage}`);
      const at = `${c.check}: ${c.reason}`;
      const cmds = c.commands.join('\n');
      expect(c.status, at).toBe(canDumpInet('host-sid') ? 'PASS' : 'FAIL');
      if (root) {
        expect(cmds, at).toMatch(/^criu dump /m);
        expect(cmds, at).not.toMatch(/setpriv|--unprivileged/);
        expect(c.metrics.pilot!['unprivilegedDump'], at).toBeUndefined();
        continue;
      }
      // CRIU as nobody (uid 65534 in Debian), with root's capabilities (never sys_resource, which root lacks) as ambient ones.
      expect(cmds, at).toMatch(/setpriv --reuid=65534 --regid=\d+ --init-groups --inh-caps=\S+ --ambient-caps=\S+ -- criu dump -t \d+ -D img .*--unprivileged/);
      expect(cmds, at).not.toMatch(/sys_resource/);
      expect(c.reason, at).toMatch(/dumped as nobody with criu --unprivileged: root lacks CAP_SYS_RESOURCE on this node/);
      if (c.status !== 'PASS') continue;
      if (stage === 'checkpoint-restore') expect(c.commands.at(-1), at).toMatch(/^criu restore -d -D img /); // restored by root
      expect(c.metrics.pilot!['unprivilegedDump'], at).toBe(1);
      expect(c.metrics.pilot!['heldConnectionSurvived'], at).toBe(1);
    }
    const v = results.pilots!.find((x) => x.pilot === 'kv-nobody' && x.pool === 'host-sid')!;
    const missed = v.reasons.filter((r) => !r.ok);
    if (!root && canDumpInet('host-sid') && !missed.length) {
      expect(v.verdict, v.why).toBe('CONDITIONAL');
      expect(v.conditions).toEqual(['only with an unprivileged dump: CRIU ran as nobody (root lacks CAP_SYS_RESOURCE on this node) with --unprivileged, not as root']);
    } else expect(v.verdict, v.why).not.toBe(missed.length ? 'GO' : 'CONDITIONAL');
  });

  test('an HTTP service with an HTTP client: readiness and every probe are GETs checked for status and body', () => {
    const start = cell('host-sid', 'web/start');
    expect(start.status, start.reason).toBe('PASS');
    expect(start.metrics.pilot!['clientErrors']).toBe(0);
    expect(start.metrics.pilot!['heldConnectionSurvived']).toBeUndefined();
    expect(results.cells.some((c) => c.check === 'web/leave-running')).toBe(false); // not among its stages
    const c = cell('host-sid', 'web/checkpoint-restore');
    if (!canDumpInet('host-sid')) return void expect(c.status).toBe('FAIL');
    expect(c.status, c.reason).toBe('PASS');
    const m = c.metrics.pilot!;
    // The service is gone from the dump to the end of the restore: fresh GETs are refused then (errors), and the gap covers the freeze.
    expect(m['clientGapMsMax']!).toBeGreaterThanOrEqual(m['freezeMsMax']! - 2);
    expect(m['clientProbes']!).toBeGreaterThan(m['clientErrors']!);
    expect(c.workloadOutput!.some((l) => /^client: \d+ start http$/.test(l))).toBe(true);
  });

  test('nothing is left behind: no service, no client', () => {
    expect(markedProcesses()).toEqual([]); // the service's script and the client's request carry MARK
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/ cc-pilot /);
  });
});
