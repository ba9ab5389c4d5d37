import { CATALOGUE, RUNTIME_CRIU_OPTIONS, type Capability } from '../config/catalogue/index.ts';
import type { RuntimeInfo } from '../runtimes/detect.ts';
import type { AttemptMode } from './attempt.ts';

/**
 * The modes of a container round trip (see AttemptMode): run asks whether the
 * runtime can run containers here at all; migrate (podman) is checkpoint
 * --export on this node, restore --import on another, verify there.
 */
export type ContainerMode = AttemptMode;

export interface ContainerCase {
  check: string;
  workload: string;
  args: string[];
  mode: ContainerMode;
  tcpEstablished?: boolean;
  fileLocks?: boolean;
  /** Capabilities the class needs (probed through the node's CRIU before the cell runs). */
  needs?: readonly Capability[];
}

/** Inside a container the attempt's directory is not visible: a class's "{dir}" is the container's /tmp. */
const CONTAINER_DIR = '/tmp';

/**
 * The cells of one runtime in one pool: can it run a container at all, then
 * each catalogue class marked container, then counter's variants (and, with
 * podman, a migration). A class whose CRIU options the runtimes cannot pass
 * on is refused here (the catalogue's unit test keeps that from happening).
 */
export function containerCases(runtime: RuntimeInfo['name']): ContainerCase[] {
  const c = (check: string, workload: string, mode: ContainerMode, extra: Partial<ContainerCase> = {}): ContainerCase => ({ check: `${runtime}/${check}`, workload, args: [], mode, ...extra });
  const cases = [c('run', 'counter', 'run')];
  for (const k of CATALOGUE.filter((x) => x.container)) {
    const unsupported = k.criu.filter((o) => !(RUNTIME_CRIU_OPTIONS as readonly string[]).includes(o));
    if (unsupported.length) throw new Error(`workload class ${k.name} needs CRIU options the container runtimes do not pass on (${unsupported.join(', ')}): it cannot be a container class`);
    if (k.peer) throw new Error(`workload class ${k.name} has a peer process: the runtime suite cannot start one beside a container`);
    cases.push(
      c(k.name, k.name, 'dump', {
        args: k.args.map((a) => a.replaceAll('{dir}', CONTAINER_DIR)),
        ...(k.criu.includes('tcpEstablished') ? { tcpEstablished: true } : {}),
        ...(k.criu.includes('fileLocks') ? { fileLocks: true } : {}),
        ...(k.needs.length ? { needs: k.needs } : {}),
      }),
    );
  }
  cases.push(c('counter/leave-running', 'counter', 'leave-running'), c('counter/pre-dump', 'counter', 'pre-dump'));
  if (runtime === 'podman') cases.push(c('counter/export-import', 'counter', 'migrate'));
  return cases;
}
