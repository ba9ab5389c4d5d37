import type { Cell } from './schema.ts';

const FEATURE_PREFIX = 'feature:';

/**
 * The CRIU feature a cell probes: its `feature` field, or for results files
 * written before cells carried it, parsed from a criu-check "feature:NAME"
 * check. The one place check names are read for a meaning.
 */
export function featureOf(c: Pick<Cell, 'suite' | 'check' | 'feature'>): string | undefined {
  if (c.feature !== undefined) return c.feature;
  return c.suite === 'criu-check' && c.check.startsWith(FEATURE_PREFIX) ? c.check.slice(FEATURE_PREFIX.length) : undefined;
}

/** A pool's capabilities from its per-feature cells: PASS → present, SKIP → absent; anything else → unknown (left out). */
export function capabilitiesOf(cells: readonly Cell[], pool: string): Record<string, boolean> {
  const caps: Record<string, boolean> = {};
  for (const c of cells) {
    const feature = c.pool === pool ? featureOf(c) : undefined;
    if (feature !== undefined && (c.status === 'PASS' || c.status === 'SKIP')) caps[feature] = c.status === 'PASS';
  }
  return caps;
}
