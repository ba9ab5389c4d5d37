/**
 * The small services the pilot engine's e2e tests run as pilots: an
 * in-memory key-value server and an HTTP server, both in Perl (perl-base is
 * in every Debian node image, so no package is added), and what a pool's
 * probed CRIU and kernel say its TCP checkpoints must do.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import type { RunResults } from '../../src/results/schema.ts';

/** Marks the services' and the client's command lines, so a test can find what it left behind. */
export const MARK = `cc-pilot-e2e-${process.pid}`;
export const SERVICE = `# ${MARK}
use IO::Socket::INET; use IO::Select;
my $l = IO::Socket::INET->new(LocalAddr => $ENV{KV_LISTEN} // "127.0.0.1", LocalPort => 7000, Listen => 64, ReuseAddr => 1) or die "listen: $!";
my $s = IO::Select->new($l); my (%kv, %buf); $| = 1; print "listening\\n";
while (1) {
  for my $c ($s->can_read) {
    if ($c == $l) { my $n = $l->accept; $s->add($n) if $n; next }
    my $r = sysread($c, my $d, 4096);
    if (!$r) { $s->remove($c); close $c; delete $buf{$c}; next }
    $buf{$c} .= $d;
    while ($buf{$c} =~ s/^(.*?)\\r?\\n//) {
      my @w = split " ", $1; my $o = "ERR"; my $v = $w[0] // "";
      if ($v eq "PING") { $o = "PONG" }
      elsif ($v eq "SET") { $kv{$w[1]} = $w[2]; if ($ENV{KV_LOG}) { open(my $f, ">>", $ENV{KV_LOG}) or die "log: $!"; print $f "$w[1]=$w[2]\\n"; close $f } $o = "OK" }
      elsif ($v eq "GET") { $o = $kv{$w[1]} // "NIL" }
      syswrite($c, "$o\\n");
    }
  }
}
`;
/** A stateless HTTP server (one answer per connection): the client asks for / and expects "hello". */
export const HTTP_SERVICE = `# ${MARK}
use IO::Socket::INET;
my $l = IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => 7080, Listen => 64, ReuseAddr => 1) or die "listen: $!";
my $hits = 0;
while (my $c = $l->accept) {
  while (my $h = <$c>) { last if $h =~ /^\r?\n$/ }
  $hits++; my $body = "hello $hits\n";
  print $c "HTTP/1.0 200 OK\r\nContent-Length: " . length($body) . "\r\n\r\n$body"; close $c;
}
`;
export const ask = (line: string, want: string) => ['perl', '-MIO::Socket::INET', '-e', `$c = IO::Socket::INET->new("127.0.0.1:7000") or die "connect: $!"; print $c "${line}\\n"; $a = <$c>; die "got $a" unless $a eq "${want}\\n"`];
export const INTERVAL = 50;

/** A key-value pilot with a held client; timeoutMs for readiness and each step (a VM under TCG needs more). */
export function pilot(name: string, pools: string[], o: { user?: string; writable?: string[]; env?: Record<string, string>; options?: string[]; verify?: string[][]; ready?: object; seedUser?: string; timeoutMs?: number; intervalMs?: number; criteria?: object } = {}) {
  const timeoutMs = o.timeoutMs ?? 10_000;
  return {
    name,
    pools,
    service: { command: ['perl', '-e', SERVICE], user: o.user ?? 'root', writable: o.writable ?? [], env: o.env ?? {} },
    ready: { ...(o.ready ?? { tcp: { port: 7000 } }), timeoutMs },
    seed: [{ command: ask('SET answer 42', 'OK'), timeoutMs, ...(o.seedUser ? { user: o.seedUser } : {}) }],
    verify: [{ command: ask('GET answer', '42'), timeoutMs }, ...(o.verify ?? []).map((command) => ({ command, timeoutMs }))],
    client: { held: { port: 7000, send: `PING ${MARK}\n`, expect: 'PONG' }, intervalMs: o.intervalMs ?? INTERVAL },
    criu: { options: o.options ?? [] },
    attempts: 2,
    criteria: o.criteria ?? { freezeMsP95: 500, clientGapMsMax: 5000 },
  };
}

/** CRIU ≤ 4.1 reads SO_PASSCRED from inet sockets, which kernels ≥ 6.16 refuse: no TCP service can be dumped (sockopt-passcred). */
export function canDumpInet(results: RunResults, pool: string): boolean {
  const p = results.pools.find((x) => x.name === pool)!;
  const [kMaj, kMin] = p.inventory!.kernelRelease.split('.').map(Number) as [number, number];
  const [cMaj, cMin] = (p.inventory!.criuVersion ?? '0.0').split('.').map(Number) as [number, number];
  const newKernel = kMaj > 6 || (kMaj === 6 && kMin >= 16);
  const oldCriu = cMaj < 4 || (cMaj === 4 && cMin < 2);
  return !(newKernel && oldCriu);
}


/** Processes left on the host whose command line bears MARK (the services' scripts and the clients' requests carry it). */
export function markedProcesses(): string[] {
  const left: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(MARK)) left.push(`${pid} ${cmd.slice(0, 80)}`);
  }
  return left;
}

/** Container pilots' cgroups of run RUNID left under the harness's parent, in every hierarchy. */
export function pilotCgroups(runId: string): string[] {
  return readdirSync('/sys/fs/cgroup', { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) => {
      try {
        return readdirSync(`/sys/fs/cgroup/${e.name}/criu-compat`).filter((g) => g.startsWith(`pilot-${runId}`));
      } catch {
        return [];
      }
    });
}

/** A migration cell that passed: every figure measured, the restore inside the downtime, the client on the destination answered without error in each attempt. */
export function expectMeasuredMigration(m: Record<string, number>, attempts: number): void {
  for (const k of ['freezeMsMax', 'checkpointMsMax', 'transferMsMax', 'restoreMsMax', 'downtimeMsMax', 'clientGapMsMax', 'imageBytesMax']) expect(m[k], k).toBeGreaterThan(0);
  expect(m['restoreMsMax']!).toBeLessThan(m['downtimeMsMax']!);
  expect(m['clientErrors']).toBe(0);
  expect(m['clientProbes']).toBeGreaterThanOrEqual(attempts * 6);
}
