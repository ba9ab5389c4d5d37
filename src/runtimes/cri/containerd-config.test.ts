import { describe, expect, test } from 'vitest';
import { cniConfList, containerdConfig, containerdLayout, parseContainerdVersion, PAUSE_IMAGE } from './containerd-config.ts';

const layout = containerdLayout('/run/criu-compat/cri');

describe('containerd configuration for a cri node', () => {
  test('the versions Debian prints (trixie 1.7, sid 2.1) parse', () => {
    expect(parseContainerdVersion('containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1\n')).toBe('1.7.24');
    expect(parseContainerdVersion('containerd github.com/containerd/containerd/v2 2.1.9+unknown \n')).toBe('2.1.9');
    expect(parseContainerdVersion('bash: containerd: command not found')).toBeUndefined();
  });
  test('1.x gets config version 2 with the CRI plugin as one section; 2.x version 3 with images and runtime split', () => {
    const v1 = containerdConfig({ major: 1, layout, snapshotter: 'overlayfs' });
    expect(v1).toMatch(/^version = 2$/m);
    expect(v1).toContain(`sandbox_image = "${PAUSE_IMAGE}"`);
    expect(v1).toContain('[plugins."io.containerd.grpc.v1.cri".cni]');
    expect(v1).not.toContain('io.containerd.cri.v1');
    const v2 = containerdConfig({ major: 2, layout, snapshotter: 'native' });
    expect(v2).toMatch(/^version = 3$/m);
    expect(v2).toContain(`sandbox = "${PAUSE_IMAGE}"`);
    expect(v2).toContain('snapshotter = "native"');
    expect(v2).not.toContain('io.containerd.grpc.v1.cri');
    // Everything containerd keeps lives under the node's work directory; no default path (/var/lib/containerd, /run/containerd) is named.
    for (const c of [v1, v2]) {
      expect(c).toContain(`root = "${layout.root}"`);
      expect(c).toContain(`address = "${layout.socket}"`);
      expect(c).toContain('restrict_oom_score_adj = true');
      expect(c).not.toMatch(/\/var\/lib\/containerd|\/run\/containerd/);
    }
  });
  test('a VM node also serves CRI on TCP at its address on the run network (the CRI plugin off the TCP server otherwise)', () => {
    for (const major of [1, 2]) {
      const c = containerdConfig({ major, layout, snapshotter: 'overlayfs', tcpAddress: '10.1.2.3:10010' });
      expect(c).toMatch(/^\[grpc\]\n {2}address = .*\n {2}tcp_address = "10\.1\.2\.3:10010"$/m);
      expect(c).toMatch(/^\[plugins\."io\.containerd\.grpc\.v1\.cri"\]\n(.*\n)? {2}disable_tcp_service = false$/m);
      expect(containerdConfig({ major, layout, snapshotter: 'overlayfs' })).not.toMatch(/tcp_address|disable_tcp_service/);
    }
  });
  test('the pod network is a bridge without NAT whose addresses are kept in the work directory', () => {
    const n = JSON.parse(cniConfList(layout)) as { plugins: { type: string; ipMasq?: boolean; ipam?: { dataDir: string } }[] };
    expect(n.plugins.map((p) => p.type)).toEqual(['bridge']);
    expect(n.plugins[0]).toMatchObject({ ipMasq: false, ipam: { dataDir: layout.ipam } });
  });
});
