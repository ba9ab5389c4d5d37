/** Bad input: one message naming file, path and expectation; exit 2 in under 2 s; nothing written. */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cli, ROOT, tempDir } from './harness.ts';

function file(text: string | Buffer, name = 'pools.yaml'): string {
  const f = join(tempDir('criu-compat-bad-'), name);
  writeFileSync(f, text);
  return f;
}

/** Runs the CLI with fresh --out and --cache-dir and checks the refusal: exit 2, one clean line, fast, nothing written. */
async function refused(args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = tempDir('criu-compat-out-');
  const cache = tempDir('criu-compat-cache-');
  const t0 = performance.now();
  const r = await cli([...args, '--out', out, '--cache-dir', cache], { env });
  const elapsed = performance.now() - t0;
  expect(r.exitCode, r.all).toBe(2);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^criu-compat: /);
  expect(r.stderr.trimEnd(), 'no raw control characters').not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  expect(r.stdout).toBe('');
  expect(elapsed).toBeLessThan(2000);
  expect(readdirSync(out), 'no run directory').toEqual([]);
  expect(readdirSync(cache), 'no cache entries, no compiled helpers').toEqual([]);
  return r.stderr;
}

const POOL = '  - {name: a, kernel: host, image: debian-trixie}\n';

describe('bad input', () => {
  test.for([
    ['unknown key', 'pools:\n  - {name: a, kernel: host, image: debian-trixie, colour: red}\n', /at pools\[0\]\.colour \(line 2\): no such key/],
    ['wrong type', `pools:\n${POOL}settings: {timeouts: {criuMs: soon}}\n`, /at settings\.timeouts\.criuMs \(line 3\): .*number/],
    ['unknown image', 'pools:\n  - {name: a, kernel: host, image: centos-7}\n', /at pools\[0\]\.image \(line 2\): a known node image, one of: debian-bookworm/],
    ['malformed YAML', 'pools: [\n', /at line \d+, column \d+: valid YAML or JSON/],
    ['empty file', '', /at line 1: a pools file \(YAML or JSON\) with at least "pools:", but the file is empty/],
    ['binary file', Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]), /at line 1, column 8: a text file \(YAML or JSON\), but this one is binary/],
    ['unclosed quote', `pools:\n  - name: "a\n    kernel: host\n    image: debian-trixie\n`, /at line 2, column 11: valid YAML or JSON: a closing " for the quote opened here \(unclosed quote\)/],
    ['terminal escapes in a key', 'pools:\n  - {name: a, kernel: host, image: debian-trixie, "\x1b[2J\x1b]0;owned\x07": 1}\n', /at pools\[0\]\.\\x1b\[2J\\x1b\]0;owned\\x07 \(line 2\): no such key/],
    ['a missing .deb kernel', 'pools:\n  - name: a\n    kernel: {deb: /nonexistent.deb}\n    image: debian-trixie\n', /at pools\[0\]\.kernel\.deb \(line 3\): a Debian package .*, but \/nonexistent\.deb does not exist$/],
    [
      '/etc/passwd as a kernel',
      `pools:\n${POOL}  - {name: b, kernel: host, image: debian-bookworm}\n  - name: c\n    image: debian-trixie\n    kernel: {vmlinuz: /etc/passwd, modules: /etc}\n`,
      /at pools\[2\]\.kernel\.vmlinuz \(line 6\): a kernel image \(a bzImage, with "HdrS" at offset 0x202, or an ELF vmlinux\), but \/etc\/passwd is neither/,
    ],
    ['a file as a rootfs', `images:\n  mine: {rootfs: /etc/passwd}\npools:\n  - {name: a, kernel: host, image: mine}\n`, /at images\.mine\.rootfs \(line 2\): a root filesystem directory .*, but \/etc\/passwd is not a directory/],
    ['a misspelt CPU model (vm.cpu, checked against qemu -cpu help)', 'pools:\n  - name: a\n    kernel: debian/trixie\n    image: debian-trixie\n    vm: {cpu: Nehalam}\n', /at pools\[0\]\.vm\.cpu \(line 5\): a CPU model this QEMU runs \(got "Nehalam"\): qemu-system-x86_64 knows no CPU model "Nehalam" \(similar: Nehalem/],
    ['vm.cpu host under TCG', 'settings: {accel: tcg}\npools:\n  - name: a\n    kernel: debian/trixie\n    image: debian-trixie\n    vm: {cpu: host}\n', /at pools\[0\]\.vm\.cpu \(line 6\): .*"host" passes the host CPU through and needs KVM, but this run uses tcg/],
    ['a text file as a tarball', `images:\n  mine: {tarball: /etc/passwd}\npools:\n  - {name: a, kernel: host, image: mine}\n`, /at images\.mine\.tarball \(line 2\): a tar archive .*, but \/etc\/passwd is not one/],
  ] as const)('%s → exit 2, one line naming the file and path, nothing written', async ([, text, re]) => {
    const f = file(text);
    const err = await refused(['run', '--config', f]);
    expect(err).toContain(f);
    expect(err).toMatch(re);
  });

  test('a .json config is strict JSON: a trailing comma is refused at its line and column, not read as YAML', async () => {
    const f = file(`{\n  "pools": [\n    {"name": "a", "kernel": "host", "image": "debian-trixie"},\n  ]\n}\n`, 'pools.json');
    expect(await refused(['run', '--config', f])).toMatch(/pools\.json: at line 3, column 62: strict JSON \(the file ends in \.json\): expected no comma before "\]"/);
  });

  test('relative paths in a config are taken from its directory', async () => {
    const dir = tempDir('criu-compat-rel-');
    mkdirSync(join(dir, 'sub'));
    const f = join(dir, 'sub', 'pools.yaml');
    writeFileSync(f, 'images:\n  mine: {tarball: ../node.tar}\npools:\n  - {name: a, kernel: host, image: mine}\n');
    writeFileSync(join(dir, 'node.tar'), 'not a tar\n');
    expect(await refused(['run', '--config', f])).toContain(`but ${join(dir, 'node.tar')} is not one`);
  });

  test('a bad --mirror or $CRIU_COMPAT_MIRROR is refused up front, its credentials masked', async () => {
    const a = await refused(['run', '--mirror', 'user:s3cret@mirror.example.invalid/debian']);
    expect(a).toMatch(/--mirror takes a Debian mirror URL/);
    const b = await refused(['run'], { CRIU_COMPAT_MIRROR: 'gopher://user:s3cret@mirror.example.invalid/debian?token=t0ken-abc' });
    expect(b).toMatch(/\$CRIU_COMPAT_MIRROR takes a Debian mirror URL .*"gopher:\/\/\*\*\*@mirror\.example\.invalid\/debian\?token=\*\*\*"/);
    for (const e of [a, b]) expect(e).not.toMatch(/s3cret|t0ken-abc/);
  });

  test('kept artifacts\' flags and key are checked up front: a bad TTL, quota or key, a key file others can read, a flag without --keep-artifacts', async () => {
    const key = (text: string, mode: number) => {
      const f = file(text, 'key');
      chmodSync(f, mode);
      return f;
    };
    const good = 'c0ffee'.repeat(10) + 'c0de';
    expect(await refused(['run', '--keep-artifacts', '--artifacts-ttl', 'forever'])).toMatch(/--artifacts-ttl takes a duration such as 90s, 30m, 2h or 7d \(got "forever"\)/);
    expect(await refused(['run', '--keep-artifacts', '--artifacts-quota', '2 lots'])).toMatch(/--artifacts-quota takes a size such as 500MiB/);
    expect(await refused(['run', '--artifacts-ttl', '2h'])).toMatch(/--artifacts-ttl applies to kept artifacts: add --keep-artifacts/);
    expect(await refused(['run', '--keep-artifacts', '--artifacts-key-file', key(good, 0o644)])).toMatch(/mode 0644 lets others read the key; chmod 600 it/);
    const short = await refused(['run', '--keep-artifacts', '--artifacts-key-file', key('s3cret-but-short', 0o600)]);
    expect(short).toMatch(/not a usable key \(16 characters\); a key is 32 random bytes written as 64 hex digits or 44 base64 characters/);
    expect(short).not.toMatch(/s3cret/);
    expect(await refused(['run', '--keep-artifacts'], { CRIU_COMPAT_ARTIFACTS_KEY: 'xyz' })).toMatch(/\$CRIU_COMPAT_ARTIFACTS_KEY: not a usable key/);
  });

  test('a missing, binary or empty gate policy is one line too', async () => {
    const run = join(ROOT, 'fixtures/recorded/results/default-matrix.json');
    const summary = join(tempDir('criu-compat-gate-'), 'summary.md');
    for (const [policy, re] of [
      ['/nonexistent/policy.yaml', /\/nonexistent\/policy\.yaml: at \(top level\): a readable policy file \(ENOENT\)/],
      [file(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]), 'policy.yaml'), /policy\.yaml: at line 1, column \d+: a text file .*binary/],
      [file('', 'policy.yaml'), /policy\.yaml: at line 1: a gate policy .*, but the file is empty/],
      [file('{"unstable": "fail",}', 'policy.json'), /policy\.json: at line 1, column 20: strict JSON/],
    ] as const) {
      const t0 = performance.now();
      const r = await cli(['gate', '--baseline', run, '--current', run, '--policy', policy, '--summary', summary]);
      expect(r.exitCode, r.all).toBe(2);
      expect(r.all.trim().split('\n'), r.all).toHaveLength(1);
      expect(r.all).toMatch(re);
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(existsSync(summary)).toBe(false);
    }
  });

  test('unknown pool name, unknown flag, unknown command → exit 2 with what is valid', async () => {
    const a = await cli(['run', '--pool', 'nope']);
    expect(a.exitCode).toBe(2);
    expect(a.stderr).toMatch(/no pool named nope .* pools are: host-bookworm, host-trixie, host-trixie-nobp/);
    const b = await cli(['run', '--colour']);
    expect(b.exitCode).toBe(2);
    expect(b.stderr).toMatch(/--colour/);
    const c = await cli(['frobnicate']);
    expect(c.exitCode).toBe(2);
    expect(c.stderr).toMatch(/unknown command "frobnicate"/);
  });

  test('--help for every command', async () => {
    for (const args of [['--help'], ['run', '--help'], ['images', '--help'], ['help', 'run'], ['prune', '--help'], ['artifacts', '--help']]) {
      const r = await cli(args);
      expect(r.exitCode, args.join(' ')).toBe(0);
      expect(r.stdout).toMatch(/Usage: criu-compat/);
    }
  });
});

describe('credentials in a mirror URL never reach an output', () => {
  test('a debootstrap mirror with user:password and a token: progress, stdout, results.json, HTML, Markdown and JUnit show it masked', async () => {
    const secret = 'https://user:s3cret@mirror.example.invalid/debian?token=t0ken-abc';
    const f = file(
      `images:\n  secret-mirror:\n    debootstrap: {suite: trixie, include: [criu], mirror: "${secret}"}\npools:\n  - {name: a, kernel: host, image: secret-mirror}\nsettings: {workloads: [counter], suites: [criu-check]}\n`,
    );
    const out = tempDir('criu-compat-out-');
    // A fresh cache: the image is really built, and debootstrap fails against the placeholder host (it does not resolve).
    const r = await cli(['run', '--config', f, '--out', out, '--cache-dir', tempDir('criu-compat-cache-')]);
    expect(r.exitCode, r.all).toBe(2);
    expect(r.stderr).toContain('debootstrap trixie from https://***@mirror.example.invalid/debian?token=***');
    const [runId] = readdirSync(out);
    const files = ['results.json', 'report.html', 'summary.md', 'junit.xml'].map((n) => join(out, runId!, n));
    const results = JSON.parse(readFileSync(files[0]!, 'utf8')) as { pools: { error?: string }[] };
    expect(results.pools[0]!.error).toMatch(/debootstrap trixie failed .*https:\/\/\*\*\*@mirror\.example\.invalid\/debian\?token=\*\*\*/);
    for (const [what, text] of [['stdout', r.stdout], ['stderr', r.stderr], ...files.map((p) => [p, readFileSync(p, 'utf8')])] as const) expect(text, what).not.toMatch(/s3cret|t0ken-abc/);
  });
});
