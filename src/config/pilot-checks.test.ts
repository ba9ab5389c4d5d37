import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.ts';
import { parseConfig } from './load.ts';
import { holdsConnection } from './pilot-schema.ts';

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, 'pilots.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const POOLS = 'pools:\n  - {name: a, kernel: host, image: debian-trixie}\n  - {name: r, kernel: host, image: mine}\nimages:\n  mine: {rootfs: /srv/rootfs}\n';
const pilot = (extra = '', pools = '[a]') => `pilots:\n  - name: svc\n    pools: ${pools}\n    service: {command: [/bin/sleep, "1000"]}\n    ready: {tcp: {port: 7000}}\n${extra}`;

describe('pilots: loading', () => {
  test('a config with pilots runs the pilot suite; the default suites do not include it', () => {
    expect(parseConfig(POOLS, 'f.yaml').config.settings.suites).not.toContain('pilot');
    const { config } = parseConfig(POOLS + pilot(), 'f.yaml');
    expect(config.settings.suites).toContain('pilot');
    expect(config.pilots[0]).toMatchObject({ attempts: 5, stages: ['leave-running', 'checkpoint-restore'], service: { user: 'root', writable: [] } });
  });

  test('settings.suites given without pilot, with pilots: an error naming settings.suites', () => {
    expect(errorOf(`${POOLS}settings: {suites: [round-trip]}\n${pilot()}`)).toMatchObject({ path: 'settings.suites', expected: expect.stringMatching(/"pilot" in the list/) });
    expect(errorOf(`${POOLS}settings: {suites: [pilot]}\n`)).toMatchObject({ path: 'settings.suites', expected: expect.stringMatching(/without a pilots: section/) });
  });

  test('no pools: with pilots takes the embedded default pools; without pilots it is still an error', () => {
    const { config } = parseConfig(pilot('', '[host-trixie]'), 'f.yaml');
    expect(config.pools.map((p) => p.name)).toContain('k6.12-trixie');
    expect(config.migrations).toEqual([]);
    expect(errorOf('settings: {repeat: 2}\n')).toMatchObject({ path: 'pools' });
  });

  test('a pilot names pools of the config, with the list of them', () => {
    const e = errorOf(POOLS + pilot('', '[a, b]'));
    expect(e).toMatchObject({ path: 'pilots[0].pools[1]', expected: expect.stringMatching(/one of: a, r \(got "b"\)/), line: 8 });
    expect(e.message).toMatch(/^pilots\.yaml: at pilots\[0\]\.pools\[1\] \(line 8\)/);
  });

  test('names are unique', () => {
    expect(errorOf(POOLS + pilot() + pilot().replace('pilots:\n', ''))).toMatchObject({ path: 'pilots[1].name', expected: expect.stringMatching(/unique pilot name/) });
  });

  test('packages only on pools whose image debootstrap builds', () => {
    expect(errorOf(POOLS + pilot('    packages: [redis-server]\n', '[a, r]'))).toMatchObject({ path: 'pilots[0].packages', expected: expect.stringMatching(/pool "r": its image "mine" is not built by debootstrap/) });
  });

  test("packages make a derived image for the pools the pilot names, cached by its recipe; other pools keep theirs", () => {
    const two = 'pools:\n  - {name: a, kernel: host, image: debian-trixie}\n  - {name: b, kernel: host, image: debian-trixie}\n';
    const { config, images } = parseConfig(two + pilot('    packages: [redis-server, procps]\n'), 'f.yaml');
    expect(config.pools[0]!.image).toBe('debian-trixie+redis-server');
    expect(config.pools[1]!.image).toBe('debian-trixie');
    expect(images['debian-trixie+redis-server']).toMatchObject({ debootstrap: { suite: 'trixie', include: ['criu', 'iptables', 'iproute2', 'procps', 'redis-server'] } });
    expect(images['debian-trixie']).toMatchObject({ debootstrap: { include: ['criu', 'iptables', 'iproute2', 'procps'] } });
  });

  test('a container service loads (its files are checked by loadConfig, its runtime on the node); exactly one of archive or rootfs', () => {
    const container = POOLS + pilot().replace('service: {command: [/bin/sleep, "1000"]}', 'service: {container: {rootfs: /srv/x, runtime: crun, command: [/x], user: nobody}}');
    expect(parseConfig(container, 'f.yaml').config.pilots[0]!.service).toEqual({ container: { rootfs: '/srv/x', runtime: 'crun', command: ['/x'], user: 'nobody' } });
    const both = POOLS + pilot().replace('service: {command: [/bin/sleep, "1000"]}', 'service: {container: {rootfs: /srv/x, archive: /srv/a.tar, command: [/x]}}');
    expect(errorOf(both)).toMatchObject({ path: 'pilots[0].service.container', expected: 'exactly one of archive (an OCI archive) or rootfs (a directory)' });
  });

  test('the migration stage: needs migrateTo naming pools of the config; migrateTo needs the stage', () => {
    const { config } = parseConfig(POOLS + pilot('    stages: [checkpoint-restore, migration]\n    migrateTo: [r]\n'), 'f.yaml');
    expect(config.pilots[0]).toMatchObject({ stages: ['checkpoint-restore', 'migration'], migrateTo: ['r'] });
    expect(errorOf(POOLS + pilot('    stages: [migration]\n'))).toMatchObject({ path: 'pilots[0].migrateTo', expected: expect.stringMatching(/at least one pool to migrate to/) });
    expect(errorOf(POOLS + pilot('    migrateTo: [a]\n'))).toMatchObject({ path: 'pilots[0].migrateTo', expected: expect.stringMatching(/no migrateTo without the stage "migration"/) });
    expect(errorOf(POOLS + pilot('    stages: [migration]\n    migrateTo: [zz]\n'))).toMatchObject({ path: 'pilots[0].migrateTo[0]', expected: expect.stringMatching(/one of: a, r \(got "zz"\)/) });
  });

  test("a destination gets the pilot's packages too (the same derived image as the source)", () => {
    const two = 'pools:\n  - {name: a, kernel: host, image: debian-trixie}\n  - {name: b, kernel: host, image: debian-trixie}\n';
    const { config } = parseConfig(two + pilot('    packages: [redis-server]\n    stages: [migration]\n    migrateTo: [b]\n'), 'f.yaml');
    expect(config.pools.map((p) => p.image)).toEqual(['debian-trixie+redis-server', 'debian-trixie+redis-server']);
    expect(errorOf(POOLS + pilot('    packages: [redis-server]\n    stages: [migration]\n    migrateTo: [r]\n'))).toMatchObject({ path: 'pilots[0].packages', expected: expect.stringMatching(/pool "r"/) });
  });

  test('a criterion nothing in the pilot can measure, or a pool with nowhere to migrate to, is refused before any work (it would be UNDECIDED on every run)', () => {
    expect(errorOf(POOLS + pilot('    criteria: {clientGapMsMax: 500}\n'))).toMatchObject({ path: 'pilots[0].criteria.clientGapMsMax', expected: expect.stringMatching(/a client: section to measure the gap/) });
    expect(errorOf(POOLS + pilot('    stages: [leave-running]\n    criteria: {restoreMsMax: 500}\n'))).toMatchObject({ path: 'pilots[0].criteria.restoreMsMax', expected: expect.stringMatching(/a stage that restores/) });
    expect(parseConfig(POOLS + pilot('    stages: [leave-running, migration]\n    migrateTo: [r]\n    criteria: {restoreMsMax: 500}\n'), 'f.yaml').config.pilots).toHaveLength(1);
    expect(errorOf(POOLS + pilot('    stages: [migration]\n    migrateTo: [a]\n', '[a, r]'))).toMatchObject({ path: 'pilots[0].migrateTo', expected: expect.stringMatching(/from pool "a"/) });
  });

  test('CRIU options the stages set themselves are refused; the service\'s own pass', () => {
    expect(errorOf(POOLS + pilot('    criu: {options: [--tcp-established, --leave-running]}\n'))).toMatchObject({ path: 'pilots[0].criu.options[1]', expected: expect.stringMatching(/--leave-running is set by the pilot's stages/) });
    expect(parseConfig(POOLS + pilot('    criu: {options: [--tcp-established, --file-locks, --ext-unix-sk]}\n'), 'f.yaml').config.pilots[0]!.criu.options).toHaveLength(3);
  });

  test('schema errors name the field: the client needs exactly one mode', () => {
    expect(errorOf(POOLS + pilot('    client: {tcp: {port: 1}, held: {port: 1, send: a, expect: b}}\n'))).toMatchObject({ path: 'pilots[0].client', expected: expect.stringMatching(/exactly one of tcp, http, held or session/) });
  });

  test('a session client: a program with its user, environment, send and expect; it holds a connection as held does', () => {
    const { config } = parseConfig(POOLS + pilot('    client: {session: {command: [psql, -h, 127.0.0.1], user: postgres, env: {PGPASSWORD: x}, send: "SELECT 1;\\n", expect: "1"}}\n'), 'f.yaml');
    expect(config.pilots[0]!.client).toMatchObject({ session: { command: ['psql', '-h', '127.0.0.1'], user: 'postgres', env: { PGPASSWORD: 'x' }, send: 'SELECT 1;\n', expect: '1' }, intervalMs: 50 });
    expect(holdsConnection(config.pilots[0]!.client)).toBe(true);
    expect(holdsConnection({ tcp: { port: 1 } })).toBe(false);
    expect(errorOf(POOLS + pilot('    client: {session: {command: [], send: a, expect: b}}\n'))).toMatchObject({ path: 'pilots[0].client.session.command' });
    expect(errorOf(POOLS + pilot('    client: {session: {command: [psql], env: {lower: x}, send: a, expect: b}}\n'))).toMatchObject({ path: expect.stringMatching(/^pilots\[0\]\.client\.session\.env/) });
  });

  test('service.namespaces: ipc or uts, none by default; anything else is refused by name', () => {
    expect(parseConfig(POOLS + pilot(), 'f.yaml').config.pilots[0]!.service).toMatchObject({ namespaces: [] });
    const ns = POOLS + pilot().replace('service: {command: [/bin/sleep, "1000"]}', 'service: {command: [/bin/sleep, "1000"], user: nobody, namespaces: [ipc, uts]}');
    expect(parseConfig(ns, 'f.yaml').config.pilots[0]!.service).toMatchObject({ user: 'nobody', namespaces: ['ipc', 'uts'] });
    expect(errorOf(ns.replace('[ipc, uts]', '[net]'))).toMatchObject({ path: expect.stringMatching(/^pilots\[0\]\.service/) });
  });
});
