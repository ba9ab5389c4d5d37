import type { Capability } from '../config/catalogue/index.ts';
import type { Criu } from '../criu/driver.ts';
import type { Environment } from '../environments/environment.ts';
import type { Ending } from './attempt.ts';

/**
 * Probes the capabilities a workload class needs, on the pool it is about to
 * run on, and says how the cell ends when one is missing. Never assumed: a
 * CRIU feature is what `criu check --feature` answers, a kernel path is what
 * `test -e` finds inside the environment, a privilege is what the effective
 * capability set of a process started there (as criu is) holds. An answer (present or missing) is
 * kept per CRIU driver (one per pool session); a probe that decided nothing
 * is not kept, so the next cell asks again.
 */
const known = new WeakMap<Criu, Map<string, Ending | 'present'>>();

export async function missingCapability(needs: readonly Capability[], x: { env: Environment; criu: Criu; commandMs: number }): Promise<Ending | undefined> {
  let memo = known.get(x.criu);
  if (!memo) known.set(x.criu, (memo = new Map()));
  for (const cap of needs) {
    const key = cap.kind === 'kernel-path' ? `${cap.kind}:${cap.name}:${cap.path}` : `${cap.kind}:${cap.name}`;
    let answer = memo.get(key);
    if (!answer) {
      answer = await probe(cap, x);
      if (answer === 'present' || answer.status === 'SKIP') memo.set(key, answer);
    }
    if (answer !== 'present') return answer;
  }
  return undefined;
}

async function probe(cap: Capability, x: { env: Environment; criu: Criu; commandMs: number }): Promise<Ending | 'present'> {
  const missing = `capability missing: ${cap.name} (${cap.why})`;
  if (cap.kind === 'criu-feature') {
    const r = await x.criu.checkFeature(cap.name, { timeoutMs: x.commandMs });
    if (r.status === 'PASS') return 'present';
    if (r.status === 'SKIP') return { status: 'SKIP', reason: missing, run: r.run };
    return { status: r.status, reason: `${cap.name} is needed (${cap.why}) and its probe decided nothing: ${r.reason}`, run: r.run };
  }
  if (cap.kind === 'privilege') return probePrivilege(cap, missing, x);
  const r = await x.env.exec(['test', '-e', cap.path], { timeoutMs: x.commandMs });
  if (r.exitCode === 0) return 'present';
  if (r.exitCode === 1 && !r.timedOut) return { status: 'SKIP', reason: `${missing}: ${cap.path} does not exist here` };
  return { status: 'ERROR', reason: `${cap.name} is needed (${cap.why}) and probing ${cap.path} failed: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''} ${r.stderr.trim()}`.trim() };
}

/** CapEff of /proc/self/status, as read by `cat` started the way the environment starts criu. */
async function probePrivilege(cap: Extract<Capability, { kind: 'privilege' }>, missing: string, x: { env: Environment; commandMs: number }): Promise<Ending | 'present'> {
  const r = await x.env.exec(['cat', '/proc/self/status'], { timeoutMs: x.commandMs });
  const eff = capEffOf(r.stdout);
  if (r.exitCode !== 0 || eff === undefined)
    return { status: 'ERROR', reason: `${cap.name} is needed (${cap.why}) and reading CapEff from /proc/self/status failed: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''} ${r.stderr.trim()}`.trim() };
  if ((eff >> BigInt(cap.bit)) & 1n) return 'present';
  return { status: 'SKIP', reason: `${missing}: processes started here, criu among them, run without it (CapEff ${eff.toString(16)})` };
}

/** The effective capability set in a /proc/PID/status text, or undefined. */
export function capEffOf(status: string): bigint | undefined {
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex === undefined ? undefined : BigInt(`0x${hex}`);
}
