/**
 * CRIU command lines from typed options. The round trip's lines must stay
 * the ones recorded in a real default run (fixtures/recorded/results), and
 * every flag the builders can emit must be one `criu --help` lists.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import type { Environment, ExecOptions, ExecResult } from '../environments/environment.ts';
import { run } from '../util/process.ts';
import { CLASS_CRIU_OPTIONS } from '../config/catalogue/index.ts';
import { checkArgs, checkFeatureArgs, classCriuOptions, dumpArgs, lazyPagesArgs, pageServerArgs, preDumpArgs, restoreArgs } from './commands.ts';
import { Criu } from './driver.ts';

const fixtures = join(import.meta.dirname, '../../fixtures/recorded');
const recorded = JSON.parse(readFileSync(join(fixtures, 'results/default-matrix.json'), 'utf8')) as { cells: { commands: string[] }[] };
const recordedLines = new Set(recorded.cells.flatMap((c) => c.commands).map((l) => l.replace(/-t \d+/, '-t 42')));
const line = (args: string[]) => ['criu', ...args].join(' ');

describe('the round trip\'s command lines, as a real run recorded them', () => {
  const v4 = { verbosity: 4 } as const;
  test.for([
    ['dump', dumpArgs({ pid: 42, imagesDir: 'img', logFile: 'dump.log', ...v4 })],
    ['dump --leave-running', dumpArgs({ pid: 42, imagesDir: 'img', logFile: 'dump.log', ...v4, leaveRunning: true })],
    ['dump after a pre-dump', dumpArgs({ pid: 42, imagesDir: 'img', logFile: 'dump.log', ...v4, parent: '../pre', trackMem: true })],
    ['pre-dump', preDumpArgs({ pid: 42, imagesDir: 'pre', logFile: 'pre-dump.log', ...v4 })],
    ['restore', restoreArgs({ detach: true, imagesDir: 'img', logFile: 'restore.log', ...v4 })],
    ['check --feature', checkFeatureArgs('mem_dirty_track')],
    ['check', checkArgs()],
    ['check --all', checkArgs({ all: true })],
  ] as const)('%s', ([, args]) => {
    expect(recordedLines).toContain(line([...args]));
  });
});

describe('migration\'s command lines', () => {
  test('page server, with and without lazy pages', () => {
    expect(line(pageServerArgs({ imagesDir: '/d', port: 27 }))).toBe('criu page-server --images-dir /d --port 27');
    expect(line(pageServerArgs({ imagesDir: '/d', port: 27, lazyPages: true }))).toBe('criu page-server --images-dir /d --port 27 --lazy-pages');
    expect(line(pageServerArgs({ imagesDir: '/d', port: 27, address: '10.0.0.2', daemon: true, logFile: 'ps.log', verbosity: 4 }))).toBe(
      'criu page-server --images-dir /d --port 27 --address 10.0.0.2 -d -o ps.log -v4',
    );
  });
  test('lazy-pages daemon and the dump/restore that pair with a page server', () => {
    expect(line(lazyPagesArgs({ from: { address: '10.0.0.1', port: 27 } }))).toBe('criu lazy-pages --page-server --address 10.0.0.1 --port 27');
    expect(line(dumpArgs({ pid: 42, imagesDir: 'img', pageServer: { address: '10.0.0.2', port: 27 }, lazyPages: true, tcpEstablished: true, fileLocks: true, shellJob: true }))).toBe(
      'criu dump -t 42 -D img --page-server --address 10.0.0.2 --port 27 --tcp-established --file-locks --shell-job --lazy-pages',
    );
    expect(line(restoreArgs({ imagesDir: 'img', lazyPages: true, tcpEstablished: true }))).toBe('criu restore -D img --tcp-established --lazy-pages');
    // A remote lazy migration: the dump itself serves the frozen tree's memory on the source's address.
    expect(line(dumpArgs({ pid: 42, imagesDir: 'img', lazyPages: true, lazyListen: { address: '10.0.0.1', port: 27 } }))).toBe('criu dump -t 42 -D img --lazy-pages --address 10.0.0.1 --port 27');
    expect(() => dumpArgs({ pid: 42, imagesDir: 'img', lazyListen: { address: '10.0.0.1', port: 27 } })).toThrow(/needs lazyPages/);
    expect(() => dumpArgs({ pid: 42, imagesDir: 'img', lazyPages: true, lazyListen: { address: 'a', port: 1 }, pageServer: { address: 'b', port: 2 } })).toThrow(/both/);
  });
});

test("a workload class's CRIU options: each on the commands that take it", () => {
  const o = classCriuOptions(['tcpEstablished', 'linkRemap', 'fileLocks']);
  expect(line(dumpArgs({ pid: 7, imagesDir: 'i', ...o.dump }))).toBe('criu dump -t 7 -D i --tcp-established --file-locks --link-remap');
  expect(line(restoreArgs({ imagesDir: 'i', ...o.restore }))).toBe('criu restore -D i --tcp-established --file-locks');
  for (const name of CLASS_CRIU_OPTIONS) expect(line(dumpArgs({ pid: 1, imagesDir: 'i', ...classCriuOptions([name]).dump }))).not.toBe('criu dump -t 1 -D i');
  expect(classCriuOptions([])).toEqual({ dump: {}, restore: {} });
});

test('every flag the builders emit is one criu --help lists (4.1.1 and 3.17.1)', () => {
  const all = [
    dumpArgs({ pid: 1, imagesDir: 'd', logFile: 'l', verbosity: 4, parent: 'p', trackMem: true, pageServer: { address: 'a', port: 1 }, leaveRunning: true, tcpEstablished: true, fileLocks: true, shellJob: true, linkRemap: true, lazyPages: true }),
    preDumpArgs({ pid: 1, imagesDir: 'd' }),
    restoreArgs({ imagesDir: 'd', detach: true, tcpEstablished: true, fileLocks: true, shellJob: true, lazyPages: true }),
    pageServerArgs({ imagesDir: 'd', port: 1, address: 'a', lazyPages: true, daemon: true }),
    lazyPagesArgs({ from: { address: 'a', port: 1 }, imagesDir: 'd' }),
    checkFeatureArgs('x'),
    checkArgs({ all: true }),
  ].flat();
  const opts = [...new Set(all.filter((a) => a.startsWith('-')).map((a) => a.replace(/^(-v)\d$/, '$1')))];
  for (const help of ['criu-4.1.1-trixie.txt', 'criu-3.17.1-bookworm.txt']) {
    const text = readFileSync(join(fixtures, 'criu-help', help), 'utf8');
    for (const o of opts) expect(text, `${o} in ${help}`).toMatch(new RegExp(`(^|[\\s|])${o.replace(/[-]/g, '\\-')}\\b`, 'm'));
  }
  const usage = readFileSync(join(fixtures, 'criu-help/criu-4.1.1-trixie.txt'), 'utf8');
  for (const verb of ['dump', 'pre-dump', 'restore', 'page-server', 'lazy-pages', 'check']) expect(usage).toMatch(new RegExp(`^\\s+criu (\\S+\\|)?${verb}\\b`, 'm'));
});

test('a deleted file that still has another link: dump takes --link-remap, restore needs nothing', () => {
  expect(line(dumpArgs({ pid: 42, imagesDir: 'img', fileLocks: true, linkRemap: true }))).toBe('criu dump -t 42 -D img --file-locks --link-remap');
  expect(line(dumpArgs({ pid: 42, imagesDir: 'img' }))).toBe('criu dump -t 42 -D img');
});

describe('the driver runs what the builders build', () => {
  /** An Environment on the host whose `criu` prints its arguments and writes a log where -o and -D say. */
  const echoEnv = (): Environment => {
    const exec = async (argv: readonly string[], opts: ExecOptions): Promise<ExecResult> =>
      run(argv[0] === 'criu' ? ['sh', '-c', 'echo "$@"; [ "$1" = check ] && echo "mem_dirty_track is supported"; true', 'criu', ...argv.slice(1)] : [...argv], { timeoutMs: opts.timeoutMs });
    const logs: string[] = [];
    const readFile = async (p: string) => (logs.push(p), Buffer.from(''));
    const nope = () => Promise.reject(new Error('not used'));
    return Object.assign({ id: 'echo', backend: 'host', workDir: '/nonexistent', exec, spawnDetached: nope, isRunning: nope, copyIn: nope, copyOut: nope, writeFile: nope, readFile, du: nope, makeDir: nope, remove: nope, dispose: async () => {} }, { logs }) as Environment;
  };

  test('dump, pre-dump and restore: argv from the options, the log read back from the image directory', async () => {
    const env = echoEnv();
    const criu = new Criu(env, {}, 10_000);
    const d = await criu.dump({ pid: 42, imagesDir: '/w/img', logFile: 'dump.log', verbosity: 4, leaveRunning: true });
    expect(d.argv.join(' ')).toBe('criu dump -t 42 -D /w/img -o dump.log -v4 --leave-running');
    expect(d.result.stdout.trim()).toBe('dump -t 42 -D /w/img -o dump.log -v4 --leave-running');
    const p = await criu.preDump({ pid: 42, imagesDir: '/w/pre', logFile: 'pre-dump.log', verbosity: 4 });
    const r = await criu.restore({ imagesDir: '/w/img', logFile: '/elsewhere/restore.log', detach: true });
    expect([d.ok, p.ok, r.ok]).toEqual([true, true, true]);
    expect((env as unknown as { logs: string[] }).logs).toEqual(expect.arrayContaining(['/w/img/dump.log', '/w/pre/pre-dump.log', '/elsewhere/restore.log']));
  });

  test('checkFeature gives the run and CRIU\'s verdict', async () => {
    const f = await new Criu(echoEnv(), {}, 10_000).checkFeature('mem_dirty_track');
    expect(f.run.argv).toEqual(['criu', 'check', '--feature', 'mem_dirty_track']);
    expect({ status: f.status, reason: f.reason }).toEqual({ status: 'PASS', reason: 'mem_dirty_track is supported' });
  });

  test('page server and lazy pages', async () => {
    const criu = new Criu(echoEnv(), {}, 10_000);
    expect((await criu.pageServer({ imagesDir: '/w/img', port: 27, lazyPages: true })).argv.join(' ')).toBe('criu page-server --images-dir /w/img --port 27 --lazy-pages');
    expect((await criu.lazyPages({ from: { address: '10.0.0.1', port: 27 } })).argv.join(' ')).toBe('criu lazy-pages --page-server --address 10.0.0.1 --port 27');
  });
});
