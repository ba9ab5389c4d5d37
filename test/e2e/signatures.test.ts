/** The operator's own signature files (settings.signatures): refused with file, path and line when wrong; used by the suite workers of a real run. */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { cli, tempDir } from './harness.ts';

const OVERRIDE = `- id: vdso-bounds
  overrides: true
  stage: [check, dump, restore]
  match: {line: 'Unexpected rt vDSO area bounds'}
  fatal: true
  blame: tuple
  title: 'OPERATOR: CRIU 3.17.1 cannot parse the vDSO of this kernel'
  cause: Our cluster's words for it.
  remediation: Roll out the node image with CRIU 4.1.
`;

function configWith(signatures: string, extra = ''): { dir: string; config: string } {
  const dir = tempDir('criu-compat-sigs-');
  writeFileSync(join(dir, 'ours.yaml'), signatures);
  const config = join(dir, 'pools.yaml');
  writeFileSync(config, `pools:\n  - {name: host-bookworm, kernel: host, image: debian-bookworm}\nsettings:\n  suites: [criu-check]\n  signatures: [ours.yaml${extra}]\n`);
  return { dir, config };
}

describe('settings.signatures', () => {
  test.for([
    ['a signature file that does not exist', OVERRIDE, ', missing.yaml', /pools\.yaml: at settings\.signatures\[1\] \(line 5\): a signature file: a YAML list of signatures, but it cannot be read \(ENOENT\)/],
    ['a wrong blame in the operator file', OVERRIDE.replace('blame: tuple', 'blame: somebody'), '', /ours\.yaml: at \[0\]\.blame \(line 6\): blame "tuple" \(FAIL\), "environment" \(ERROR\) or "note"/],
    ['a built-in id without overrides: true', OVERRIDE.replace('  overrides: true\n', ''), '', /ours\.yaml: at \[0\]\.id: an id no built-in signature has \("vdso-bounds" is built in\); set "overrides: true"/],
  ] as const)('%s: exit 2 before anything runs, naming the file, the path and the line', async ([, text, extra, message]) => {
    const { dir, config } = configWith(text, extra);
    const out = join(dir, 'out');
    const r = await cli(['run', '--config', config, '--out', out]);
    expect(r.exitCode, r.all).toBe(2);
    expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    expect(r.stderr).toMatch(message);
  });

  test("a real run: the operator's override is what the workers diagnose with (CRIU 3.17.1 on this kernel)", async () => {
    const { dir, config } = configWith(OVERRIDE);
    const out = join(dir, 'out');
    const r = await cli(['run', '--config', config, '--out', out]);
    expect(r.exitCode, r.all).toBe(1);
    const [runDir] = readdirSync(out);
    const results = RunResults.parse(JSON.parse(readFileSync(join(out, runDir!, 'results.json'), 'utf8')));
    const failed = results.cells.filter((c) => c.status === 'FAIL');
    expect(failed.length).toBeGreaterThan(0);
    for (const c of failed) expect(c.diagnoses[0], c.check).toMatchObject({ id: 'vdso-bounds', title: 'OPERATOR: CRIU 3.17.1 cannot parse the vDSO of this kernel', remediation: 'Roll out the node image with CRIU 4.1.' });
    expect(r.stdout).toContain('OPERATOR: CRIU 3.17.1 cannot parse the vDSO of this kernel');
  });
});
