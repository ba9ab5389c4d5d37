import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ClientNode, type ClientProcess } from '../../environments/network/client-node.ts';
import type { NodeNetworkSpec } from '../../environments/network/node-network.ts';

/**
 * How the host's CRI client reaches a containerd that has no host path (a VM
 * node): containerd also serves CRI on TCP at the node's address on the run's
 * network, which has no host address; a client node on that network (its own
 * netns) runs a relay that listens on a unix socket in a root-only host
 * directory (a path socket: reachable from the host whatever the netns) and
 * opens one TCP connection to containerd per accepted connection. Nothing
 * listens on a host TCP port. The relay is the harness's own Node running an
 * inline script (a file under node_modules could not be type-stripped).
 */

/** The relay reached no readiness or died at start. */
export class CriRelayError extends Error {
  override readonly name = 'CriRelayError';
}

/** argv after `node -e`: the unix socket, then containerd's TCP address and port. */
const RELAY_SCRIPT = [
  "const net = require('node:net');",
  'const [sock, host, port] = process.argv.slice(1);',
  'const srv = net.createServer((c) => {',
  '  const t = net.connect(Number(port), host);',
  '  const end = () => { c.destroy(); t.destroy(); };',
  "  for (const s of [c, t]) { s.on('error', end); s.on('close', end); }",
  '  c.pipe(t); t.pipe(c);',
  '});',
  "srv.listen(sock, () => console.log('listening'));",
].join('\n');

export interface CriRelay {
  /** The host path of the relay's unix socket (what the CRI client dials). */
  socket: string;
  /** Stops the relay, deletes its netns and its directory. Idempotent. */
  dispose(): Promise<void>;
}

export interface CriRelayOptions {
  network: NodeNetworkSpec;
  /** cc-guard (plan.natives.guard): the relay dies with the harness. */
  guard: string;
  /** containerd's TCP address on the run's network. */
  target: { address: string; port: number };
  /** A host directory for the socket and the relay's log, made root-only here and removed on dispose (short: unix socket paths ≤ 107 bytes). */
  dir: string;
  timeoutMs: number;
}

export async function startCriRelay(o: CriRelayOptions): Promise<CriRelay> {
  await rm(o.dir, { recursive: true, force: true });
  await mkdir(o.dir, { mode: 0o700 });
  const socket = join(o.dir, 'cri.sock');
  const log = join(o.dir, 'relay.log');
  let client: ClientNode | undefined;
  let proc: ClientProcess | undefined;
  const dispose = async () => {
    proc?.kill();
    await client?.dispose();
    await rm(o.dir, { recursive: true, force: true });
  };
  try {
    client = await ClientNode.start(o.network, 'cri relay', { guard: o.guard });
    proc = await client.spawn([process.execPath, '-e', RELAY_SCRIPT, socket, o.target.address, String(o.target.port)], { outFile: log });
    let exited = false;
    void proc.exited.then(() => (exited = true));
    const end = Date.now() + o.timeoutMs;
    for (;;) {
      const out = await readFile(log, 'utf8').catch(() => '');
      if (out.includes('listening')) return { socket, dispose };
      if (exited || Date.now() > end) throw new CriRelayError(`the CRI relay to ${o.target.address}:${o.target.port} ${exited ? 'exited at start' : 'did not listen in time'}: ${out.trim().slice(-300)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    await dispose();
    throw e;
  }
}
