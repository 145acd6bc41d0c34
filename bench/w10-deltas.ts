// W10 of `npm run bench`: deltas for big values. A 10,000-element list grown
// by one element 10,000 times, and a 1 MB object with one field changed 1,000
// times, on the bench server's `bench_deltas` analysis (in-process), each run
// by a page that announces `__deltas` and by a 0.7 page that does not (whole
// values). Measured: the bytes on the wire (payloads and WebSocket headers)
// and the time from the action to the page holding the final state. The
// page does the least per frame: parse, and apply a delta to the value it
// holds. Also: the same growth written with `set` of the whole value (the
// server's structural diff makes the delta).
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { applyDelta, type DeltaLoad } from 'databench-ts/protocol';

/** One W10 run: bytes received and time to the final state. */
export interface W10Figures {
  bytes: number;
  ms: number;
  frames: number;
}

/** What the page holds: the keys of `data`, deltas applied. */
type Held = Map<string, unknown>;

/** The bytes of a server frame on the wire: its payload and its WebSocket header (2, 4 or 10 bytes). */
function wireBytes(payload: number): number {
  return payload + (payload < 126 ? 2 : payload < 65_536 ? 4 : 10);
}

/**
 * A page on `url`: connects (announcing deltas or not), runs `setup` until
 * its `ready`, then times `run` until its `done`, counting the bytes of
 * every frame in between and applying each to what it holds.
 */
async function page(
  url: string,
  deltas: boolean,
  setup: { signal: string; load: unknown },
  run: { signal: string; load: unknown },
): Promise<W10Figures & { held: Held }> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const held: Held = new Map();
  let counting = false;
  let bytes = 0;
  let frames = 0;
  let wake: ((signal: string) => void) | undefined;
  ws.on('message', (data: Buffer) => {
    if (counting) {
      bytes += wireBytes(data.length);
      frames++;
    }
    const frame = JSON.parse(data.toString()) as { signal: string; load?: unknown };
    if (frame.signal === 'data') {
      for (const [k, v] of Object.entries(frame.load as object)) held.set(k, v);
    } else if (frame.signal === '__delta') {
      const delta = frame.load as DeltaLoad;
      held.set(delta.key, applyDelta(held.get(delta.key), delta));
    }
    wake?.(frame.signal);
  });
  const next = (signal: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`W10: no "${signal}" within 300 s`)),
        300_000,
      );
      wake = (s) => {
        if (s !== signal) return;
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const connected = next('__connect');
  ws.send(JSON.stringify(deltas ? { __connect: null, __deltas: 1 } : { __connect: null }));
  await connected;
  const ready = next('ready');
  ws.send(JSON.stringify(setup));
  await ready;
  const done = next('done');
  counting = true;
  const t0 = performance.now();
  ws.send(JSON.stringify(run));
  await done;
  const ms = performance.now() - t0;
  ws.close();
  return { bytes, ms, frames, held };
}

/** W10 (a): the list, with `how` (`append`, or `set` of the whole list). */
export async function w10List(
  url: string,
  deltas: boolean,
  how: 'append' | 'set',
  start: number,
  grow: number,
): Promise<W10Figures & { appended: number }> {
  const r = await page(
    url,
    deltas,
    { signal: 'list_setup', load: [start] },
    { signal: 'list_grow', load: [grow, how] },
  );
  const xs = r.held.get('xs') as number[];
  if (xs.length !== start + grow || xs[start + grow - 1] !== start + grow - 1) {
    throw new Error(`W10 list: the page ends with ${xs.length} elements, not ${start + grow}`);
  }
  // the data added: each new element as JSON, with its comma
  let appended = 0;
  for (let i = start; i < start + grow; i++) appended += String(i).length + 1;
  return { bytes: r.bytes, ms: r.ms, frames: r.frames, appended };
}

/** W10 (b): the object of about `fields * size` bytes, one field changed `changes` times. */
export async function w10Object(
  url: string,
  deltas: boolean,
  how: 'patch' | 'set',
  fields: number,
  size: number,
  changes: number,
): Promise<W10Figures & { changed: number }> {
  const r = await page(
    url,
    deltas,
    { signal: 'object_setup', load: [fields, size] },
    { signal: 'object_change', load: [changes, fields, size, how] },
  );
  const big = r.held.get('big') as Record<string, string>;
  const last = changes - 1;
  if (big[`k${(last * 7919) % fields}`] !== `changed ${last}`.padEnd(size, '!')) {
    throw new Error('W10 object: the page does not end with the last change');
  }
  // the data changed: each new field value as JSON
  return { bytes: r.bytes, ms: r.ms, frames: r.frames, changed: changes * (size + 2) };
}

/**
 * The W10 table: with deltas and without, side by side (the `base` of the
 * bench's own server, `http://host:port`). `scale` shrinks the counts
 * (`--quick`).
 */
export async function w10Section(base: string, scale = 1): Promise<string[]> {
  const url = `${base.replace('http', 'ws')}/bench_deltas/ws`;
  const n = (x: number): number => Math.max(10, Math.round(x * scale));
  const start = n(10_000);
  const grow = n(10_000);
  const fields = 10_000;
  const size = 100; // 10,000 fields of 100 characters: about 1.1 MB of JSON
  const changes = n(1_000);
  const say = (s: string): boolean => process.stderr.write(`W10 ${s}…\n`);
  const kb = (b: number): string => (b / 1024).toFixed(b < 10_240 ? 1 : 0);
  const s = (ms: number): string =>
    ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : ms.toFixed(0) + ' ms';
  const rows: string[] = [];

  say('warm-up');
  for (const deltas of [true, false]) {
    await w10List(url, deltas, 'append', 1000, 3000);
    await w10Object(url, deltas, 'patch', 1000, size, 20);
  }
  say(`list ${start} + ${grow} appends, deltas`);
  const la = await w10List(url, true, 'append', start, grow);
  say('list, whole values (a 0.7 page)');
  const lw = await w10List(url, false, 'append', start, grow);
  say('list grown with set(), deltas (found by the diff)');
  const ls = await w10List(url, true, 'set', start, grow);
  say('list grown with set(), whole values (a 0.7 page)');
  const lsw = await w10List(url, false, 'set', start, grow);
  rows.push(
    `| list of ${start} + ${grow} appends | KiB on the wire | ${kb(la.bytes)} | ${kb(lw.bytes)} | ${(la.bytes / la.appended).toFixed(2)}× the appended ${kb(la.appended)} KiB (goal ≤ 2) |`,
    `| | time to the final state | ${s(la.ms)} | ${s(lw.ms)} | ${(lw.ms / la.ms).toFixed(1)}× faster (goal ≥ 10) |`,
    `| | frames | ${la.frames} | ${lw.frames} | |`,
    `| the same list grown with \`set\` (the diff finds the appends) | KiB on the wire | ${kb(ls.bytes)} | ${kb(lsw.bytes)} | ${(ls.bytes / ls.appended).toFixed(2)}× the appended data |`,
    `| | time to the final state | ${s(ls.ms)} | ${s(lsw.ms)} | ${(lsw.ms / ls.ms).toFixed(1)}× faster |`,
  );

  say(`object of ${fields} fields, ${changes} patches, deltas`);
  const oa = await w10Object(url, true, 'patch', fields, size, changes);
  say('object, whole values (a 0.7 page)');
  const ow = await w10Object(url, false, 'patch', fields, size, changes);
  say('object changed with set(), deltas (the structural diff)');
  const os = await w10Object(url, true, 'set', fields, size, changes);
  say('object changed with set(), whole values (a 0.7 page)');
  const osw = await w10Object(url, false, 'set', fields, size, changes);
  rows.push(
    `| ~1.1 MB object, ${changes} one-field patches | KiB on the wire | ${kb(oa.bytes)} | ${kb(ow.bytes)} | ${(oa.bytes / oa.changed).toFixed(2)}× the changed ${kb(oa.changed)} KiB (goal ≤ 2) |`,
    `| | time to the final state | ${s(oa.ms)} | ${s(ow.ms)} | ${(ow.ms / oa.ms).toFixed(1)}× faster (goal ≥ 10) |`,
    `| | frames | ${oa.frames} | ${ow.frames} | |`,
    `| the same object changed with \`set\` (structural diff) | KiB on the wire | ${kb(os.bytes)} | ${kb(osw.bytes)} | ${(os.bytes / os.changed).toFixed(2)}× the changed data |`,
    `| | time to the final state | ${s(os.ms)} | ${s(osw.ms)} | ${(osw.ms / os.ms).toFixed(1)}× faster |`,
  );
  return [
    '',
    `W10 deltas for big values (the \`bench_deltas\` analysis in-process; one run each${scale < 1 ? `, counts scaled by ${scale}` : ''})`,
    '',
    '| workload | metric | deltas | whole values (0.7 page) | deltas against whole / goal |',
    '|---|---|---:|---:|---|',
    ...rows,
  ];
}
