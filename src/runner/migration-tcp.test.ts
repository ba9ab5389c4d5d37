import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { Environment } from '../environments/environment.ts';
import { lockRules, NetworkContinuityError } from './service-address.ts';

/** iptables-save on a VM after CRIU 4.1.1 dumped a loopback connection with --tcp-established (recorded). */
const RECORDED = readFileSync(join(import.meta.dirname, '../../fixtures/recorded/criu-logs/trixie-4.1.1-k6.12-after-dump-tcp-netlock.iptables-save.txt'), 'utf8');

function nodeSaying(stdout: string, exitCode = 0, stderr = ''): Environment {
  return { id: 'node', exec: async () => ({ exitCode, stdout, stderr }) } as unknown as Environment;
}

test("CRIU's lock rules of one address are picked from iptables-save (both directions, INPUT and OUTPUT), nobody else's", async () => {
  const rules = await lockRules(nodeSaying(RECORDED), '127.0.0.1');
  expect(rules).toHaveLength(4);
  for (const r of rules) expect(r).toMatch(/^-A (INPUT|OUTPUT) -s 127\.0\.0\.1\/32 -d 127\.0\.0\.1\/32 -p tcp -m mark ! --mark 0xc114 .* -j DROP$/);
  expect(await lockRules(nodeSaying(RECORDED), '10.1.2.3')).toEqual([]);
  // An ordinary DROP rule of the same address, without CRIU's mark, is not CRIU's.
  expect(await lockRules(nodeSaying('*filter\n-A INPUT -s 10.1.2.3/32 -p tcp -j DROP\nCOMMIT\n'), '10.1.2.3')).toEqual([]);
});

test('a node without iptables is named, with what it needs', async () => {
  await expect(lockRules(nodeSaying('', 127, 'iptables-save: not found'), '10.1.2.3')).rejects.toThrow(NetworkContinuityError);
  await expect(lockRules(nodeSaying('', 127, 'iptables-save: not found'), '10.1.2.3')).rejects.toThrow(/node image needs iptables/);
});

test("a failed fallback after a late destination failure says the connection is lost everywhere (CRIU's own words); a passing one, or an early failure, is left as it is", async () => {
  const { ExternalPeer } = await import('./migration-tcp.ts');
  const node = (pool: string) => ({ pool, env: { id: pool } as unknown as Environment });
  const p = new ExternalPeer({ network: undefined, guard: '', peerBinary: '', serviceAddress: 'move', hostDir: '/nonexistent' }, node('k6.12-trixie'), node('host-trixie'), '/d', () => undefined);
  const late = readFileSync(join(import.meta.dirname, '../../fixtures/recorded/criu-logs/trixie-4.1.1-host-6.18-restore-from-vm-capabilities.excerpt.log'), 'utf8');
  const failed = { status: 'FAIL' as const, reason: 'restored on k6.12-trixie, but send at number 18381: Connection reset by peer' };
  expect(p.explainFallback(failed, late).reason).toMatch(/failed after CRIU had unlocked the network .* lost on every node$/);
  expect(p.explainFallback({ status: 'PASS' as const, reason: 'ok' }, late).reason).toBe('ok');
  expect(p.explainFallback(failed, "Error (soccr/soccr.c:499): Can't bind inet socket back: Cannot assign requested address").reason).toBe(failed.reason);
});
