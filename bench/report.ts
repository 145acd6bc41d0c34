// The tables of `npm run bench`, in Markdown: the head-to-head rows of the
// targets, every figure, and the ratios with their goals (✓/✗). A ratio is
// taken between the figures of the same repetition (measured next to each
// other) and summarised by its median and interquartile range over the
// repetitions.
import { TARGET_LABELS, type TargetKey } from './servers.ts';
import { median, paired, summarise, type Summary } from './stats.ts';

/** Everything one run measured: what `--json` writes and the tables are made of. */
export interface Report {
  date: string;
  node: string;
  cpu: string;
  /** Load averages (1, 5, 15 min) at the start and end; the 1-min one as each workload began. */
  load: { start: number[]; end: number[]; perWorkload: number[] };
  wallSeconds: number;
  quick: boolean;
  /** The original's version and checkout, or why it did not run. */
  original: { ran: boolean; text: string };
  /** The client's GC pauses during each workload's timed parts. */
  clientGc: Record<string, { count: number; ms: number }>;
  /** workload → metric → target → one figure per repetition. */
  results: Record<string, Record<string, Partial<Record<TargetKey, number[]>>>>;
  /** Why the Redis workloads did not run, when they did not. */
  redisNote?: string;
  /** Seconds each workload took. */
  seconds: Record<string, number>;
}

/** One ratio row: `a / b` (or `a - b`, or `a` alone) of a workload's metric, with a goal. */
export interface RatioSpec {
  workload: string;
  metric: string;
  a: TargetKey;
  b?: TargetKey;
  /** `a - b` in the metric's unit instead of `a / b`. */
  difference?: boolean;
  /** The goal: the median at or below this. */
  max?: number;
}

const SHORT: Record<TargetKey, string> = {
  orig: 'original',
  raw: 'raw',
  ts: 'ours TS',
  worker: 'worker',
  py: 'Python',
  redis: 'Redis',
};

const vs = (a: TargetKey, b: TargetKey, rows: Array<[string, string, number?]>): RatioSpec[] =>
  rows.map(([workload, metric, max]) => ({ workload, metric, a, b, ...(max ? { max } : {}) }));

const STARTUP_EMPTY = 'start-up: npx databench, empty folder';

/** The ratio rows and their goals (docs/design/performance.md says where each comes from). */
export const RATIOS: RatioSpec[] = [
  ...vs('ts', 'raw', [
    ['W1 connect', 'p50 ms'],
    ['W1 connect', 'p99 ms'],
    ['W2 echo', 'mean µs'],
    ['W2 echo', 'p50 µs', 1.2],
    ['W2 echo', 'p99 µs', 1.5],
    ['W3 state', 'mean µs'],
    ['W3 state', 'p50 µs', 1.2],
    ['W3 state', 'p99 µs', 1.5],
    ['W4 stream', 'ms to final state', 1.0],
    ['W4 stream', 'gap between frames p99 µs'],
    ['W5 fan-out 200', 'p50 ms'],
    ['W5 fan-out 200', 'p99 ms'],
    ['W5 fan-out 1000', 'p50 ms', 1.3],
    ['W5 fan-out 1000', 'p99 ms'],
    ['W6 memory 1000', 'KiB RSS/idle session', 1.3],
    ['W6 memory 1000', 'KiB JS heap/idle session'],
    ['W6 memory 3000', 'KiB RSS/idle session', 1.3],
    ['W6 memory 3000', 'KiB JS heap/idle session'],
  ]),
  {
    workload: 'W6 memory 1000',
    metric: 'MB RSS of a fresh server',
    a: 'ts',
    b: 'raw',
    difference: true,
    max: 25,
  },
  {
    workload: STARTUP_EMPTY,
    metric: 'MB RSS, server process',
    a: 'ts',
    b: 'raw',
    difference: true,
    max: 25,
  },
  {
    workload: STARTUP_EMPTY,
    metric: 'MB RSS, process tree',
    a: 'ts',
    b: 'raw',
    difference: true,
    max: 40,
  },
  { workload: STARTUP_EMPTY, metric: 'ms spawn → first GET / answered', a: 'ts', b: 'raw' },
  { workload: 'W7 churn', metric: 'after/before', a: 'ts', max: 1.2 },
  ...vs('worker', 'ts', [
    ['W2 echo', 'p50 µs', 1.3],
    ['W2 echo', 'p99 µs'],
    ['W3 state', 'p50 µs'],
    ['W4 stream', 'ms to final state', 1.5],
    ['W6 memory 1000', 'KiB RSS/idle session'],
  ]),
  { workload: 'W8 busy', metric: '(a) GET / during 2 s CPU p99 ms', a: 'worker', max: 50 },
  { workload: 'W8 busy', metric: '(b) echo of another analysis p99 ms', a: 'worker', max: 10 },
  { workload: 'W8 busy', metric: '(c) a 2nd page of the analysis waits ms', a: 'worker', max: 100 },
  ...vs('py', 'orig', [
    ['W2 echo', 'p50 µs', 1],
    ['W2 echo', 'p99 µs'],
    ['W3 state', 'p50 µs', 1],
    ['W3 state', 'p99 µs'],
    ['W4 stream', 'ms to final state', 1],
    ['W5 fan-out 1000', 'p50 ms', 1],
    ['W5 fan-out 1000', 'p99 ms', 1],
    ['W6 memory 1000', 'KiB RSS/idle session', 1],
    ['W6 memory 1000', 'MB RSS of a fresh server', 1],
  ]),
  ...vs('py', 'ts', [
    ['W2 echo', 'p50 µs'],
    ['W4 stream', 'ms to final state', 1.5],
  ]),
  { workload: 'W8 busy', metric: '(a) GET / during 2 s CPU p99 ms', a: 'py', max: 50 },
  { workload: 'W8 busy', metric: '(b) echo of another analysis p99 ms', a: 'py', max: 10 },
  ...vs('redis', 'ts', [
    ['R W2 echo', 'mean µs', 1.5],
    ['R W2 echo', 'p50 µs'],
    ['R W2 echo', 'p99 µs'],
    ['R W3 state', 'mean µs'],
    ['R W3 state', 'p50 µs'],
    ['R W4 stream', 'ms to final state', 1.5],
    ['W9 fan-out 1000', 'p50 ms', 2],
    ['W9 fan-out 1000', 'p99 ms'],
  ]),
  { workload: 'R1 idle session', metric: 'bytes of Redis memory/idle session', a: 'redis' },
  ...vs('orig', 'raw', [
    ['W2 echo', 'p50 µs'],
    ['W3 state', 'p50 µs'],
  ]),
];

/** Numbers as the tables print them: three significant-ish digits. */
export function fmt(x: number): string {
  if (Number.isNaN(x)) return '';
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

const ORDER: TargetKey[] = ['orig', 'raw', 'ts', 'worker', 'py', 'redis'];

/** A ratio row's label, e.g. `W2 echo p50 µs: ours TS / raw`. */
export function ratioLabel(s: RatioSpec): string {
  const what = !s.b
    ? SHORT[s.a]
    : s.difference
      ? `${SHORT[s.a]} − ${SHORT[s.b]}`
      : `${SHORT[s.a]} / ${SHORT[s.b]}`;
  return `${s.workload} ${s.metric}: ${what}`;
}

/** The summary of a ratio row in `r`, or undefined when a side was not measured. */
export function ratioOf(r: Report, s: RatioSpec): Summary | undefined {
  const byTarget = r.results[s.workload]?.[s.metric];
  const a = byTarget?.[s.a];
  if (!a || a.length === 0) return undefined;
  if (!s.b) return summarise(a);
  const b = byTarget[s.b];
  if (!b || b.length === 0) return undefined;
  return summarise(paired(a, b, s.difference));
}

function goalText(s: RatioSpec): string {
  if (s.max === undefined) return '';
  return s.difference ? `≤ +${s.max}` : `≤ ${s.max}`;
}

function metText(s: RatioSpec, m: Summary): string {
  if (s.max === undefined) return '';
  if (m.median <= s.max) return '✓';
  const over = m.median - s.max;
  return `✗ (${s.difference ? `+${fmt(over)}` : `+${over.toFixed(2)}`} over)`;
}

/** The head-to-head rows of the issue's table: figure (and ratio) per target. */
function headline(r: Report, targets: TargetKey[]): string[] {
  const med = (w: string, m: string, t: TargetKey): number => median(r.results[w]?.[m]?.[t] ?? []);
  const rows: Array<[string, string, string]> = [
    ['W2 echo round trip p50 µs', 'W2 echo', 'p50 µs'],
    ['W2 echo round trip p99 µs', 'W2 echo', 'p99 µs'],
    ['W3 state write round trip p50 µs', 'W3 state', 'p50 µs'],
    ['W3 state write round trip p99 µs', 'W3 state', 'p99 µs'],
    ['W4 20000 streamed writes, ms', 'W4 stream', 'ms to final state'],
    ['W5 fan-out to 1000 pages p50 ms', 'W5 fan-out 1000', 'p50 ms'],
    ['W5 fan-out to 1000 pages p99 ms', 'W5 fan-out 1000', 'p99 ms'],
    ['W6 KiB RSS per idle session', 'W6 memory 1000', 'KiB RSS/idle session'],
    ['W6 MB RSS of a fresh server', 'W6 memory 1000', 'MB RSS of a fresh server'],
  ];
  const against: Partial<Record<TargetKey, TargetKey>> = {
    ts: 'raw',
    worker: 'ts',
    py: targets.includes('orig') ? 'orig' : 'ts',
  };
  const cols = targets.filter((t) => t !== 'redis');
  const lines = [
    `| workload | ${cols.map((t) => TARGET_LABELS[t]).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
  ];
  for (const [label, w, m] of rows) {
    if (!r.results[w]?.[m]) continue;
    const cells = cols.map((t) => {
      const v = med(w, m, t);
      if (Number.isNaN(v)) return '';
      const b = against[t];
      const ratio = b ? ratioOf(r, { workload: w, metric: m, a: t, b }) : undefined;
      return ratio && !Number.isNaN(ratio.median)
        ? `${fmt(v)} (${ratio.median.toFixed(2)}× ${SHORT[b!]})`
        : fmt(v);
    });
    lines.push(`| ${label} | ${cells.join(' | ')} |`);
  }
  return lines.length > 2 ? [...lines, ''] : [];
}

/** The Markdown of a run. */
export function report(r: Report): string {
  const present = new Set<TargetKey>();
  for (const metrics of Object.values(r.results)) {
    for (const byTarget of Object.values(metrics)) {
      for (const t of Object.keys(byTarget)) present.add(t as TargetKey);
    }
  }
  const targets = ORDER.filter((t) => present.has(t));
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  const perWorkload = r.load.perWorkload;
  const lines: string[] = [
    `databench bench${r.quick ? ' (--quick: counts scaled by 0.2, fewer repetitions)' : ''}: ${r.date}, node ${r.node}, ${r.cpu}; ` +
      `load average ${load(r.load.start)} at the start, ${load(r.load.end)} at the end ` +
      `(1 min: ${fmt(Math.min(...perWorkload))}–${fmt(Math.max(...perWorkload))} as the workloads began); ` +
      `${r.wallSeconds.toFixed(0)} s in all.`,
    '',
    r.original.ran
      ? `Original databench ${r.original.text}, running bench/analyses/bench_py/analysis.py in its Tornado process.`
      : `Original databench 0.7.3: not run here (${r.original.text}).`,
    '',
    'Figures are medians over the repetitions; (N× x) is the median of the ratios to x, repetition by repetition.',
    '',
    ...headline(r, targets),
    '### Ratios and goals',
    '',
    'Each ratio is taken between two targets in the same repetition; the median over the repetitions, the interquartile range and the number of repetitions.',
    '',
    '| ratio | median | IQR | n | goal | |',
    '|---|---:|---|---:|---|---|',
  ];
  for (const spec of RATIOS) {
    if (!r.original.ran && (spec.a === 'orig' || spec.b === 'orig')) continue;
    const m = ratioOf(r, spec);
    if (!m) continue;
    const show = spec.difference || !spec.b ? fmt : (x: number): string => x.toFixed(2);
    lines.push(
      `| ${ratioLabel(spec)} | ${show(m.median)} | ${show(m.q1)}–${show(m.q3)} | ${m.n} | ${goalText(spec)} | ${metText(spec, m)} |`,
    );
  }
  if (!r.original.ran) {
    lines.push('', `Python kernel against the original: not measured (${r.original.text}).`);
  }
  lines.push(
    '',
    '### Every figure',
    '',
    `| workload | metric | ${targets.map((t) => TARGET_LABELS[t]).join(' | ')} |`,
    `|---|---|${targets.map(() => '---:').join('|')}|`,
  );
  for (const [w, metrics] of Object.entries(r.results)) {
    for (const [m, byTarget] of Object.entries(metrics)) {
      const cells = targets.map((t) => fmt(median(byTarget[t] ?? [])));
      lines.push(`| ${w} | ${m} | ${cells.join(' | ')} |`);
    }
  }
  if (r.redisNote) lines.push('', `Redis workloads: not run (${r.redisNote}).`);
  const gc = Object.entries(r.clientGc).map(
    ([w, { count, ms }]) => `${w} ${count}${count > 0 ? ` (${fmt(ms)} ms)` : ''}`,
  );
  lines.push(
    '',
    `Garbage collections in the client (the bench's own process) during the timed parts: ${gc.join(', ')}.`,
    '',
    `Seconds per workload: ${Object.entries(r.seconds)
      .map(([w, s]) => `${w} ${s.toFixed(0)}`)
      .join(', ')}.`,
  );
  return lines.join('\n');
}
