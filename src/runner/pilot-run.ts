import type { Pilot } from '../config/pilot-schema.ts';
import type { Settings } from '../config/schema.ts';
import type { CellDraft } from './cell.ts';
import { foldAttempts } from './pilot-cell.ts';
import { attemptPilotMigration, type PilotMigrationContext } from './pilot-migration.ts';
import { attemptStage, type PilotAttempt, type PilotStage, type StageContext } from './pilot-stage.ts';

/** The checks of one pilot, in order: start, its stages, then the variants (run only when they could help). */
export function pilotStages(pilot: Pilot): PilotStage[] {
  const out: PilotStage[] = ['start'];
  for (const s of pilot.stages) if (s !== 'migration') out.push(s);
  if (pilot.stages.includes('checkpoint-restore')) out.push('checkpoint-restore/reconnect', 'checkpoint-restore/pre-copy');
  return out;
}

/** Time a stage's test may take: every attempt at its worst, plus the cleanup. */
export function stageTimeoutMs(pilot: Pilot, t: Settings['timeouts']): number {
  const steps = [...pilot.seed, ...pilot.verify].reduce((a, c) => a + c.timeoutMs, 0);
  return pilot.attempts * (2 * pilot.ready.timeoutMs + steps + 6 * t.criuMs + 2 * t.commandMs + 30_000) + 60_000;
}

/**
 * A stage's attempts, one directory each (removed after it unless the run
 * keeps artifacts), folded into one cell. An ERROR or SKIP stops the
 * attempts: a broken harness or a missing capability will not change.
 */
export async function runStage(stage: PilotStage, x: Omit<StageContext, 'dir'> & { cellDir: string; keepArtifacts: boolean }): Promise<CellDraft> {
  const t0 = performance.now();
  const attempts: PilotAttempt[] = [];
  for (let i = 1; i <= x.pilot.attempts; i++) {
    const dir = `${x.cellDir}/${i}`;
    const a = await attemptStage(stage, { ...x, dir });
    attempts.push(a);
    if (!x.keepArtifacts) await x.env.remove(dir);
    if (a.status === 'SKIP' || a.status === 'ERROR') break;
  }
  return foldAttempts(attempts, performance.now() - t0);
}

/**
 * NAME/migration → DEST: its attempts (a directory each, at the same path on
 * both nodes, removed from both after it unless the run keeps artifacts),
 * folded into one cell like any stage.
 */
export async function runMigrationStage(x: Omit<PilotMigrationContext, 'dir' | 'transit'> & { cellDir: string; keepArtifacts: boolean; transit: (attempt: number) => Promise<string> }): Promise<CellDraft> {
  const t0 = performance.now();
  const attempts: PilotAttempt[] = [];
  for (let i = 1; i <= x.pilot.attempts; i++) {
    const dir = `${x.cellDir}/${i}`;
    const a = await attemptPilotMigration({ ...x, dir, transit: await x.transit(i) });
    attempts.push(a);
    if (!x.keepArtifacts) for (const env of new Set([x.source.env, x.destination.env])) await env.remove(dir);
    if (a.status === 'SKIP' || a.status === 'ERROR') break;
  }
  return foldAttempts(attempts, performance.now() - t0);
}
