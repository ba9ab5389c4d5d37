import { describe, expect, test } from 'vitest';
import { capNames, treeIdentities, userDumpPrefix } from './pilot-dump-as.ts';

const status = (pid: number, tid: number, ppid: number, uid: number, gid: number) =>
  [`Tgid:\t${pid}`, `PPid:\t${ppid}`, `Uid:\t${uid}\t${uid}\t${uid}\t${uid}`, `Gid:\t${gid}\t${gid}\t${gid}\t${gid}`].map((l) => `/proc/${pid}/task/${tid}/status:${l}`).join('\n');

describe('pilot dump as the service user', () => {
  test('capNames: bit i of CapEff is the i-th name of setpriv --list-caps; bits it does not name are left out', () => {
    const list = 'chown\ndac_override\ndac_read_search\nfowner\n';
    expect(capNames(0b1011n, list)).toEqual(['chown', 'dac_override', 'fowner']);
    expect(capNames(0x1ffffn, list)).toEqual(['chown', 'dac_override', 'dac_read_search', 'fowner']);
    expect(capNames(0n, list)).toEqual([]);
  });

  test('treeIdentities: the tree under the root PID (threads included), not its parent nor unrelated processes', () => {
    const text = [status(1, 1, 0, 0, 0), status(10, 10, 1, 0, 0), status(20, 20, 10, 106, 110), status(21, 21, 20, 106, 110), status(21, 22, 20, 106, 110), status(30, 30, 1, 33, 33)].join('\n');
    expect(treeIdentities(text, 20)).toEqual({ pids: [20, 21], ids: ['uid 106 106 106 106 gid 110 110 110 110'] });
    // nginx: a root master with www-data workers is two users.
    const nginx = [status(40, 40, 1, 0, 0), status(41, 41, 40, 33, 33)].join('\n');
    expect(treeIdentities(nginx, 40).ids).toEqual(['uid 0 0 0 0 gid 0 0 0 0', 'uid 33 33 33 33 gid 33 33 33 33']);
    expect(treeIdentities(text, 99)).toEqual({ pids: [], ids: [] });
  });

  test('userDumpPrefix: a root shell enters the attempt directory, setpriv drops to the user with the caps as inheritable and ambient, then criu', () => {
    const argv = userDumpPrefix({ as: 'service-user', user: 'redis', uid: '106', gid: '110', caps: ['sys_admin', 'checkpoint_restore'], why: 'x' }, '/w/cells/a/1');
    expect(argv).toEqual(['sh', '-c', 'cd "$1" && shift && exec "$@"', 'sh', '/w/cells/a/1', 'setpriv', '--reuid=106', '--regid=110', '--init-groups', '--inh-caps=+sys_admin,+checkpoint_restore', '--ambient-caps=+sys_admin,+checkpoint_restore', '--']);
  });
});
