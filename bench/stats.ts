// The statistics of `npm run bench`: percentiles, and a ratio summarised over
// paired repetitions (its median and interquartile range).

/** The `p`th percentile of `values` (nearest rank; NaN for none). */
export function pct(values: ArrayLike<number>, p: number): number {
  const sorted = Array.from(values).sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** The median of `values`: the mean of the two middle ones when their count is even. */
export function median(values: ArrayLike<number>): number {
  const sorted = Array.from(values)
    .filter((v) => !Number.isNaN(v))
    .sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** The mean of `values`. */
export function mean(values: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]!;
  return sum / values.length;
}

/** A figure over repetitions: its median, its quartiles, and how many there were. */
export interface Summary {
  median: number;
  q1: number;
  q3: number;
  n: number;
}

/** Quartiles by linear interpolation between the order statistics. */
function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** The median and interquartile range of `values` (NaNs left out). */
export function summarise(values: number[]): Summary {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    n: sorted.length,
  };
}

/**
 * Repetition r of `a` against repetition r of `b` (run next to each other):
 * `a[r] / b[r]`, or `a[r] - b[r]` with `difference`.
 */
export function paired(a: number[], b: number[], difference = false): number[] {
  const n = Math.min(a.length, b.length);
  const out: number[] = [];
  for (let r = 0; r < n; r++) out.push(difference ? a[r]! - b[r]! : a[r]! / b[r]!);
  return out;
}
