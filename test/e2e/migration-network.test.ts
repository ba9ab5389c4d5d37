/**
 * Network continuity of a migration, for real: tcp-external keeps an
 * established TCP connection to an echo peer on a third node of the run's
 * network (a client netns on the bridge), its end bound to a service
 * address. Between two VM pools (Debian 6.1 and 6.12 kernels, CRIU 4.1.1:
 * this host's 6.18 kernel cannot dump TCP with CRIU ≤ 4.1.1), the CLI runs
 * the migration suite twice: with serviceAddress "move" the connection
 * survives both directions (same addresses, every number once and in
 * order, the peer content too); with "stay" the destination lacks the
 * address and the cell FAILs with tcp-address-missing naming it and the
 * playbook's response, the fallback on the source PASSes — never ERROR.
 * Nothing of the run is left: no client netns, no link, no peer, no VM.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import { leftoversOf } from '../../src/environments/network/node-network.ts';
import { RunResults, type Cell } from '../../src/results/schema.ts';
import { cli, commandLinesMatching, harnessProcesses, tempDir } from './harness.ts';

const POOLS = ['k6.1-trixie', 'k6.12-trixie'];

function config(serviceAddress: 'move' | 'stay'): string {
  const file = join(tempDir('criu-compat-cfg-'), 'pools.yaml');
  writeFileSync(
    file,
    [
      'pools:',
      '  - {name: k6.1-trixie, kernel: debian/bookworm, image: debian-trixie, vm: {memoryMiB: 1536}}',
      '  - {name: k6.12-trixie, kernel: debian/trixie, image: debian-trixie, vm: {memoryMiB: 1536}}',
      'migrations:',
      `  - {name: net, pools: [${POOLS.join(', ')}], workloads: [tcp-external], modes: [cold], serviceAddress: ${serviceAddress}}`,
      'settings: {workloads: [counter], suites: [migration]}',
      '',
    ].join('\n'),
  );
  return file;
}

/** Host processes still running the peer (tcp-external --serve on a client node). */
function peers(): string[] {
  return commandLinesMatching((c) => /tcp-external\S* --serve /.test(c));
}

async function runWith(serviceAddress: 'move' | 'stay'): Promise<{ cells: Cell[]; exitCode: number | undefined; all: string }> {
  const out = tempDir('criu-compat-e2e-');
  const p = cli(['run', '--config', config(serviceAddress), '--out', out, '--no-progress']);
  const r = await p;
  // Nothing of the run's network is left: client netns, veths, taps, bridge.
  expect(await leftoversOf(p.pid!)).toEqual({ links: [], netns: [] });
  expect(peers()).toEqual([]);
  expect(harnessProcesses().filter((x) => x.includes(`/criu-compat-vm-${p.pid}-`))).toEqual([]);
  const run = readdirSync(out).sort().at(-1)!;
  const res = RunResults.parse(JSON.parse(readFileSync(join(out, run, 'results.json'), 'utf8')));
  return { cells: res.cells.filter((c) => c.suite === 'migration'), exitCode: r.exitCode, all: r.all };
}

const cross = (cells: Cell[]) => cells.filter((c) => c.source !== c.destination);
const diagonal = (cells: Cell[]) => cells.filter((c) => c.source === c.destination);

test('serviceAddress move: the connection to the third node survives 6.1 ⇄ 6.12, both ways, with the same addresses', async () => {
  const r = await runWith('move');
  expect(r.exitCode, r.all).toBe(0);
  expect(r.cells).toHaveLength(4);
  for (const c of r.cells) {
    expect(c.status, `${c.check}: ${c.reason}`).toBe('PASS');
    // The workload checked ESTABLISHED and the same addresses, every number back once and in order; the peer every byte it got.
    const done = c.workloadOutput!.find((l) => /numbers made the round trip in order/.test(l));
    const service = /service address (\S+) on /.exec(c.commands!.join('\n'))?.[1];
    expect(service).toBeDefined();
    expect(done).toContain(`${service}:`);
    expect(c.workloadOutput).toContain('peer: ready');
    expect(c.workloadOutput!.some((l) => /^peer: FAIL/.test(l))).toBe(false);
  }
  for (const c of cross(r.cells)) {
    expect(c.commands).toEqual(expect.arrayContaining([expect.stringMatching(/^\[\S+\] iptables-save: [1-9]\d* CRIU lock rules? for /), expect.stringMatching(new RegExp(`^service address \\S+: off ${c.source}, on ${c.destination}$`))]));
    expect(c.commands!.some((l) => l.startsWith(`[${c.destination}] criu restore`) && l.includes('--tcp-established'))).toBe(true);
    expect(c.fallback).toBeUndefined();
  }
}, 900_000);

test('serviceAddress stay: the destination lacks the address — FAIL, tcp-address-missing naming it and the playbook\'s response; the fallback on the source PASSes', async () => {
  const r = await runWith('stay');
  expect(r.exitCode, r.all).toBe(1); // failing cells, not a harness error
  expect(r.cells.filter((c) => c.status === 'ERROR')).toEqual([]);
  // The diagonal keeps its address: the plain round trip.
  for (const c of diagonal(r.cells)) expect(c.status, c.reason).toBe('PASS');
  expect(cross(r.cells)).toHaveLength(2);
  for (const c of cross(r.cells)) {
    const service = /service address (\S+) on /.exec(c.commands!.join('\n'))![1]!;
    expect(c.status, c.reason).toBe('FAIL');
    expect(c.reason).toContain(`service address ${service} was not given to ${c.destination}`);
    const d = c.diagnoses!.find((x) => x.id === 'tcp-address-missing');
    expect(d, JSON.stringify(c.diagnoses)).toBeDefined();
    expect(d!.cause).toContain(`local address ${service} (port `);
    expect(d!.remediation).toMatch(/same address and route/);
    expect(d!.remediation).toMatch(/--tcp-close/);
    expect(d!.remediation).toMatch(/reconnect/);
    expect(c.fallback?.status, c.fallback?.reason).toBe('PASS');
    expect(c.fallback!.reason).toContain(`restored on ${c.source} from the same images`);
    expect(c.commands).toContain(`service address ${service}: back on ${c.source} for the fallback`);
    expect(c.workloadOutput!.some((l) => /^peer: FAIL/.test(l))).toBe(false);
  }
}, 900_000);
