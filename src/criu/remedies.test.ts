import { describe, expect, test } from 'vitest';
import { SIGNATURES, VERDICT_SIGNATURES } from './diagnose.ts';
import { describeRemedy, remedyCriuOptions, remedyFor, RemedyError, REMEDIES } from './remedies.ts';

describe('the remedy table', () => {
  test('the remedies of built-in signatures name signatures that exist (tcp-established-needed is the id the signature files give)', () => {
    const ids = new Set([...SIGNATURES, ...VERDICT_SIGNATURES].map((s) => s.id));
    const unknown = Object.keys(REMEDIES).filter((id) => !ids.has(id) && id !== 'tcp-established-needed');
    expect(unknown).toEqual([]);
  });

  test('every CRIU option in the table is one the harness passes on', () => {
    for (const r of Object.values(REMEDIES)) expect(() => remedyCriuOptions(r)).not.toThrow();
  });
});

describe('remedyFor', () => {
  test('the first diagnosis that explains the failure and has a remedy; notes are passed over', () => {
    const found = remedyFor([
      { id: 'rlimit-nofile', blame: 'note' },
      { id: 'no-such-signature', blame: 'tuple' },
      { id: 'rseq-no-get-rseq-conf', blame: 'tuple' },
      { id: 'hw-breakpoints', blame: 'tuple' },
    ]);
    expect(found).toEqual({ signature: 'rseq-no-get-rseq-conf', remedy: { env: { GLIBC_TUNABLES: 'glibc.pthread.rseq=0' } } });
    expect(remedyFor([{ id: 'hw-breakpoints', blame: 'note' }])).toBeUndefined();
    expect(remedyFor([{ id: 'vdso-bounds', blame: 'tuple' }])).toBeUndefined();
  });

  test('an operator table replaces the built-in one; an empty remedy is none', () => {
    expect(remedyFor([{ id: 'x', blame: 'tuple' }], { x: { criuOptions: ['--file-locks'] } })).toEqual({ signature: 'x', remedy: { criuOptions: ['--file-locks'] } });
    expect(remedyFor([{ id: 'x', blame: 'tuple' }], { x: { env: {} } })).toBeUndefined();
  });
});

describe('how a remedy reads and applies', () => {
  test('as typed: environment, options, runtime', () => {
    expect(describeRemedy({ env: { CRIU_FAULT: '130' }, criuOptions: ['--link-remap'], runtime: 'runc' })).toBe('CRIU_FAULT=130 --link-remap runtime runc');
  });

  test('flags map to the typed options; an unknown one is a RemedyError naming the ones it knows', () => {
    expect(remedyCriuOptions({ criuOptions: ['--tcp-established', '--link-remap', '--file-locks', '--shell-job'] })).toEqual(['tcpEstablished', 'linkRemap', 'fileLocks', 'shellJob']);
    expect(() => remedyCriuOptions({ criuOptions: ['--network-lock'] })).toThrow(RemedyError);
    expect(() => remedyCriuOptions({ criuOptions: ['--network-lock'] })).toThrow(/--network-lock is not one the harness passes on \(it knows --tcp-established, --file-locks, --link-remap, --shell-job\)/);
  });
});
