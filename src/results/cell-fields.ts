import type { Cell } from './schema.ts';

const FEATURE_SUITE = 'criu-check';
const FEATURE_PREFIX = 'feature:';

/**
 * The CRIU feature a cell probes ("criu check --feature NAME"), null for any
 * other cell: its `feature` field, or for results files written before cells
 * carried it, parsed from a criu-check "feature:NAME" check. The one place
 * that knows how a probe is named.
 */
export function featureOf(c: Pick<Cell, 'suite' | 'check' | 'feature'>): string | null {
  if (c.feature !== undefined) return c.feature;
  return c.suite === FEATURE_SUITE && c.check.startsWith(FEATURE_PREFIX) ? c.check.slice(FEATURE_PREFIX.length) : null;
}

/** The suite and check of the cell that probes FEATURE (featureOf's inverse). */
export function featureCell(feature: string): { suite: string; check: string } {
  return { suite: FEATURE_SUITE, check: `${FEATURE_PREFIX}${feature}` };
}

/** A pool's capabilities from its per-feature cells: PASS → present, SKIP → absent; anything else → unknown (left out). */
export function capabilitiesOf(cells: readonly Cell[], pool: string): Record<string, boolean> {
  const caps: Record<string, boolean> = {};
  for (const c of cells) {
    const feature = c.pool === pool ? featureOf(c) : null;
    if (feature !== null && (c.status === 'PASS' || c.status === 'SKIP')) caps[feature] = c.status === 'PASS';
  }
  return caps;
}
