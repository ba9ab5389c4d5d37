import { describe, expect, test } from 'vitest';
import { RUNTIME_CRIU_OPTIONS } from '../config/catalogue/index.ts';
import { describeRemedy, remedyCriuOptions, remedyFor, RemedyError, remedyTable } from './remedies.ts';
import { activeSignatures } from './signatures.ts';

describe('the remedy table', () => {
  test("is the signature files' remedy blocks, by id: the stopgaps and options this harness applies among them", () => {
    const table = remedyTable();
    expect(Object.keys(table)).toEqual(activeSignatures().filter((s) => s.remedy).map((s) => s.id));
    expect(table['hw-breakpoints']).toEqual({ env: { CRIU_FAULT: '130' } });
    expect(table['rseq-no-get-rseq-conf']).toEqual({ env: { GLIBC_TUNABLES: 'glibc.pthread.rseq=0' } });
    expect(table['crun-cgroup-hybrid']).toEqual({ runtime: 'runc' });
    expect(table['tcp-established-needed']).toEqual({ criuOptions: ['--tcp-established'] });
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
    expect(found).toMatchObject({ signature: 'rseq-no-get-rseq-conf', remedy: { env: { GLIBC_TUNABLES: 'glibc.pthread.rseq=0' } } });
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
    expect(() => remedyCriuOptions({ criuOptions: ['--network-lock=nftables'] })).toThrow(RemedyError);
    expect(() => remedyCriuOptions({ criuOptions: ['--link-remap'] }, RUNTIME_CRIU_OPTIONS)).toThrow(/--link-remap is not one the harness can pass on here \(it can: --tcp-established, --file-locks\)/);
  });
});
