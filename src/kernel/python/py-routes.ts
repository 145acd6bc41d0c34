/**
 * The host's side of `routes.py`: databench 0.7's Tornado `RequestHandler`
 * routes beside a Python analysis, run in its kernel process
 * (python/databench/_routes.py). The kernel reports their patterns in its
 * `ready` message; each becomes an {@link ExtraRoute} of the analysis that
 * forwards the request over the kernel channel and writes the response the
 * kernel sends back. The server applies the origin rule of `routes.ts`
 * routes to them (state-changing requests need the page's own origin, or
 * `--allow-origin`, or `allow_cross_origin = True` on the handler class).
 *
 * Bounded: a request body of at most {@link ROUTE_MAX_BODY_BYTES} (413
 * beyond), a response of at most as much, {@link ROUTE_TIMEOUT_MS} for the
 * answer and {@link ROUTE_MAX_PENDING} requests in flight per analysis (503
 * beyond); a request the kernel cannot answer (the handler failed, the
 * process died, the time ran out) is a 500 with a log line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allowCrossOrigin, type ExtraRoute } from '../../analysis/routes.js';
import type { Logger } from '../../util/logger.js';

/** The largest request body forwarded to a `routes.py` handler (10 MiB); a larger one gets 413. */
export const ROUTE_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** How long a `routes.py` handler may take to answer (30 s); then the request gets a 500. */
export const ROUTE_TIMEOUT_MS = 30_000;
/** Requests to one analysis's `routes.py` in flight at most (64); more get 503. */
export const ROUTE_MAX_PENDING = 64;

/** A route of `routes.py` as the kernel reports it in `ready`. */
export interface PyRoute {
  /** Tornado's pattern (a Python regex), below `/<name>/`. */
  readonly pattern: string;
  /** The handler class has `allow_cross_origin = True`. */
  readonly crossOrigin: boolean;
}

/** Host → kernel: a request for a `routes.py` route. */
export interface HttpRequestMessage {
  readonly t: 'http';
  /** Numbered by the host, per kernel. */
  readonly rid: number;
  readonly method: string;
  /** Path and query, as sent. */
  readonly uri: string;
  /** In order, repeated names repeated. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Base64 of the body. */
  readonly body: string;
  readonly remoteIp: string;
  readonly protocol: 'http' | 'https';
}

/** Kernel → host: the response to `rid`. */
export interface HttpResponseMessage {
  readonly t: 'http-response';
  readonly rid: number;
  readonly status: number;
  readonly reason: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** Base64 of the body. */
  readonly body: string;
}

/** The routes a `ready` line carries, checked; [] when it has none. */
export function parsePyRoutes(value: unknown): PyRoute[] {
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (r): r is { pattern: string; crossOrigin?: unknown } =>
        typeof r === 'object' &&
        r !== null &&
        typeof (r as { pattern?: unknown }).pattern === 'string',
    )
    .map((r) => ({ pattern: r.pattern, crossOrigin: r.crossOrigin === true }));
}

/** An `http-response` line, checked; undefined when it is not one. */
export function parseHttpResponse(
  message: Record<string, unknown>,
): HttpResponseMessage | undefined {
  const { rid, status, reason, headers, body } = message;
  if (
    typeof rid !== 'number' ||
    typeof status !== 'number' ||
    !Number.isInteger(status) ||
    status < 100 ||
    status > 999 ||
    typeof body !== 'string' ||
    !Array.isArray(headers) ||
    !headers.every(
      (h) =>
        Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string',
    )
  ) {
    return undefined;
  }
  return {
    t: 'http-response',
    rid,
    status,
    reason: typeof reason === 'string' ? reason : '',
    headers: headers as Array<[string, string]>,
    body,
  };
}

/**
 * A Python regex as a JavaScript one, anchored as Tornado anchors a route
 * (the whole path below `/<name>/`): named groups `(?P<x>…)` and
 * backreferences `(?P=x)` are rewritten. Undefined when JavaScript cannot
 * read it.
 */
export function routePattern(pattern: string): RegExp | undefined {
  const body = pattern
    .replace(/\(\?P<([A-Za-z_][A-Za-z0-9_]*)>/g, '(?<$1>')
    .replace(/\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)/g, '\\k<$1>')
    .replace(/\$$/, '');
  try {
    return new RegExp(`^(?:${body})$`);
  } catch {
    return undefined;
  }
}

/** Hop-by-hop headers of a response: the server's own connection decides them. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'date',
  'server',
  'upgrade',
]);

/** What forwarding needs of the kernel: a process to send a request to. */
export interface RouteTarget {
  /** Send `message` to a live kernel process; resolves to a handle for its answer, or rejects when none can start. */
  send(message: HttpRequestMessage): Promise<object>;
}

interface Pending {
  readonly member: object;
  readonly res: ServerResponse;
  readonly what: string;
  readonly timer: ReturnType<typeof setTimeout>;
  readonly resolve: () => void;
}

/**
 * The `routes.py` routes of one Python analysis: the ExtraRoutes the
 * server serves, and the requests in flight.
 */
export class PyRoutes {
  /** The routes as the server serves them (empty until the first kernel process is ready). */
  routes: ExtraRoute[] = [];
  private readonly pending = new Map<number, Pending>();
  private nextRid = 1;

  constructor(
    private readonly name: string,
    private readonly target: RouteTarget,
    private readonly logger: Logger,
    /** How long a handler may take to answer. */
    private readonly timeoutMs = ROUTE_TIMEOUT_MS,
  ) {}

  /** The routes a kernel process reported (the first to be ready sets them). */
  set(routes: readonly PyRoute[]): void {
    if (this.routes.length > 0) return;
    const out: ExtraRoute[] = [];
    for (const route of routes) {
      const pattern = routePattern(route.pattern);
      if (pattern === undefined) {
        this.logger.warn(
          `[${this.name}] routes.py: the pattern ${JSON.stringify(route.pattern)} is not one JavaScript can match; it is not served`,
        );
        continue;
      }
      const handler = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
        this.forward(req, res);
      out.push([pattern, route.crossOrigin ? allowCrossOrigin(handler) : handler]);
    }
    this.routes = out;
  }

  /** Forward one request and write the kernel's response (or a 413, 500 or 503). */
  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const what = `${req.method ?? 'GET'} ${req.url ?? '/'}`;
    if (this.pending.size >= ROUTE_MAX_PENDING) {
      this.logger.warn(
        `[${this.name}] routes.py: ${what} refused: ${ROUTE_MAX_PENDING} requests are in flight`,
      );
      plain(res, 503, 'too many requests in flight\n');
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      plain(res, 413, `request body larger than ${ROUTE_MAX_BODY_BYTES} bytes\n`, true);
      return;
    }
    const rid = this.nextRid++;
    const headers: Array<[string, string]> = [];
    for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
      headers.push([req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? '']);
    }
    const message: HttpRequestMessage = {
      t: 'http',
      rid,
      method: req.method ?? 'GET',
      uri: req.url ?? '/',
      headers,
      body: body.toString('base64'),
      remoteIp: req.socket.remoteAddress ?? '',
      protocol: (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http',
    };
    let member: object;
    try {
      member = await this.target.send(message);
    } catch (error) {
      this.fail(res, what, `no kernel process to run it: ${(error as Error).message}`);
      return;
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        this.fail(res, what, `no answer within ${this.timeoutMs / 1000} s`);
        resolve();
      }, this.timeoutMs);
      this.pending.set(rid, { member, res, what, timer, resolve });
    });
  }

  /** The kernel answered `rid`. */
  answer(message: HttpResponseMessage): void {
    const pending = this.pending.get(message.rid);
    if (!pending) return;
    this.pending.delete(message.rid);
    clearTimeout(pending.timer);
    const body = Buffer.from(message.body, 'base64');
    if (body.length > ROUTE_MAX_BODY_BYTES) {
      this.fail(pending.res, pending.what, `its response has ${body.length} bytes`);
      pending.resolve();
      return;
    }
    const { res } = pending;
    if (!res.headersSent && !res.destroyed) {
      const headers: Array<[string, string]> = [];
      for (const [key, value] of message.headers) {
        if (!HOP_BY_HOP.has(key.toLowerCase())) headers.push([key, value]);
      }
      headers.push(['Content-Length', String(body.length)]);
      try {
        // a reason phrase Node would refuse (non-ASCII) is left to Node's default
        const reason = /^[\t\x20-\x7e]*$/.test(message.reason) ? message.reason : '';
        res.writeHead(message.status, reason || undefined, headers.flat());
        res.end(body);
      } catch (error) {
        this.fail(res, pending.what, `its response cannot be sent: ${(error as Error).message}`);
      }
    }
    pending.resolve();
  }

  /** A kernel process has gone: its requests in flight get a 500. */
  memberGone(member: object, cause: string): void {
    for (const [rid, pending] of this.pending) {
      if (pending.member !== member) continue;
      this.pending.delete(rid);
      clearTimeout(pending.timer);
      this.fail(pending.res, pending.what, `its kernel process stopped (${cause})`);
      pending.resolve();
    }
  }

  private fail(res: ServerResponse, what: string, why: string): void {
    this.logger.error(`[${this.name}] routes.py: ${what} failed: ${why}`);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    plain(res, 500, 'internal server error\n');
  }
}

function plain(res: ServerResponse, status: number, text: string, close = false): void {
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(text);
}

/** The request's body, or undefined once it grows past {@link ROUTE_MAX_BODY_BYTES}. */
function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      if (over) return;
      size += chunk.length;
      if (size > ROUTE_MAX_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        // answered at once: the rest is read and dropped, the connection then closes
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}
