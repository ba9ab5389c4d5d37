import { describe, expect, test } from 'vitest';
import { parseConfig } from '../config/load.ts';
import { pilotSelection } from './pilot.ts';

const POOLS = `pools:
  - {name: host-trixie, kernel: host, image: debian-trixie}
  - {name: k6.12-trixie, kernel: debian/trixie, image: debian-trixie}
  - {name: k6.1-trixie, kernel: debian/bookworm, image: debian-trixie}
  - {name: other, kernel: host, image: debian-bookworm}
`;
const PILOT = (name: string, pools: string, extra = '') => `  - name: ${name}
    pools: ${pools}
    service: {command: [sleep, infinity]}
    ready: {command: ['true']}
${extra}`;
const load = (pilots: string) => parseConfig(`${POOLS}pilots:\n${pilots}`, '/tmp/pilots.yaml');

describe('pilot command: which pilots and pools a run covers', () => {
  const loaded = load(PILOT('redis', '[host-trixie, k6.12-trixie]') + PILOT('nginx', '[host-trixie]', '    stages: [checkpoint-restore, migration]\n    migrateTo: [k6.1-trixie]\n'));

  test("every pilot's pools plus the pools it migrates to, in the config's order; other pools stay out", () => {
    expect(pilotSelection(loaded)).toEqual({ pilots: ['redis', 'nginx'], pools: ['host-trixie', 'k6.12-trixie', 'k6.1-trixie'] });
  });

  test('--pilot and --pool narrow it; a migration from a chosen pool brings its destination', () => {
    expect(pilotSelection(loaded, ['redis'])).toEqual({ pilots: ['redis'], pools: ['host-trixie', 'k6.12-trixie'] });
    expect(pilotSelection(loaded, [], ['k6.12-trixie'])).toEqual({ pilots: ['redis'], pools: ['k6.12-trixie'] });
    expect(pilotSelection(loaded, ['nginx'], ['host-trixie'])).toEqual({ pilots: ['nginx'], pools: ['host-trixie', 'k6.1-trixie'] });
  });

  test('refusals name what is valid: an unknown pilot, a pool no chosen pilot runs on', () => {
    expect(() => pilotSelection(loaded, ['postgres'])).toThrow(/^no pilot named postgres in \/tmp\/pilots\.yaml; pilots are: redis, nginx$/);
    expect(() => pilotSelection(loaded, ['nginx'], ['k6.12-trixie'])).toThrow(/--pool k6\.12-trixie: no chosen pilot runs there; their pools are: host-trixie/);
    expect(() => pilotSelection(loaded, [], ['other'])).toThrow(/--pool other: no chosen pilot runs there/);
  });

  test('a config without pilots is a ConfigError at pilots', () => {
    expect(() => pilotSelection(parseConfig(POOLS, '/tmp/p.yaml'))).toThrow(/^\/tmp\/p\.yaml: at pilots: a pilots: section with at least one pilot/);
  });
});
