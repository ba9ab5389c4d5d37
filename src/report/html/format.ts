import type { Cell, RunResults } from '../../results/schema.ts';

/** A number as the report shows it, its unit read from the name's suffix (…Us, …Ms, …Bytes, …PerGiB). */
export function fmtNumber(name: string, v: number): string {
  if (/Us$/.test(name)) return v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(0)} µs`;
  if (/Ms$/.test(name)) return `${v.toFixed(0)} ms`;
  if (/Bytes$/.test(name)) return v >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(1)} MiB` : `${(v / 1024).toFixed(1)} KiB`;
  if (/PerGiB$/.test(name)) return `${(v / 1000).toFixed(2)} s/GiB`;
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/** Each cell's anchor in the report ("c0", "c1", … in results.json's order), so every section links to the same details. */
export type CellIds = (c: Cell) => string;

export function cellIds(results: RunResults): CellIds {
  const ids = new Map<Cell, string>();
  results.cells.forEach((c, i) => ids.set(c, `c${i}`));
  return (c) => ids.get(c)!;
}
