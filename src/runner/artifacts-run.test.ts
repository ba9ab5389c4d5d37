import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { abandonHygiene, finishHygiene } from './artifacts-run.ts';

describe('a run that throws', () => {
  test('still ends its audit trail: run.end with the error, once', async () => {
        const d = mkdtempSync(join(tmpdir(), 'cc-audit-'));
    const sink = { runId: 'R-throw', files: [join(d, 'a.jsonl')] };
    await abandonHygiene(sink, new Error('the disk is full'));
    await abandonHygiene(sink, new Error('again'));
    const lines = readFileSync(join(d, 'a.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.event, l.exitCode, l.error])).toEqual([['run.end', 2, 'Error: the disk is full']]);
    // After a normal end, nothing more.
    const ok = { runId: 'R-ok', files: [join(d, 'b.jsonl')] };
    await finishHygiene(ok, { cells: [], exitCode: 0, interrupted: false } as unknown as Parameters<typeof finishHygiene>[1], undefined);
    await abandonHygiene(ok, new Error('late'));
    expect(readFileSync(join(d, 'b.jsonl'), 'utf8').trim().split('\n')).toHaveLength(1);
  });
});
