import { UsageError } from '../errors.ts';

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE_UNITS: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30, TiB: 2 ** 40, KB: 1e3, MB: 1e6, GB: 1e9, TB: 1e12 };

/** "90s", "30m", "2h", "7d" (or "1h30m") → milliseconds; a flag's bad value is a UsageError (exit 2). */
export function parseDuration(text: string, flag: string): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)([smhd])/g)];
  const ms = parts.reduce((sum, m) => sum + Number(m[1]) * DURATION_UNITS[m[2]!]!, 0);
  if (!parts.length || parts.map((m) => m[0]).join('') !== text.trim() || !(ms > 0)) throw new UsageError(`${flag} takes a duration such as 90s, 30m, 2h or 7d (got "${text}")`);
  return Math.round(ms);
}

/** "2GiB", "500MiB", "1.5GB", "4096" (bytes) → bytes; a bad value is a UsageError (exit 2). */
export function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?$/.exec(text.trim());
  const unit = m?.[2] ?? 'B';
  const bytes = m && SIZE_UNITS[unit] ? Math.floor(Number(m[1]) * SIZE_UNITS[unit]) : NaN;
  if (!(bytes > 0)) throw new UsageError(`${flag} takes a size such as 500MiB, 2GiB or 1GB (got "${text}")`);
  return bytes;
}

/** A byte count as people read it: 1.5 GiB, 12.0 MiB, 512 B. */
export function formatBytes(n: number): string {
  for (const [u, f] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (n >= f) return `${(n / f).toFixed(1)} ${u}`;
  return `${n} B`;
}

/** A duration as people read it: 24h, 2h30m, 45m, 90s. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s % 86_400 === 0) return `${s / 86_400}d`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${r || (!h && !m) ? `${r}s` : ''}`;
}
