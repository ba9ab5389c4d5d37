/** Options that only `criu dump` takes; every other option a pilot names goes to dump and restore alike. */
const DUMP_ONLY = ['--link-remap', '--ghost-limit', '--tcp-skip-in-flight', '--skip-in-flight', '--freeze-cgroup', '--timeout', '--network-lock'];
/** Options only `criu restore` takes. */
const RESTORE_ONLY = ['--tcp-close', '--restore-sibling', '--inherit-fd', '--auto-dedup'];

/**
 * A pilot's criu.options as the extra arguments of each command. `drop`
 * removes options a variant does without (the reconnect variant runs without
 * --tcp-established).
 */
export function pilotCriuArgs(options: readonly string[], drop: readonly string[] = []): { dump: string[]; restore: string[] } {
  const kept = options.filter((o) => !drop.includes(o.replace(/=.*$/, '')));
  const flag = (o: string) => o.replace(/=.*$/, '');
  return {
    dump: kept.filter((o) => !RESTORE_ONLY.includes(flag(o))),
    restore: kept.filter((o) => !DUMP_ONLY.includes(flag(o))),
  };
}
