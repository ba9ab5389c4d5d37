/**
 * The two PostgreSQL pilots of fixtures/pilots/debian-services.yaml for real:
 * `postgresql` (clients that reconnect) and `postgresql-held` (one psql
 * session held over TCP the whole time), both started by root in an IPC
 * namespace of their own and dropped to user postgres. One attempt per
 * stage; on host-sid (CRIU 4.2.1 on this machine's kernel) and, with
 * CC_PILOT_PG_VM=1, on the VM pool k6.12-trixie too (slow under TCG).
 *
 * What each checkpoint cell must be follows from what was probed, never from
 * this machine's name: a namespace node whose root lacks CAP_SYS_RESOURCE
 * (this test's own CapEff, the harness's CRIU runs with the same) cannot
 * dump another user's tree as root: the harness dumps it as postgres with
 * criu --unprivileged (CRIU >= 3.18; else a SKIP naming CAP_SYS_RESOURCE)
 * and restores it as root, and the verdict carries that condition; a CRIU older than 4.2 on a
 * kernel >= 6.16 cannot dump TCP sockets: FAIL sockopt-passcred; elsewhere
 * the dump must not meet PostgreSQL's SysV segment outside its IPC namespace,
 * the rows must be there after the restore, and the held session must be the
 * same psql connection after it. The same held session without
 * --tcp-established shows what forgetting it earns. The verdicts come from
 * the numbers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { Pilot } from '../../src/config/pilot-schema.ts';
import type { Cell, PoolResult, RunResults } from '../../src/results/schema.ts';
import { ROOT, runJsonConfig, tempDir } from './harness.ts';

const FILE = join(ROOT, 'fixtures/pilots/debian-services.yaml');
const POOLS = process.env['CC_PILOT_PG_VM'] === '1' ? ['host-sid', 'k6.12-trixie'] : ['host-sid'];
const NAMES = ['postgresql', 'postgresql-held'];
const STAGES = ['leave-running', 'checkpoint-restore'] as const;
const NO_TCP = 'postgresql-held-no-tcp';

let results: RunResults;
let pilots: Pilot[];

beforeAll(async () => {
  const data = parse(readFileSync(FILE, 'utf8')) as { pools: { name: string }[]; pilots: Record<string, unknown>[] };
  data.pools = data.pools.filter((p) => POOLS.includes(p.name));
  data.pilots = data.pilots.filter((p) => NAMES.includes(p['name'] as string)).map((p) => ({ ...p, pools: POOLS, attempts: 1 }));
  // The held session without --tcp-established: what a pilot that forgot it earns (checkpoint-restore only, to keep the VM's time down).
  const held = data.pilots.find((p) => p['name'] === 'postgresql-held')!;
  data.pilots.push({ ...held, name: NO_TCP, description: 'postgresql-held without --tcp-established', criu: { options: ['--skip-in-flight'] }, stages: ['checkpoint-restore'] });
  pilots = data.pilots.map((p) => Pilot.parse(p));
  results = await runJsonConfig(tempDir('criu-compat-pilot-pg-'), data);
  for (const c of results.cells.filter((x) => x.suite === 'pilot')) console.log(`${c.pool} ${c.check}: ${c.status} ${c.reason.slice(0, 240)}`);
  for (const v of results.pilots ?? []) console.log(`verdict ${v.pilot} on ${v.pool}: ${v.verdict} (${v.why})`);
}, POOLS.length > 1 ? 2_400_000 : 300_000);

const cell = (pool: string, check: string): Cell => {
  const c = results.cells.find((x) => x.suite === 'pilot' && x.pool === pool && x.check === check);
  if (!c) throw new Error(`no cell ${pool} ${check}; cells: ${results.cells.map((x) => `${x.pool}/${x.check}`).join(', ')}`);
  return c;
};
const poolOf = (name: string): PoolResult => results.pools.find((p) => p.name === name)!;
const pilotMetrics = (c: Cell) => c.metrics['pilot'] as Record<string, number>;

/** Does this test's process (root on the host, as the harness's CRIU) hold CAP_SYS_RESOURCE (bit 24)? */
function hostHasSysResource(): boolean {
  const eff = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0';
  return (BigInt(`0x${eff}`) >> 24n) % 2n === 1n;
}

/** Does the pool's CRIU take --unprivileged (3.18 and later)? */
const hasUnprivileged = (p: PoolResult) => semver.gte(semver.coerce(p.inventory!.criuVersion ?? '') ?? '0.0.0', '3.18.0');

/** The cell's dump ran as postgres (setpriv, --unprivileged) and its restore as root. */
function dumpedAsPostgres(c: Cell, at: string): void {
  const cmds = c.commands.join('\n');
  expect(cmds, at).toMatch(/setpriv --reuid=\d+ --regid=\d+ --init-groups --inh-caps=\S*\+checkpoint_restore\S* --ambient-caps=\S+ -- criu (pre-)?dump .*--unprivileged/);
  expect(cmds, at).not.toMatch(/sys_resource/);
  if (c.check.includes('checkpoint-restore') && c.status === 'PASS') expect(c.commands.find((x) => x.startsWith('criu restore')), at).toBeDefined();
}

/** CRIU < 4.2 reads SO_PASSCRED from inet sockets, which kernels >= 6.16 refuse. */
function tcpBlocked(p: PoolResult): boolean {
  const criu = semver.coerce(p.inventory!.criuVersion ?? '');
  const kernel = semver.coerce(p.inventory!.kernelRelease);
  return Boolean(criu && kernel && semver.lt(criu, '4.2.0') && semver.gte(kernel, '6.16.0'));
}

describe('PostgreSQL piloted: reconnecting clients vs a held psql session', () => {
  test('both start as user postgres in an IPC namespace of their own, seeded and verified; the psql session answered on one connection', () => {
    for (const pool of POOLS)
      for (const name of NAMES) {
        const c = cell(pool, `${name}/start`);
        // start checks the uid and that the IPC namespace is not the node's (runsAsUser): PASS means both held.
        expect(c.status, `${pool} ${c.check}: ${c.reason}`).toBe('PASS');
        expect(pilotMetrics(c)['clientErrors'], c.check).toBe(0);
      }
    for (const pool of POOLS) {
      const held = cell(pool, 'postgresql-held/start');
      expect(pilotMetrics(held)['heldConnectionSurvived']).toBe(1);
      expect((held.workloadOutput ?? []).join('\n')).toMatch(/client: \d+ start session/);
      expect((held.workloadOutput ?? []).join('\n')).toMatch(/connects=1$/m);
    }
  });

  test('each checkpoint stage: dumped as root with CAP_SYS_RESOURCE, else as postgres with --unprivileged (SKIP where CRIU lacks it); FAIL sockopt-passcred where CRIU cannot dump TCP, else the rows and the held session kept', () => {
    for (const pool of POOLS) {
      const p = poolOf(pool);
      const capable = p.backend === 'qemu' || hostHasSysResource();
      for (const name of NAMES)
        for (const stage of STAGES) {
          const c = cell(pool, `${name}/${stage}`);
          const at = `${pool} ${c.check}: ${c.reason}`;
          if (!capable && !hasUnprivileged(p)) {
            expect(c.status, at).toBe('SKIP');
            expect(c.reason, at).toMatch(/CAP_SYS_RESOURCE.*the service runs as postgres.*--unprivileged/);
            continue;
          }
          if (capable) expect(c.commands.join('\n'), at).not.toMatch(/setpriv|--unprivileged/);
          else {
            dumpedAsPostgres(c, at);
            expect(c.reason, at).toMatch(/dumped as postgres with criu --unprivileged: root lacks CAP_SYS_RESOURCE on this node/);
          }
          expect(c.diagnoses.map((d) => d.id), at).not.toContain('sysv-shm-outside-ipc-ns');
          if (tcpBlocked(p)) {
            expect(c.status, at).toBe('FAIL');
            expect(c.diagnoses.map((d) => d.id), at).toContain('sockopt-passcred');
            continue;
          }
          expect(c.status, at).toBe('PASS');
          const m = pilotMetrics(c);
          expect(m['freezeMsP95'], at).toBeGreaterThan(0);
          expect(m['imageBytesMax'], at).toBeGreaterThan(0);
          expect(m['unprivilegedDump'], at).toBe(capable ? undefined : 1);
          if (name === 'postgresql-held') expect(m['heldConnectionSurvived'], at).toBe(1);
        }
    }
  });

  test('the held session without --tcp-established: the dump refuses its connection (tcp-established-needed), the reconnect variant runs a fresh psql per probe, and the verdict says so', () => {
    for (const pool of POOLS) {
      const p = poolOf(pool);
      const c = cell(pool, `${NO_TCP}/checkpoint-restore`);
      const at = `${pool} ${c.check}: ${c.reason}`;
      if (c.status === 'SKIP') {
        expect(p.backend === 'qemu' || hostHasSysResource() || hasUnprivileged(p), at).toBe(false);
        continue;
      }
      expect(c.status, at).toBe('FAIL');
      expect(c.diagnoses.map((d) => d.id), at).toContain(tcpBlocked(p) ? 'sockopt-passcred' : 'tcp-established-needed');
      if (tcpBlocked(p)) continue;
      const r = cell(pool, `${NO_TCP}/checkpoint-restore/reconnect`);
      expect(['PASS', 'FAIL'], `${pool} ${r.check}: ${r.reason}`).toContain(r.status);
      expect((r.workloadOutput ?? []).join('\n')).toMatch(/client: \d+ start spawn/);
      expect(pilotMetrics(r)['heldConnectionSurvived']).toBeUndefined();
      const v = results.pilots!.find((x) => x.pilot === NO_TCP && x.pool === pool)!;
      const variantMet = v.reasons.filter((x) => x.cell === r.check).every((x) => x.ok);
      expect(v.verdict, v.why).toBe(variantMet ? 'CONDITIONAL' : 'NO-GO');
      if (variantMet) expect(v.conditions).toEqual(['only without established TCP: clients must reconnect']);
      else expect(v.response, v.why).toMatch(/established-TCP restore/);
    }
  });

  test('each verdict follows from the cells: UNDECIDED where a stage was not measured, else GO exactly when every criterion measured holds and root dumped (CONDITIONAL, naming it, when the dump ran as postgres)', () => {
    for (const pool of POOLS)
      for (const p of pilots.filter((x) => NAMES.includes(x.name))) {
        const v = results.pilots!.find((x) => x.pilot === p.name && x.pool === pool)!;
        const at = `${p.name} on ${pool}: ${v.verdict} (${v.why})`;
        const primary = STAGES.map((s) => cell(pool, `${p.name}/${s}`));
        if (primary.some((c) => c.status === 'SKIP' || c.status === 'ERROR')) {
          expect(v.verdict, at).toBe('UNDECIDED');
          continue;
        }
        const missed = v.reasons.filter((r) => !r.ok);
        const unprivileged = primary.some((c) => pilotMetrics(c)['unprivilegedDump'] === 1);
        if (!missed.length) expect(v.verdict, at).toBe(unprivileged ? 'CONDITIONAL' : 'GO');
        else expect(v.verdict, at).not.toBe('GO');
        if (!missed.length && unprivileged) expect(v.conditions, at).toEqual([expect.stringMatching(/^only with an unprivileged dump: CRIU ran as postgres/)]);
        if (p.name === 'postgresql-held' && primary.every((c) => c.status === 'PASS')) expect(v.reasons.filter((r) => r.criterion === 'heldConnectionSurvived').every((r) => r.measured === 1), at).toBe(true);
      }
  });

  test('nothing of the run is left: no tmpfs of the engine (the nodes, and the services and sessions in them, went with the run)', () => {
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/ cc-pilot /);
  });
});
