import { describe, expect, test } from 'vitest';
import { parseConfig } from '../config/load.ts';
import { DEFAULT_CONFIG_NAME, DEFAULT_CONFIG_TEXT } from '../config/default.ts';
import { needsOf } from './requirements.ts';

describe('what a selection needs on the host', () => {
  test('a migration over the network between selected pools needs the node network (ip, /dev/net/tun); the same pools without it do not', () => {
    const loaded = parseConfig(DEFAULT_CONFIG_TEXT, DEFAULT_CONFIG_NAME);
    const pick = (...names: string[]) => loaded.config.pools.filter((p) => names.includes(p.name));
    // live-modes moves k6.12-trixie to k6.1-trixie with a page server and lazy pages.
    expect(needsOf(loaded, pick('k6.12-trixie', 'k6.1-trixie')).has('network')).toBe(true);
    expect(needsOf(loaded, pick('k6.12-trixie')).has('network')).toBe(false);
    expect(needsOf(loaded, pick('host-trixie', 'host-bookworm')).has('network')).toBe(false);
  });
  test("a pilot that moves its service address in a migration between selected pools needs the node network; with stay (the default), or one pool only, it does not", () => {
    const cfg = (policy: string) =>
      parseConfig(`pools:\n  - {name: a, kernel: host, image: debian-sid}\n  - {name: b, kernel: host, image: debian-sid}\npilots:\n  - {name: kv, pools: [a], migrateTo: [b], stages: [migration], service: {command: [sleep, '9']}, ready: {tcp: {port: 7}}${policy}}\n`, 'p.yaml');
    const needs = (policy: string, ...names: string[]) => needsOf(cfg(policy), cfg(policy).config.pools.filter((p) => names.includes(p.name))).has('network');
    expect(needs(', serviceAddress: move', 'a', 'b')).toBe(true);
    expect(needs(', serviceAddress: move', 'a')).toBe(false);
    expect(needs('', 'a', 'b')).toBe(false);
    expect(cfg('').config.pilots[0]!.serviceAddress).toBe('stay');
  });
  test('the cri suite needs the node network for a pool with containerd, whatever its backend (a VM\'s CRI client reaches containerd over it; tcp-external\'s peer is a client node of it)', () => {
    const cfg = (image: string, kernel: string) => parseConfig(`pools:\n  - name: p\n    kernel: ${kernel}\n    image: ${image}\nsettings:\n  suites: [cri]\n`, 'cri.yaml');
    const needs = (image: string, kernel: string) => needsOf(cfg(image, kernel), cfg(image, kernel).config.pools).has('network');
    expect(needs('debian-sid-containerd', 'debian/trixie')).toBe(true);
    expect(needs('debian-trixie', 'debian/trixie')).toBe(false);
    expect(needs('debian-sid-containerd', 'host')).toBe(true);
    expect(needs('debian-trixie', 'host')).toBe(false);
  });
});
