/** `images build` provisions through the same backends as a run: node images, and for a VM pool its kernel and guest root. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { cli, tempDir } from './harness.ts';

describe('images build', () => {
  test('every pool of the config: images, and for a VM pool its kernel and guest root', async () => {
    const dir = tempDir('criu-compat-images-');
    const cfg = join(dir, 'pools.yaml');
    writeFileSync(cfg, ['pools:', '  - {name: vm, kernel: debian/trixie, image: debian-bookworm}', '  - {name: ns, kernel: host, image: debian-trixie}', ''].join('\n'));
    const r = await cli(['images', 'build', '--config', cfg]);
    expect(r.exitCode, r.all).toBe(0);
    expect(r.stdout).toMatch(/^debian-bookworm: (cached|built in \d+ s) at \S+ \(criu 3\.17\.1[^)]*\)$/m);
    expect(r.stdout).toMatch(/^debian-trixie: (cached|built in \d+ s) at \S+ \(criu 4\.1\.1[^)]*\)$/m);
    expect(r.stdout).toMatch(/^vm: kernel 6\.12\.\S+ \(.+\), guest root \d+ MB (cached|built)$/m);
    expect(r.stdout).not.toMatch(/^ns: /m);
  });
});
