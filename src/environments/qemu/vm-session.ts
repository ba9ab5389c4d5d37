import { AgentEnvironment } from '../agent/agent-environment.ts';
import type { AgentChannel } from './agent-channel.ts';
import { vmGoneDetail } from './qemu-machine.ts';

/**
 * Opens an agent session on one of a booted VM's channel sockets (or its
 * control channel, already connected). QEMU
 * removes its sockets when it exits: a failed connect, and every request
 * that fails later, says so with the guest console's last lines.
 */
export function openVmSession(o: { id: string; socket: string | AgentChannel; session: string; timeoutMs: number }): Promise<AgentEnvironment> {
  const socket = o.socket;
  return AgentEnvironment.open({ ...o, backend: 'qemu', ...(typeof socket === 'string' ? { explainClose: (waitMs?: number) => vmGoneDetail(socket, waitMs) } : {}) });
}
