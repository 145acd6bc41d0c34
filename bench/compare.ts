// Two runs of `npm run bench -- --json=FILE` side by side: every ratio row of
// both, and how far apart they are (the bench aims at 0.1 at most).
// Usage: node --import tsx bench/compare.ts run1.json run2.json
import { readFileSync } from 'node:fs';
import { RATIOS, fmt, ratioLabel, ratioOf, type Report } from './report.ts';

const [first, second] = process.argv
  .slice(2)
  .map((f) => JSON.parse(readFileSync(f, 'utf8')) as Report);
if (!first || !second)
  throw new Error('usage: node --import tsx bench/compare.ts run1.json run2.json');

const load = (r: Report): string =>
  `${r.date}, load ${r.load.start.map((x) => x.toFixed(2)).join(' ')} → ${r.load.end.map((x) => x.toFixed(2)).join(' ')}, ${r.wallSeconds.toFixed(0)} s`;
const lines = [
  `run 1: ${load(first)}`,
  `run 2: ${load(second)}`,
  '',
  '| ratio | run 1 | run 2 | difference | within 0.1 |',
  '|---|---:|---:|---:|---|',
];
let within = 0;
let rows = 0;
for (const spec of RATIOS) {
  const a = ratioOf(first, spec);
  const b = ratioOf(second, spec);
  if (!a || !b) continue;
  const show = spec.difference ? fmt : (x: number): string => x.toFixed(2);
  const d = b.median - a.median;
  // differences (MB) are compared relative to their size: 0.1 of the goal's scale makes no sense there
  const ok = spec.difference ? '' : Math.abs(d) <= 0.1 ? '✓' : '✗';
  if (!spec.difference) {
    rows++;
    if (ok === '✓') within++;
  }
  lines.push(
    `| ${ratioLabel(spec)} | ${show(a.median)} | ${show(b.median)} | ${show(d)} | ${ok} |`,
  );
}
lines.push('', `${within} of ${rows} ratios agree within 0.1.`);
console.log(lines.join('\n'));
