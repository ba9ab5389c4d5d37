/**
 * A recorded real run (the embedded default's 9 pools) with pilot cells added
 * for the renderers' and the gate's tests: cells shaped as the pilot suite
 * emits them (PILOT-CONTRACT: check names, metrics.pilot keys), numbers made
 * up to give each verdict once, and the verdicts judged by judgePilots, never
 * written by hand. These pilot cells are synthetic, not a recording.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pilot } from '../src/config/pilot-schema.ts';
import { judgePilots } from '../src/matrix/pilot-verdicts.ts';
import { Cell, RunResults, exitCodeFor, summarize } from '../src/results/schema.ts';

export const RECORDED = join(import.meta.dirname, '../fixtures/recorded/results/default-matrix.json');

const GOOD = { attempts: 5, successes: 5, freezeMsP95: 140, freezeMsMax: 160, checkpointMsP95: 310, checkpointMsMax: 330, restoreMsP95: 220, restoreMsMax: 240, imageBytesMax: 9_400_000, clientGapMsMax: 420, clientErrors: 0, clientProbes: 96 };

export const PILOTS = [
  Pilot.parse({
    name: 'redis',
    pools: ['host-trixie', 'host-bookworm', 'k6.12-trixie'],
    packages: ['redis-server'],
    service: { command: ['redis-server', '--port', '6379'], user: 'redis' },
    ready: { tcp: { port: 6379 } },
    client: { held: { port: 6379, send: 'PING\r\n', expect: '+PONG' } },
    criu: { options: ['--tcp-established'] },
    criteria: { freezeMsP95: 500, clientGapMsMax: 2000 },
  }),
  Pilot.parse({
    name: 'nginx',
    pools: ['host-trixie', 'k6.12-trixie'],
    packages: ['nginx'],
    service: { command: ['nginx', '-g', 'daemon off;'], writable: ['/var/log/nginx', '/var/lib/nginx'] },
    ready: { http: { port: 80 } },
    client: { http: { port: 80 } },
    stages: ['leave-running', 'checkpoint-restore', 'migration'],
    migrateTo: ['k6.12-trixie', 'k6.1-trixie'],
    criteria: { imageBytesMax: 32 * 2 ** 20, clientGapMsMax: 3000 },
  }),
  Pilot.parse({
    name: 'postgres',
    pools: ['host-trixie', 'k6.12-trixie'],
    packages: ['postgresql'],
    service: { command: ['/usr/lib/postgresql/17/bin/postgres', '-D', '/var/lib/postgresql/17/main'], user: 'postgres', writable: ['/var/lib/postgresql', '/var/run/postgresql'] },
    ready: { command: ['pg_isready'] },
    client: { tcp: { port: 5432 } },
    criteria: { freezeMsP95: 200 },
  }),
];

function cell(pool: string, check: string, status: Cell['status'], metrics: Record<string, number> | null, reason?: string, over: Partial<Cell> = {}): Cell {
  const [pilot, ...rest] = check.split('/');
  const stage = rest.join('/');
  const dest = /^migration → (.+)$/.exec(stage)?.[1];
  return Cell.parse({
    pool,
    suite: 'pilot',
    check,
    pilot,
    mode: dest ? 'migration' : stage.split('/')[0],
    ...(dest ? { source: pool, destination: dest } : {}),
    status,
    reason: reason ?? (status === 'PASS' ? (metrics ? `all ${metrics.attempts} attempts verified` : 'ready as its user, seed and verify passed') : status),
    diagnoses: [],
    durations: { totalMs: 4000 },
    metrics: metrics ? { pilot: metrics } : {},
    logExcerpt: [],
    commands: [],
    startedAt: '2026-11-25T08:00:00.000Z',
    ...over,
  });
}

/** The pilot cells: each verdict on the board once at least. */
export function pilotCells(): Cell[] {
  const held = { ...GOOD, heldConnectionSurvived: 1 };
  const vdso = { id: 'vdso-bounds', fatal: true, title: "CRIU does not understand this kernel's vDSO layout", cause: 'kernel 6.13 split the vvar clock pages', remediation: 'use CRIU >= 4.1', blame: 'tuple' as const, evidence: 'Unexpected rt vDSO area bounds' };
  return [
    // redis: GO on host-trixie; NO-GO on host-bookworm (CRIU 3.17 cannot dump here); CONDITIONAL on k6.12-trixie (the held connection is lost, reconnecting clients are fine).
    cell('host-trixie', 'redis/start', 'PASS', null, 'redis-server ready as redis, seed and verify passed'),
    cell('host-trixie', 'redis/leave-running', 'PASS', held),
    cell('host-trixie', 'redis/checkpoint-restore', 'PASS', held),
    cell('host-bookworm', 'redis/start', 'PASS', null, 'redis-server ready as redis, seed and verify passed'),
    cell('host-bookworm', 'redis/leave-running', 'FAIL', { attempts: 1, successes: 0, clientGapMsMax: 15, clientErrors: 0, clientProbes: 4, heldConnectionSurvived: 1 }, 'criu dump failed (exit 1)', { diagnoses: [vdso], logExcerpt: ['Error (criu/vdso.c:284): vdso: Unexpected rt vDSO area bounds'] }),
    cell('host-bookworm', 'redis/checkpoint-restore', 'FAIL', { attempts: 1, successes: 0, clientGapMsMax: 12, clientErrors: 0, clientProbes: 3, heldConnectionSurvived: 1 }, 'criu dump failed (exit 1)', { diagnoses: [vdso] }),
    // The suite runs the reconnect variant after a FAIL of a pilot that holds a connection: it fails the same way.
    cell('host-bookworm', 'redis/checkpoint-restore/reconnect', 'FAIL', { attempts: 1, successes: 0, clientGapMsMax: 14, clientErrors: 0, clientProbes: 3 }, 'criu dump failed (exit 1)', { diagnoses: [vdso] }),
    cell('k6.12-trixie', 'redis/start', 'PASS', null),
    cell('k6.12-trixie', 'redis/leave-running', 'PASS', held),
    cell('k6.12-trixie', 'redis/checkpoint-restore', 'FAIL', { ...held, successes: 0, heldConnectionSurvived: 0, clientErrors: 5 }, 'the held connection did not answer after restore (connection reset)'),
    cell('k6.12-trixie', 'redis/checkpoint-restore/reconnect', 'PASS', { ...GOOD, clientGapMsMax: 900 }),
    // nginx: CONDITIONAL on host-trixie (migrates to k6.12-trixie, not to k6.1-trixie); NO-GO on k6.12-trixie (images over the limit).
    cell('host-trixie', 'nginx/start', 'PASS', null),
    cell('host-trixie', 'nginx/leave-running', 'PASS', GOOD),
    cell('host-trixie', 'nginx/checkpoint-restore', 'PASS', GOOD),
    cell('host-trixie', 'nginx/migration → k6.12-trixie', 'PASS', { ...GOOD, clientGapMsMax: 2100 }),
    cell('host-trixie', 'nginx/migration → k6.1-trixie', 'FAIL', { ...GOOD, successes: 0 }, 'criu restore failed on k6.1-trixie (exit 1)'),
    cell('k6.12-trixie', 'nginx/start', 'PASS', null),
    cell('k6.12-trixie', 'nginx/leave-running', 'PASS', { ...GOOD, imageBytesMax: 48 * 2 ** 20 }),
    cell('k6.12-trixie', 'nginx/checkpoint-restore', 'PASS', { ...GOOD, imageBytesMax: 48 * 2 ** 20 }),
    cell('k6.12-trixie', 'nginx/migration → k6.1-trixie', 'PASS', GOOD),
    // postgres: UNDECIDED on host-trixie (the node broke under the checkpoint-restore); CONDITIONAL on k6.12-trixie (pre-copy stays under the freeze budget).
    cell('host-trixie', 'postgres/start', 'PASS', null),
    cell('host-trixie', 'postgres/leave-running', 'PASS', { ...GOOD, freezeMsP95: 150 }),
    cell('host-trixie', 'postgres/checkpoint-restore', 'ERROR', null, 'the node stopped answering during the restore (timed out after 20 s)'),
    cell('k6.12-trixie', 'postgres/start', 'PASS', null),
    cell('k6.12-trixie', 'postgres/leave-running', 'PASS', { ...GOOD, freezeMsP95: 180 }),
    cell('k6.12-trixie', 'postgres/checkpoint-restore', 'PASS', { ...GOOD, freezeMsP95: 640 }),
    cell('k6.12-trixie', 'postgres/checkpoint-restore/pre-copy', 'PASS', { ...GOOD, freezeMsP95: 120 }),
  ];
}

/** The recorded run with the pilot cells and their verdicts. */
export function recordedWithPilots(edit: (cells: Cell[]) => Cell[] = (c) => c): RunResults {
  const base = RunResults.parse(JSON.parse(readFileSync(RECORDED, 'utf8')));
  const cells = [...base.cells, ...edit(pilotCells())];
  return RunResults.parse({ ...base, cells, summary: summarize(cells, base.notRun), exitCode: exitCodeFor(cells), pilots: judgePilots(PILOTS, cells, { pools: base.pools.map((p) => p.name) }) });
}
