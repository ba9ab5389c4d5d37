/**
 * The pilot's client prober (fixtures/probes/cc-probe.c) compiled as the
 * runs compile it, against real sockets of this process: answers bigger
 * than its buffer, an expected text cut by the buffer's end, and a stop
 * while a probe waits. Every process it starts is gone when a test ends.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { spawn } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { buildStatic } from '../../src/native/build-static.ts';
import { tempDir } from './harness.ts';

const exec = promisify(execFile);
let probe = '';
const servers: Server[] = [];

beforeAll(async () => {
  probe = await buildStatic('cc-probe', join(import.meta.dirname, '../../fixtures/probes/cc-probe.c'), [], tempDir('criu-compat-cc-probe-'));
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listen<S extends Server>(s: S): Promise<number> {
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as { port: number }).port;
}

/** One `cc-probe check …`: its exit code and its line. */
async function check(args: string[]): Promise<{ code: number; line: string }> {
  try {
    const r = await exec(probe, ['check', ...args], { timeout: 10_000 });
    return { code: 0, line: r.stdout.trim() };
  } catch (e) {
    const x = e as { code?: number; stdout?: string };
    return { code: x.code ?? -1, line: (x.stdout ?? '').trim() };
  }
}

/** `cc-probe run …` for ms, then SIGTERM: its lines. */
async function runFor(args: string[], ms: number): Promise<string[]> {
  const p = spawn(probe, ['run', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => p.on('exit', r));
  await new Promise((r) => setTimeout(r, ms));
  p.kill('SIGTERM');
  const killer = setTimeout(() => p.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(killer);
  return out.split('\n').filter(Boolean);
}

describe('cc-probe', () => {
  test('http: an answer bigger than the buffer (200 KiB) still has its status line and its body text', async () => {
    const page = `<h1>marker-head</h1>${'x'.repeat(200 * 1024)}<p>marker-tail</p>`;
    const port = await listen(createHttpServer((_q, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page)));
    expect(await check(['http', '127.0.0.1', String(port), '5000', '/', '200', 'marker-head'])).toEqual({ code: 0, line: 'ok status 200' });
    expect(await check(['http', '127.0.0.1', String(port), '5000', '/', '200', 'marker-tail'])).toEqual({ code: 0, line: 'ok status 200' });
    expect(await check(['http', '127.0.0.1', String(port), '5000', '/', '200', 'marker-nowhere'])).toEqual({ code: 1, line: 'fail status 200 without the expected body text' });
    expect(await check(['http', '127.0.0.1', String(port), '5000', '/', '404'])).toEqual({ code: 1, line: 'fail status 200, expected 404' });
  });

  test('held: an answer whose expected text is cut by the end of the buffer is found', async () => {
    // 65530 bytes of filler, then the expected text across the 64 KiB boundary of the prober's buffer.
    const port = await listen(createServer((s) => s.on('data', () => s.write(`${'.'.repeat(65_530)}+PONG-LONG-ANSWER\r\n`))));
    const lines = await runFor(['held', '127.0.0.1', String(port), '100', '2000', 'PING\\r\\n', '+PONG-LONG-ANSWER'], 700);
    const oks = lines.filter((l) => / ok /.test(l));
    expect(lines.filter((l) => / fail /.test(l)), lines.join('\n')).toEqual([]);
    expect(oks.length).toBeGreaterThanOrEqual(3);
    expect(oks[0]).toMatch(/^\d+ ok \d+ connection 1$/);
    expect(lines.at(-1)).toMatch(/^\d+ stop probes=\d+ ok=\d+ fail=0 connects=1$/);
  });

  test('held: a service that stops answering; SIGTERM ends the waiting probe at once and it is not counted', async () => {
    let n = 0;
    const port = await listen(createServer((s) => s.on('data', () => n++ < 2 && s.write('+PONG\r\n'))));
    const t0 = Date.now();
    const lines = await runFor(['held', '127.0.0.1', String(port), '50', '30000', 'PING\\r\\n', '+PONG'], 600);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(lines.filter((l) => / ok /.test(l))).toHaveLength(2);
    expect(lines.at(-1)).toMatch(/ stop probes=2 ok=2 fail=0 connects=1$/);
  });

  test('session and spawn: a client program (cat) answers on its stdout; one program kept, or one per probe', async () => {
    const session = await runFor(['session', '50', '2000', 'PING\\n', 'PING', 'cat'], 500);
    expect(session.filter((l) => / ok /.test(l)).length).toBeGreaterThanOrEqual(3);
    expect(session.filter((l) => / ok /.test(l)).every((l) => /^\d+ ok \d+ session 1$/.test(l))).toBe(true);
    expect(session.at(-1)).toMatch(/ fail=0 connects=1$/);
    const spawned = await runFor(['spawn', '50', '2000', 'PING\\n', 'PING', 'cat'], 500);
    const n = spawned.filter((l) => / ok /.test(l)).length;
    expect(n).toBeGreaterThanOrEqual(3);
    expect(spawned.at(-1)).toMatch(new RegExp(` fail=0 connects=(${n}|${n + 1})$`));
  });

  test('fresh tcp and http: a refused connect is a failure each time, with why', async () => {
    const port = await listen(createServer(() => undefined));
    servers.pop()!.close();
    await new Promise((r) => setTimeout(r, 50));
    const lines = await runFor(['tcp', '127.0.0.1', String(port), '50', '1000'], 400);
    const fails = lines.filter((l) => / fail /.test(l));
    expect(fails.length).toBeGreaterThanOrEqual(3);
    expect(fails[0]).toMatch(/^\d+ fail \d+ connect: Connection refused$/);
    expect(lines.at(-1)).toMatch(new RegExp(`stop probes=${fails.length} ok=0 fail=${fails.length} connects=0$`));
  });
});
