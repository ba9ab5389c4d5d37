/**
 * The example pilots shipped in fixtures/pilots: every file loads as a
 * config, its pools carry the embedded default's definitions where they
 * carry its names (so the verdicts read as the default's pools; the node image
 * compared before the pilots' packages are added), and the pilots of one
 * pool add their packages to one node image.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TEXT } from '../../src/config/default.ts';

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'pilots');
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const def = parseConfig(DEFAULT_CONFIG_TEXT, DEFAULT_CONFIG_NAME).config;

describe.each(files)('fixtures/pilots/%s', (file) => {
  const { config } = parseConfig(readFileSync(join(DIR, file), 'utf8'), file);

  test('loads, with pilots that each name pools of the file', () => {
    expect(config.pilots.length).toBeGreaterThan(0);
    const pools = new Set(config.pools.map((p) => p.name));
    for (const p of config.pilots) for (const pool of p.pools) expect(pools, `${p.name} → ${pool}`).toContain(pool);
  });

  test("a pool with a default pool's name is that pool (kernel, image, CRIU settings, VM size)", () => {
    for (const pool of config.pools) {
      const same = def.pools.find((d) => d.name === pool.name);
      if (!same) continue;
      expect({ kernel: pool.kernel, image: pool.image.split('+')[0], criu: pool.criu, vm: pool.vm }).toEqual({ kernel: same.kernel, image: same.image, criu: same.criu, vm: same.vm });
    }
  });

  test("one node image per pool: every pilot's packages go into the same derived image", () => {
    for (const pool of config.pools) {
      const named = config.pilots.filter((p) => p.pools.includes(pool.name));
      const pkgs = [...new Set(named.flatMap((p) => p.packages))];
      if (!pkgs.length) continue;
      expect(pool.image.split('+').slice(1).sort()).toEqual(pkgs.sort());
    }
  });

  test('services run as their own users: a root service command drops to a user itself (setpriv) or is a root master with workers named in its description', () => {
    for (const p of config.pilots) {
      if (!('command' in p.service) || p.service.user !== 'root') continue;
      const text = p.service.command.join(' ');
      expect(/setpriv --reuid=\S+/.test(text) || /workers as \S+/.test(p.description ?? ''), `${p.name}: ${text}`).toBe(true);
    }
  });
});
