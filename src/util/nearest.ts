/**
 * The "did you mean" of a name nobody defined: an action a page sends that no
 * handler has, a data key no type declares. Shared by the server (its
 * `__error` for an unknown action) and `databench check`.
 */

/**
 * The optimal string alignment distance of `a` and `b`: how many characters
 * to insert, delete or replace, or pairs of neighbours to swap, to turn one
 * into the other (`cuont` → `count` is 1).
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  const n = a.length;
  const m = b.length;
  if (n === 0) return m;
  if (m === 0) return n;
  // three rows: the one before the previous (for swaps), the previous, this one
  let before = new Array<number>(m + 1).fill(0);
  let previous = Array.from({ length: m + 1 }, (_, j) => j);
  let row = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    row[0] = i;
    for (let j = 1; j <= m; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, before[j - 2]! + 1);
      }
      row[j] = d;
    }
    [before, previous, row] = [previous, row, before];
  }
  return previous[m]!;
}

/**
 * The candidate nearest to `name`, when one is near enough to be what was
 * meant: within a third of its length in edits (at least one), ignoring case
 * (`Count` → `count`). Ties go to the first candidate. Undefined when none
 * is near.
 *
 * @example nearestName('cuont', ['count', 'reset']) // 'count'
 */
export function nearestName(name: string, candidates: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    if (candidate === name) continue;
    const d = editDistance(wanted, candidate.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean 'count'?)` when a candidate is near `name`, else the empty string. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const near = nearestName(name, candidates);
  return near === undefined ? '' : ` (did you mean '${near}'?)`;
}
