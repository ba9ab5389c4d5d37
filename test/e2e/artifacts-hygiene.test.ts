/**
 * Kept artifacts and the audit log, on real runs (namespace nodes of
 * debian-trixie, CRIU 4.1.1): encryption at rest while copying out, decrypt
 * on demand, TTL expiry through prune (time moved with CRIU_COMPAT_NOW, no
 * sleeping), the quota's stop, root-only modes, and no checkpoint content in
 * any output.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { RunResults } from '../../src/results/schema.ts';
import { decodeStats } from '../../src/criu/images.ts';
import { cli, harnessProcesses, strayMounts, tempDir, workDirsOf } from './harness.ts';

/** What CRIU writes at offset 0 of its images (little-endian u32): the common magic, and the service magic of stats files. */
const CRIU_MAGICS = [Buffer.from([0x19, 0x43, 0x56, 0x54]), Buffer.from([0x40, 0x59, 0x10, 0x55])];
const startsAsCriuImage = (b: Buffer) => CRIU_MAGICS.some((m) => b.subarray(0, 4).equals(m));

function config(workloads: string[]): string {
  const file = join(tempDir('criu-compat-cfg-'), 'pools.yaml');
  writeFileSync(file, ['pools:', '  - name: host-trixie', '    kernel: host', '    image: debian-trixie', '    criu: {env: {CRIU_FAULT: "130"}}', 'settings:', `  workloads: [${workloads.join(', ')}]`, '  suites: [round-trip]', ''].join('\n'));
  return file;
}

/** This run's processes, mounts and work directory are gone (other runs may share the machine). */
function expectNothingLeftBy(pid: number): void {
  expect(harnessProcesses().filter((p) => p.includes(`criu-compat-run-${pid}-`))).toEqual([]);
  expect(strayMounts().filter((m) => m.includes(`criu-compat-run-${pid}-`))).toEqual([]);
  expect(workDirsOf(pid)).toEqual([]);
}

/** Every path under DIR (files and directories), relative. */
const tree = (dir: string) => readdirSync(dir, { recursive: true }).map(String);
const jsonLines = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown> & { event: string });

/** Some distinctive 24-byte windows of a memory image (high-entropy ones: never zero pages or repeated patterns). */
function windows(pages: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off + 24 <= pages.length && out.length < n; off += 4093) {
    const w = pages.subarray(off, off + 24);
    if (new Set(w).size >= 14) out.push(Buffer.from(w));
  }
  return out;
}

describe('artifact hygiene', () => {
  const out = tempDir('criu-compat-e2e-');
  const keyFile = join(tempDir('criu-compat-key-'), 'key');
  const auditLog = join(tempDir('criu-compat-state-'), 'state/audit.jsonl');
  let runDir = '';
  let res: RunResults;
  let stdout = '';

  beforeAll(async () => {
    writeFileSync(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const p = cli(['run', '--config', config(['counter']), '--out', out, '--no-progress', '--keep-artifacts', '--artifacts-ttl', '2h', '--artifacts-key-file', keyFile, '--audit-log', auditLog]);
    const r = await p;
    stdout = r.all;
    expect(r.exitCode, r.all).toBe(0);
    runDir = join(out, readdirSync(out)[0]!);
    res = RunResults.parse(JSON.parse(readFileSync(join(runDir, 'results.json'), 'utf8')));
    expectNothingLeftBy(p.pid!);
  });

  test('kept artifacts are encrypted at rest (no CRIU image magic at offset 0, no plaintext file) and root-only; the manifest records TTL and key id', () => {
    const counter = res.cells.find((c) => c.check === 'counter')!;
    expect(counter.status, counter.reason).toBe('PASS');
    expect(counter.artifacts).toBe(join(runDir, 'artifacts/host-trixie/round-trip/cells/counter'));
    const root = join(runDir, 'artifacts');
    const files = tree(root).filter((f) => statSync(join(root, f)).isFile());
    expect(files.filter((f) => f.includes('/img/pages-')).length).toBeGreaterThan(0);
    for (const f of files) {
      const st = statSync(join(root, f));
      expect(st.mode & 0o777, f).toBe(0o600);
      if (f === 'manifest.json') continue;
      expect(f, 'every kept file is encrypted').toMatch(/\.ccenc$/);
      expect(startsAsCriuImage(readFileSync(join(root, f))), f).toBe(false);
    }
    for (const d of ['', ...tree(root)].filter((f) => statSync(join(root, f)).isDirectory())) expect(statSync(join(root, d)).mode & 0o777, d).toBe(0o700);
    const m = JSON.parse(readFileSync(join(root, 'manifest.json'), 'utf8')) as { ttlMs: number; expiresAt: string; createdAt: string; encryption: { keyId: string }; cells: unknown[] };
    expect(m.ttlMs).toBe(7_200_000);
    expect(Date.parse(m.expiresAt) - Date.parse(m.createdAt)).toBe(7_200_000);
    expect(m.encryption.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(m.cells).toHaveLength(res.cells.filter((c) => c.artifacts && !c.artifacts.startsWith('not kept')).length);
    expect(m.cells.length).toBeGreaterThan(0);
    expect(stdout).toMatch(/artifacts: \d+ cell\(s\), .* encrypted \(aes-256-gcm\), in .* until .* \(TTL 2h;/);
  });

  test('artifacts decrypt gives back CRIU images whose stats are the ones the cell reported; a wrong key is refused before any file', async () => {
    const to = join(tempDir('criu-compat-plain-'), 'counter');
    const r = await cli(['artifacts', 'decrypt', runDir, 'host-trixie/round-trip/counter', '--to', to, '--artifacts-key-file', keyFile, '--audit-log', auditLog]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.all).toMatch(/^decrypted host-trixie\/round-trip\/counter: \d+ file\(s\)/);
    expect(statSync(to).mode & 0o777).toBe(0o700);
    const img = join(to, 'img');
    const core = readdirSync(img).find((f) => /^core-\d+\.img$/.test(f))!;
    expect(startsAsCriuImage(readFileSync(join(img, core)))).toBe(true);
    // Byte for byte: CRIU's stats-dump decodes to the very figures the cell recorded from the plaintext before it was encrypted.
    const counter = res.cells.find((c) => c.check === 'counter')!;
    expect(decodeStats(readFileSync(join(img, 'stats-dump')), 'stats-dump').dump).toEqual(counter.metrics.criuDump);
    // The sizes are the encrypted ones less the 36 bytes each file carries.
    const enc = join(counter.artifacts!, 'img', `${core}.ccenc`);
    expect(statSync(join(img, core)).size).toBe(statSync(enc).size - 36);

    const wrong = join(tempDir('criu-compat-key-'), 'key');
    writeFileSync(wrong, randomBytes(32).toString('base64'), { mode: 0o600 });
    const bad = await cli(['artifacts', 'decrypt', runDir, 'counter', '--to', join(tempDir('criu-compat-plain-'), 'x'), '--artifacts-key-file', wrong, '--audit-log', auditLog]);
    expect(bad.exitCode).toBe(2);
    expect(bad.all).toMatch(/key [0-9a-f]{16} is not the one run .* encrypted with/);
    writeFileSync(wrong, 'not a key', { mode: 0o600 });
    const malformed = await cli(['run', '--config', config(['counter']), '--out', tempDir('criu-compat-e2e-'), '--keep-artifacts', '--artifacts-key-file', wrong]);
    expect(malformed.exitCode).toBe(2);
    expect(malformed.all).toMatch(/not a usable key/);
  });

  test('the audit log (the run\'s and the persistent one, 0600 in 0700): who, the command, the checkpoint on its pool, where the artifacts went, the work copy deleted by the cell, the decryption', () => {
    const runLog = join(runDir, 'audit/audit.jsonl');
    expect(statSync(runLog).mode & 0o777).toBe(0o600);
    expect(statSync(join(runDir, 'audit')).mode & 0o777).toBe(0o700);
    expect(statSync(auditLog).mode & 0o777).toBe(0o600);
    expect(statSync(join(auditLog, '..')).mode & 0o777).toBe(0o700);
    const lines = jsonLines(runLog);
    const events = lines.map((l) => l.event);
    expect(events[0]).toBe('run.start');
    expect(events.at(-1)).toBe('run.end');
    const start = lines[0]! as unknown as { who: { uid: number; host: string }; command: string[] };
    expect(start.who.uid).toBe(process.getuid!());
    expect(start.command).toEqual(expect.arrayContaining(['run', '--keep-artifacts', '--artifacts-key-file', keyFile]));
    expect(lines.find((l) => l.event === 'checkpoint')).toMatchObject({ pool: 'host-trixie', suite: 'round-trip', check: 'counter', workload: 'counter', status: 'PASS', artifacts: join(runDir, 'artifacts/host-trixie/round-trip/cells/counter') });
    expect(lines.find((l) => l.event === 'artifact.kept')).toMatchObject({ pool: 'host-trixie', check: 'counter', encrypted: true, path: join(runDir, 'artifacts/host-trixie/round-trip/cells/counter') });
    expect(lines.find((l) => l.event === 'artifact.deleted')).toMatchObject({ by: 'cell', check: 'counter', path: expect.stringMatching(/\/cells\/counter$/) });
    // The persistent log has the run's lines and the decryption after them.
    const persistent = jsonLines(auditLog);
    expect(persistent.slice(0, lines.length)).toEqual(lines);
    expect(persistent.find((l) => l.event === 'artifact.decrypted')).toMatchObject({ cell: 'host-trixie/round-trip/counter' });
  });

  test('nothing of the checkpoint\'s memory in any output: stdout, results, reports, audit logs', async () => {
    const to = join(tempDir('criu-compat-plain-'), 'c');
    expect((await cli(['artifacts', 'decrypt', runDir, 'counter', '--to', to, '--artifacts-key-file', keyFile, '--audit-log', auditLog])).exitCode).toBe(0);
    const pages = readFileSync(join(to, 'img', readdirSync(join(to, 'img')).find((f) => f.startsWith('pages-'))!));
    const ws = windows(pages, 40);
    expect(ws.length).toBeGreaterThan(10);
    const outputs = [Buffer.from(stdout), ...['results.json', 'report.html', 'summary.md', 'junit.xml', 'audit/audit.jsonl'].map((f) => readFileSync(join(runDir, f))), readFileSync(auditLog)];
    for (const o of outputs) for (const w of ws) expect(o.includes(w)).toBe(false);
  });

  test('prune: kept before the TTL, removed after it (time moved, not slept); the results stay; an audit line says so', async () => {
    const m = JSON.parse(readFileSync(join(runDir, 'artifacts/manifest.json'), 'utf8')) as { createdAt: string };
    const at = (h: number) => new Date(Date.parse(m.createdAt) + h * 3_600_000).toISOString();
    const early = await cli(['prune', '--out', out, '--audit-log', auditLog], { env: { CRIU_COMPAT_NOW: at(1) } });
    expect(early.exitCode, early.all).toBe(0);
    expect(early.all).toMatch(/kept .*: expires at /);
    expect(existsSync(join(runDir, 'artifacts'))).toBe(true);
    const late = await cli(['prune', '--out', out, '--audit-log', auditLog], { env: { CRIU_COMPAT_NOW: at(3) } });
    expect(late.exitCode, late.all).toBe(0);
    expect(late.all).toMatch(/^removed .*\/artifacts \(\d+ cell\(s\), [\d.]+ [KMG]iB\): expired at /m);
    expect(existsSync(join(runDir, 'artifacts'))).toBe(false);
    expect(existsSync(join(runDir, 'results.json'))).toBe(true);
    expect(jsonLines(auditLog).filter((l) => l.event === 'artifact.deleted' && l.by === 'ttl')).toHaveLength(1);
  });

  test('the quota: once a set does not fit, the run stops keeping (cells say "not kept: quota", a stop message), and no half set is left', async () => {
    const o = tempDir('criu-compat-e2e-');
    const p = cli(['run', '--config', config(['pipe-pair', 'counter']), '--out', o, '--no-progress', '--keep-artifacts', '--artifacts-quota', '6MiB', '--audit-log', auditLog]);
    const r = await p;
    expect(r.exitCode, r.all).toBe(0);
    const dir = join(o, readdirSync(o)[0]!);
    const cells = RunResults.parse(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'))).cells;
    const counter = cells.find((c) => c.check === 'counter')!;
    expect(counter.artifacts).toMatch(/^not kept: quota \(6\.0 MiB per run reached at host-trixie\/round-trip\/counter; /);
    expect(r.all).toMatch(/artifacts: quota of 6\.0 MiB per run reached at host-trixie\/round-trip\/counter \(it needed [\d.]+ MiB\); artifacts of \d+ cell\(s\) not kept from there on/);
    const pipe = cells.find((c) => c.check === 'pipe-pair')!;
    if (Date.parse(pipe.startedAt) < Date.parse(counter.startedAt)) expect(pipe.artifacts).toBe(join(dir, 'artifacts/host-trixie/round-trip/cells/pipe-pair'));
    else expect(pipe.artifacts).toMatch(/^not kept: quota/);
    const kept = readdirSync(join(dir, 'artifacts/host-trixie/round-trip/cells')).sort();
    expect(kept).not.toContain('counter');
    expect(kept.filter((f) => f.includes('.partial-'))).toEqual([]);
    expect(jsonLines(join(dir, 'audit/audit.jsonl')).find((l) => l.event === 'artifact.not-kept')).toMatchObject({ check: 'counter', reason: expect.stringMatching(/^quota/) });
    expectNothingLeftBy(p.pid!);
  });
});
