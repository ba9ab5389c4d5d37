import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CGROUP_PARENT } from '../environments/cgroup-parent.ts';

/**
 * Removes the empty cgroups that containers of this harness left under
 * /sys/fs/cgroup[/CONTROLLER]/criu-compat on this host (namespace pools
 * share the host's cgroup tree). rmdir only ever removes an empty group, so
 * a concurrent run's live containers are safe. Called at the start and end
 * of every run: a run that was killed leaves nothing for long.
 */
export async function sweepHostCgroups(root = '/sys/fs/cgroup'): Promise<number> {
  const parents = [join(root, CGROUP_PARENT)];
  for (const c of await readdir(root).catch(() => [] as string[])) parents.push(join(root, c, CGROUP_PARENT));
  let removed = 0;
  const sweep = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
    if (!entries) return;
    for (const e of entries) if (e.isDirectory()) await sweep(join(dir, e.name));
    if (await rmdir(dir).then(() => true, () => false)) removed++;
  };
  for (const p of parents) await sweep(p);
  return removed;
}
