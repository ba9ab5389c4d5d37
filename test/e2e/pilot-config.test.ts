/** A pilots: section that cannot run is refused like any bad input: exit 2, file, path, expectation, nothing built or written. */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { cli, tempDir } from './harness.ts';

const PILOT = 'pilots:\n  - name: kv\n    pools: [a]\n    service: {command: [/usr/bin/redis-server]}\n    ready: {tcp: {port: 6379}}\n';

test.for([
  ['packages on a pool whose image is not built by debootstrap', `images:\n  own: {rootfs: /}\npools:\n  - {name: a, kernel: host, image: own}\n${PILOT}    packages: [redis-server]\n`, /at pilots\[0\]\.packages \(line 10\): no packages for a pilot on pool "a": its image "own" is not built by debootstrap/],
  ['a pool the config does not have', `pools:\n  - {name: b, kernel: host, image: debian-trixie}\n${PILOT}`, /at pilots\[0\]\.pools\[0\] \(line 5\): a pool of this config, one of: b \(got "a"\)/],
  ['a client with two modes', `pools:\n  - {name: a, kernel: host, image: debian-trixie}\n${PILOT}    client: {tcp: {port: 1}, http: {port: 1}}\n`, /at pilots\[0\]\.client \(line 8\): exactly one of tcp, http, held or session/],
  ['a container service whose rootfs does not exist', `pools:\n  - {name: a, kernel: host, image: debian-trixie}\n${PILOT.replace('{command: [/usr/bin/redis-server]}', '{container: {rootfs: /nonexistent/r, command: [/r]}}')}`, /at pilots\[0\]\.service\.container\.rootfs \(line 6\): a container's root filesystem directory .*, but \/nonexistent\/r does not exist$/],
  ['a container service whose archive is not an OCI image layout', `pools:\n  - {name: a, kernel: host, image: debian-trixie}\n${PILOT.replace('{command: [/usr/bin/redis-server]}', '{container: {archive: /etc/passwd, runtime: podman, command: [/r]}}')}`, /at pilots\[0\]\.service\.container\.archive \(line 6\): a local OCI image archive .*, but \/etc\/passwd is not a tar archive \(it looks like a text file\)$/],
] as const)('%s', async ([, text, re]) => {
  const dir = tempDir('criu-compat-pilot-bad-');
  const f = join(dir, 'pilots.yaml');
  writeFileSync(f, text);
  const out = tempDir('criu-compat-out-');
  const cache = tempDir('criu-compat-cache-');
  const t0 = performance.now();
  const r = await cli(['run', '--config', f, '--out', out, '--cache-dir', cache]);
  expect(r.exitCode, r.all).toBe(2);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(new RegExp(`^criu-compat: ${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
  expect(r.stderr).toMatch(re);
  expect(performance.now() - t0).toBeLessThan(15_000); // node startup on a loaded machine; "before any work" is what the empty out and cache dirs prove
  expect(readdirSync(out)).toEqual([]);
  expect(readdirSync(cache)).toEqual([]);
});
