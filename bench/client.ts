// The pages of `npm run bench`: one WebSocket each, doing the least per
// frame that a real page does: parse it, match it, send the next. Loops that
// time something run inside the socket's message callback (one Promise per
// batch, none per frame) and write into arrays allocated before the timing
// starts, so the client's own work and garbage stay out of the figures as far
// as they can; `clientGc()` says how much the client collected garbage during
// the timed parts anyway.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import WebSocket from 'ws';

/** A frame as the bench reads it: `JSON.parse` of its text (narrowed where it is used). */
export interface Frame {
  signal?: unknown;
  load?: unknown;
}

/** What a page does with each frame while a loop runs; between loops frames are only counted. */
type Handler = (frame: Frame) => void;

/** The stretches of time (performance.now()) of the timed parts so far. */
const windows: Array<{ start: number; end: number }> = [];
/** The client's GC pauses that began inside a timed part: [start, ms]. */
const pauses: Array<[number, number]> = [];
// entries arrive after the fact (a later task): placed by their start time
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    for (let i = windows.length - 1; i >= 0; i--) {
      const w = windows[i]!;
      if (entry.startTime > w.end) break;
      if (entry.startTime >= w.start) {
        pauses.push([entry.startTime, entry.duration]);
        break;
      }
    }
  }
}).observe({ entryTypes: ['gc'] });

/** Run `fn`, the timed part of a workload: the client's GC pauses in it are counted. */
export async function measuring<T>(fn: () => Promise<T>): Promise<T> {
  const w = { start: performance.now(), end: Infinity };
  windows.push(w);
  try {
    return await fn();
  } finally {
    w.end = performance.now();
  }
}

/** The client's GC pauses in timed parts between `from` and `to` (performance.now()). */
export async function clientGc(from: number, to: number): Promise<{ count: number; ms: number }> {
  // let the observer take what is queued
  await new Promise((resolve) => setTimeout(resolve, 50));
  let count = 0;
  let ms = 0;
  for (const [start, duration] of pauses) {
    if (start < from || start > to) continue;
    count++;
    ms += duration;
  }
  return { count, ms };
}

/** One page: a socket, connected with `__connect`. */
export class Page {
  /** Called with every parsed frame while a loop runs. */
  handler: Handler | undefined;
  /** Frames received so far. */
  frames = 0;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames++;
      const handler = this.handler;
      if (handler !== undefined) handler(JSON.parse(data.toString()) as Frame);
    });
  }

  /** Open a socket to `url` and wait for the `__connect` reply. */
  static async open(url: string): Promise<Page> {
    const ws = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const page = new Page(ws);
    const connected = page.next((f) => f.signal === '__connect');
    ws.send('{"__connect":null}');
    await connected;
    return page;
  }

  /** The next frame that `match` accepts (for the untimed steps: one Promise each). */
  next(match: (frame: Frame) => boolean): Promise<Frame> {
    return new Promise((resolve) => {
      this.handler = (frame) => {
        if (!match(frame)) return;
        this.handler = undefined;
        resolve(frame);
      };
    });
  }

  /** Send an action: `{"signal": …, "load": …}`. */
  send(signal: string, load: unknown): void {
    this.ws.send(JSON.stringify({ signal, load }));
  }

  /** Close the socket and wait until it has closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.ws.readyState === WebSocket.CLOSED) return resolve();
      this.ws.once('close', () => resolve());
      this.ws.close();
    });
  }
}

/** Open `count` pages on `url`, 50 at a time. */
export async function openPages(url: string, count: number): Promise<Page[]> {
  const pages: Page[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, () => Page.open(url));
    pages.push(...(await Promise.all(batch)));
  }
  return pages;
}

/** Close every page and wait for all of them. */
export async function closeAll(pages: Page[]): Promise<void> {
  await Promise.all(pages.map((p) => p.close()));
}

/**
 * Round trips one after another: send `frames[i]`, wait for the frame
 * `isReply(frame, i)` accepts, send the next. `times[i]` gets the µs of
 * round trip i. Frames are built before (the same for every target).
 */
export function roundTrips(
  page: Page,
  frames: readonly Buffer[],
  isReply: (frame: Frame, i: number) => boolean,
  times: Float64Array,
): Promise<void> {
  const count = Math.min(frames.length, times.length);
  return new Promise((resolve) => {
    let i = 0;
    let t0 = 0;
    page.handler = (frame) => {
      if (!isReply(frame, i)) return;
      const t = performance.now();
      times[i] = (t - t0) * 1000;
      if (++i === count) {
        page.handler = undefined;
        resolve();
        return;
      }
      t0 = performance.now();
      page.ws.send(frames[i]!, { binary: false });
    };
    t0 = performance.now();
    page.ws.send(frames[0]!, { binary: false });
  });
}

/**
 * Send `request` and take every frame until one with signal `last`: the ms
 * to it, and in `gaps` the µs between one frame and the next.
 */
export function stream(
  page: Page,
  request: string,
  last: string,
  gaps: Float64Array,
): Promise<{ ms: number; frames: number }> {
  return new Promise((resolve) => {
    let frames = 0;
    const t0 = performance.now();
    let previous = t0;
    page.handler = (frame) => {
      const t = performance.now();
      if (frames < gaps.length) gaps[frames] = (t - previous) * 1000;
      previous = t;
      frames++;
      if (frame.signal !== last) return;
      page.handler = undefined;
      resolve({ ms: t - t0, frames });
    };
    page.ws.send(request);
  });
}

/**
 * Fan-out: every page of `pages` waits for a `class_data` frame with
 * `{key: value}`, `sender` sends `set_shared`; resolves to the ms until the
 * last page has it. One handler per page for the whole workload: `arm`
 * sets what they wait for.
 */
export class FanOut {
  private value: unknown = undefined;
  private remaining = 0;
  private done: (() => void) | undefined;

  constructor(
    private readonly pages: readonly Page[],
    private readonly key: string,
  ) {
    const onFrame: Handler = (frame) => {
      if (frame.signal !== 'class_data' || this.remaining === 0) return;
      const load = frame.load as Record<string, unknown> | null;
      if (load === null || typeof load !== 'object' || load[this.key] !== this.value) return;
      if (--this.remaining === 0) this.done?.();
    };
    for (const page of pages) page.handler = onFrame;
  }

  /** One fan-out of `value` (new each time: an unchanged value sends nothing); ms. */
  run(value: number): Promise<number> {
    const sender = this.pages[0];
    if (!sender) return Promise.resolve(NaN);
    return new Promise((resolve) => {
      this.value = value;
      this.remaining = this.pages.length;
      const t0 = performance.now();
      this.done = () => resolve(performance.now() - t0);
      sender.send('set_shared', [this.key, value]);
    });
  }

  /** Take the handlers off the pages. */
  release(): void {
    for (const page of this.pages) page.handler = undefined;
  }
}

/** The load of a frame when it is a list. */
export const loadOf = (f: Frame): unknown[] | undefined =>
  Array.isArray(f.load) ? f.load : undefined;

/** The value of `key` in a frame's load when it is an object. */
const keyOf = (f: Frame, key: string): unknown =>
  f.load !== null && typeof f.load === 'object' ? (f.load as Record<string, unknown>)[key] : NaN;

/** W2: an action whose handler emits its arguments back. */
export const echoFrame = (i: number): string => `{"signal":"test_fn","load":[${i},2]}`;
/** Whether `f` answers {@link echoFrame}(i). */
export const isEcho = (f: Frame, i: number): boolean =>
  f.signal === 'test_fn' && loadOf(f)?.[0] === i;
/** W3: an action whose handler writes a data key; the reply is its `data` frame. */
export const stateFrame = (i: number): string => `{"signal":"test_state","load":["k",${i}]}`;
/** Whether `f` answers {@link stateFrame}(i). */
export const isState = (f: Frame, i: number): boolean => f.signal === 'data' && keyOf(f, 'k') === i;
