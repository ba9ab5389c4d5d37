import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PROJECT_ROOT } from '../runner/provision.ts';
import { buildStaticDir } from '../native/build-static.ts';

// cc-agent in container mode (--listen), for real: one server process per connection.
let dir = '';
let agentPid = 0;
const sock = () => join(dir, 'agent.sock');

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cc-agent-'));
  const agent = await buildStaticDir('cc-agent', join(PROJECT_ROOT, 'src/agent'), join(dir, 'cache'));
  const p = spawn(agent, ['--listen', sock()], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  agentPid = p.pid!;
  await new Promise<void>((res, rej) => {
    p.stderr.on('data', (d: Buffer) => d.toString().includes('ready, listening') && res());
    p.once('exit', (code) => rej(new Error(`cc-agent exited (${code})`)));
  });
}, 60_000);

afterAll(() => {
  if (agentPid) process.kill(-agentPid, 'SIGKILL'); // the agent, its acceptor and their servers
  rmSync(dir, { recursive: true, force: true });
});

/** Processes below PID (not zombies), with their state. */
function descendants(pid: number): string[] {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  return kids.flatMap((k) => {
    const state = /\) (\S)/.exec(readFileSync(`/proc/${k}/stat`, 'utf8'))?.[1] ?? '?';
    return state === 'Z' ? descendants(k) : [`${k} ${state}`, ...descendants(k)];
  });
}

function ping(s: Socket): Promise<number> {
  const frame = Buffer.alloc(12);
  frame.writeUInt32LE(7, 4);
  frame[8] = 1; // PING
  s.write(frame);
  return new Promise((res) => s.once('data', (d: Buffer) => res(d[8]!)));
}

test('cc-agent --listen: a connection the host closes ends its server (it no longer spins on end of file)', async () => {
  const before = descendants(agentPid).length; // the acceptor
  const s = connect(sock());
  expect(await ping(s)).toBe(2); // PONG
  expect(descendants(agentPid).length).toBe(before + 1);
  s.destroy();
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = descendants(agentPid);
    if (left.length === before) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(left).toHaveLength(before);
  // The agent still serves the next connection.
  const again = connect(sock());
  expect(await ping(again)).toBe(2);
  again.destroy();
});
