import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { RunResults } from '../results/schema.ts';
import { writeReports } from './write.ts';

const SECRET_MIRROR = 'https://user:s3cret@mirror.example.invalid/debian?token=t0ken-abc';

test('a mirror URL with credentials in a run (pool image.mirror, an error reason) is redacted in HTML, Markdown and JUnit', async () => {
  // A real run's results, as if one pool's image came from a mirror with credentials and another's build failed against it.
  const results = RunResults.parse(JSON.parse(readFileSync(join(import.meta.dirname, '../../fixtures/recorded/results/default-matrix.json'), 'utf8')));
  const pool = results.pools.find((p) => p.image)!;
  pool.image!.mirror = SECRET_MIRROR;
  const cell = results.cells.find((c) => c.status === 'FAIL')!;
  cell.status = 'ERROR';
  cell.reason = `ImageError: node image x: debootstrap trixie failed (exit 1): E: Failed getting release file ${SECRET_MIRROR}/dists/trixie/Release`;
  cell.logExcerpt = [`W: ${SECRET_MIRROR}/pool/main/c/criu`];
  const dir = mkdtempSync(join(tmpdir(), 'cc-redact-'));
  try {
    await writeReports(results, dir);
    const files = readdirSync(dir);
    expect(files).toEqual(expect.arrayContaining(['report.html', 'summary.md', 'junit.xml']));
    for (const f of files) {
      const text = readFileSync(join(dir, f), 'utf8');
      expect(text, f).not.toMatch(/s3cret|t0ken-abc/);
    }
    expect(readFileSync(join(dir, 'junit.xml'), 'utf8')).toContain('https://***@mirror.example.invalid/debian?token=***');
    expect(readFileSync(join(dir, 'summary.md'), 'utf8')).toContain('mirror.example.invalid');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
