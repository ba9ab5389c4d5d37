import type { Pool } from '../config/schema.ts';
import { containerBackend } from './container/container-backend.ts';
import type { PoolBackend } from './pool-backend.ts';
import { namespaceBackend } from './namespace/namespace-backend.ts';
import { qemuBackend } from './qemu/qemu-backend.ts';

/** The backends a pool's `backend:` names; adding one is a folder implementing PoolBackend and a line here. */
const BACKENDS: Record<Pool['backend'], PoolBackend> = {
  namespace: namespaceBackend,
  qemu: qemuBackend,
  container: containerBackend,
};

export function backendOf(name: Pool['backend']): PoolBackend {
  return BACKENDS[name];
}

export function allBackends(): PoolBackend[] {
  return Object.values(BACKENDS);
}
