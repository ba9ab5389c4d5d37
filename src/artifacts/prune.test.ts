import { mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { writeManifest } from './manifest.ts';
import { pruneArtifacts } from './prune.ts';
import { audit, checkAuditLog, defaultAuditLog, redactedCommand } from './audit.ts';
import { errorCode } from '../errors.ts';

async function runWithArtifacts(reports: string, runId: string, expiresAt: string): Promise<string> {
  const dir = join(reports, runId, 'artifacts');
  mkdirSync(join(dir, 'p/round-trip/cells/counter/img'), { recursive: true });
  writeFileSync(join(dir, 'p/round-trip/cells/counter/img/pages-1.img'), Buffer.alloc(1000));
  writeFileSync(join(reports, runId, 'results.json'), '{}');
  await writeManifest(dir, { schema: 'criu-compat/artifacts', runId, createdAt: '2026-11-30T10:00:00Z', ttlMs: 3_600_000, expiresAt, quotaBytes: 1e9, usedBytes: 1000, encryption: null, quotaReached: null, cells: [{ cell: 'p/round-trip/counter', path: 'x', bytes: 1000, files: 1, keptAt: '2026-11-30T10:00:00Z' }], notKept: [] });
  return dir;
}

describe('prune', () => {
  test('removes what expired at the time it is given (no sleeping), keeps the rest, --all takes everything; each removal is an audit line', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'cc-prune-'));
    const log = join(reports, 'state/audit.jsonl');
    const old = await runWithArtifacts(reports, '2026-11-30T10-00-00Z-aaaa', '2026-11-30T11:00:00Z');
    const young = await runWithArtifacts(reports, '2026-11-30T12-00-00Z-bbbb', '2026-11-30T13:00:00Z');
    mkdirSync(join(reports, 'not-a-run/artifacts'), { recursive: true }); // never touched: not a run directory
    const first = await pruneArtifacts({ reportsDir: reports, all: false, now: new Date('2026-11-30T12:30:00Z'), sink: { files: [log] } });
    expect(first.removed.map((r) => [r.runId, r.by, r.bytes > 1000])).toEqual([['2026-11-30T10-00-00Z-aaaa', 'ttl', true]]);
    expect(first.kept).toEqual([{ runId: '2026-11-30T12-00-00Z-bbbb', expiresAt: '2026-11-30T13:00:00Z' }]);
    expect(existsSync(old)).toBe(false);
    expect(existsSync(join(reports, '2026-11-30T10-00-00Z-aaaa/results.json'))).toBe(true);
    expect(existsSync(young)).toBe(true);
    const second = await pruneArtifacts({ reportsDir: reports, all: true, now: new Date('2026-11-30T12:31:00Z'), sink: { files: [log] } });
    expect(second.removed.map((r) => [r.runId, r.by])).toEqual([['2026-11-30T12-00-00Z-bbbb', 'prune']]);
    expect(existsSync(join(reports, 'not-a-run/artifacts'))).toBe(true);
    const lines = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.event, l.by, l.runId])).toEqual([
      ['artifact.deleted', 'ttl', '2026-11-30T10-00-00Z-aaaa'],
      ['artifact.deleted', 'prune', '2026-11-30T12-00-00Z-bbbb'],
    ]);
    expect(statSync(log).mode & 0o777).toBe(0o600);
    expect(statSync(join(reports, 'state')).mode & 0o777).toBe(0o700);
  });

  test('a half-copied set of a process that died (kill -9 while copying) is swept; one of a live process stays', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'cc-prune-'));
    const dir = await runWithArtifacts(reports, '2026-11-30T12-00-00Z-dddd', '2026-11-30T13:00:00Z');
    const dead = spawnSync('true').pid!;
    mkdirSync(join(dir, `p/round-trip/cells/c.partial-${dead}/img`), { recursive: true });
    mkdirSync(join(dir, `p/round-trip/cells/d.partial-${process.pid}`), { recursive: true });
    await pruneArtifacts({ reportsDir: reports, all: false, now: new Date('2026-11-30T12:30:00Z') });
    expect(readdirSync(join(dir, 'p/round-trip/cells')).sort()).toEqual(['counter', `d.partial-${process.pid}`]);
  });

  test('an artifacts directory without a manifest (an older run) goes once older than the default TTL', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'cc-prune-'));
    const dir = join(reports, '2026-11-01T00-00-00Z-cccc/artifacts');
    mkdirSync(dir, { recursive: true });
    const t = new Date('2026-11-01T00:00:00Z');
    utimesSync(dir, t, t);
    expect((await pruneArtifacts({ reportsDir: reports, all: false, now: new Date('2026-11-01T23:00:00Z') })).removed).toEqual([]);
    expect((await pruneArtifacts({ reportsDir: reports, all: false, now: new Date('2026-11-02T00:00:01Z') })).removed.map((r) => r.expiresAt)).toEqual([null]);
  });

  test('a run-id name that is a symbolic link (planted in a shared reports directory) is never followed: what it points to stays', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'cc-prune-'));
    const elsewhere = mkdtempSync(join(tmpdir(), 'cc-prune-victim-'));
    mkdirSync(join(elsewhere, 'artifacts'));
    writeFileSync(join(elsewhere, 'artifacts', 'precious'), 'x');
    const t = new Date('2026-11-01T00:00:00Z');
    utimesSync(join(elsewhere, 'artifacts'), t, t);
    symlinkSync(elsewhere, join(reports, '2026-11-01T00-00-00Z-eeee'));
    const r = await pruneArtifacts({ reportsDir: reports, all: true, now: new Date('2026-11-30T00:00:00Z') });
    expect(r.removed).toEqual([]);
    expect(existsSync(join(elsewhere, 'artifacts', 'precious'))).toBe(true);
  });
});

describe('audit log', () => {
  test('a log that cannot be written stops the command before any work (exit 2), instead of a run nobody audited', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cc-audit-'));
    writeFileSync(join(d, 'a-file'), 'x');
    const bad = join(d, 'a-file', 'audit.jsonl');
    const e = await checkAuditLog(bad).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(Error);
    expect(errorCode(e)).toBe('USAGE');
    expect((e as Error).message).toContain(bad);
    const good = join(d, 'state/audit.jsonl');
    await checkAuditLog(good);
    expect(statSync(good).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, 'state')).mode & 0o777).toBe(0o700);
  });

  test('JSON lines with who and when; credentials in a command line masked; the default is under XDG_STATE_HOME or ~/.local/state', async () => {
    const d = mkdtempSync(join(tmpdir(), 'cc-audit-'));
    const f = join(d, 'new/audit.jsonl');
    await audit({ files: [f] }, { event: 'run.start', runId: 'R', command: redactedCommand(['run', '--mirror', 'https://user:pw@deb.example/debian?token=T']), cwd: '/', runDir: '/r', pools: ['p'], artifacts: null });
    const line = JSON.parse(readFileSync(f, 'utf8')) as { who: { uid: number; user: string; host: string }; command: string[]; time: string };
    expect(line.command).toEqual(['run', '--mirror', 'https://***@deb.example/debian?token=***']);
    expect(line.who.uid).toBe(process.getuid!());
    expect(line.who.host.length).toBeGreaterThan(0);
    expect(Date.parse(line.time)).toBeGreaterThan(0);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(statSync(join(d, 'new')).mode & 0o777).toBe(0o700);
    expect(defaultAuditLog({ XDG_STATE_HOME: '/s' })).toBe('/s/criu-compat/audit.jsonl');
    expect(defaultAuditLog({ HOME: '/h' })).toBe('/h/.local/state/criu-compat/audit.jsonl');
  });
});
