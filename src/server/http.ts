import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, sep } from 'node:path';
import type Send from 'send';
import { describeError } from '../protocol/errors.js';
import type { AnalysisEntry, App } from '../app/app.js';
import { clientBundle } from '../pages/client-bundle.js';
import type { Logger } from '../util/logger.js';
import { entryLoadError } from '../loader/load-error.js';
import type { AuthUser } from '../analysis/user.js';
import { redactUrl } from './auth.js';
import { isSameSiteRequest } from './net.js';
import type { ResolvedContentSecurityPolicy } from './options.js';
import {
  describeTemplateError,
  isTemplateError,
  TEMPLATES_DIR,
  type Pages,
  type RenderedPage,
} from '../pages/pages.js';
import { allowsCrossOrigin } from '../analysis/routes.js';
import { vendorFile } from '../pages/vendor.js';

/** What the HTTP handler reads on every request (replaced as a whole when analyses reload). */
export interface HttpState {
  app: App;
  pages: Pages;
  /** Serve this analysis at `/` (the `run()` entry). */
  single: string | undefined;
  /** Show file, line and code of a load error on the analysis's page. Default: true. */
  errorDetails?: boolean;
}

const NAME_PATH = /^\/([A-Za-z_][A-Za-z0-9_]*)(\/.*)?$/;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A rendered page, with the Content-Security-Policy its scripts allow. */
function page(
  res: ServerResponse,
  status: number,
  rendered: RenderedPage,
  options: HttpOptions,
): void {
  const csp = options.contentSecurityPolicy(rendered.nonce);
  if (csp !== false) res.setHeader('Content-Security-Policy', csp);
  html(res, status, rendered.html);
}

function html(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(body);
}

/** The real path of `path`, or undefined when it (or a folder on the way) does not exist. */
async function realPathOf(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw error;
  }
}

/**
 * Serve a file below `root` with `send` (content type, ETag, Last-Modified,
 * ranges, HEAD; refuses `..` and dotfiles). A symlink that leads out of
 * `root` counts as no file (no escape through a link). Resolves false when there is no such
 * file, so the caller can try the next place.
 */
async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  relPath: string,
): Promise<boolean> {
  const rel = relPath.replace(/^\/+/, '');
  const [realRoot, realFile] = await Promise.all([realPathOf(root), realPathOf(join(root, rel))]);
  if (realRoot === undefined || realFile === undefined) return false;
  if (!realFile.startsWith(realRoot + sep)) return false;
  return sendChecked(req, res, root, rel);
}

/** `send`, imported with the first static file: a page that serves none never loads it. */
let sendModule: Promise<{ default: typeof Send }> | undefined;

async function sendChecked(
  req: IncomingMessage,
  res: ServerResponse,
  root: string,
  rel: string,
): Promise<boolean> {
  sendModule ??= import('send');
  const { default: send } = await sendModule;
  return new Promise((resolve, reject) => {
    const stream = send(req, encodeURI('/' + rel), {
      root,
      dotfiles: 'deny',
      index: false,
    });
    stream.on('error', (error: Error & { status?: number }) => {
      const status = error.status ?? 500;
      if (status === 404) resolve(false);
      else if (status === 403) reject(new HttpError(403, 'forbidden path'));
      else if (status < 500) reject(new HttpError(status, error.message));
      else reject(error);
    });
    // a folder is not a file here (send would redirect to a path of its own making)
    stream.on('directory', () => resolve(false));
    stream.on('headers', (r: ServerResponse) => r.setHeader('X-Content-Type-Options', 'nosniff'));
    res.once('finish', () => resolve(true));
    stream.pipe(res);
  });
}

/** Settings of {@link createRequestHandler} that do not change on reload. */
export interface HttpOptions {
  /** Origins that may call state-changing routes (and open sockets) besides the page's own. */
  allowOrigins: ReadonlySet<string>;
  /** The Content-Security-Policy header by the page's nonce; false sends none (resolved with the server's options). */
  contentSecurityPolicy: ResolvedContentSecurityPolicy;
  /** Whether a user may open an analysis (page, files, routes; the index lists only those). Default: everyone. */
  canOpen?: (user: AuthUser | undefined, entry: AnalysisEntry) => boolean | Promise<boolean>;
}

/**
 * The request handler of a databench server: every route of the analyses
 * folder, for `user` (who the login says sent it; undefined: nobody).
 */
export function createRequestHandler(
  getState: () => HttpState,
  logger: Logger,
  cwd: string,
  options: HttpOptions,
): (req: IncomingMessage, res: ServerResponse, user?: AuthUser) => void {
  // every response that is not a page (files, routes, redirects) gets the page-less policy
  const csp = options.contentSecurityPolicy(undefined);
  return (req, res, user) => {
    // on every response (a routes.ts handler may change them): no sniffing
    // a type into HTML, no framing by other sites, the policy above
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'SAMEORIGIN');
    if (csp !== false) res.setHeader('Content-Security-Policy', csp);
    const state = getState();
    route(req, res, state, cwd, options, user).catch(async (error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (isTemplateError(error)) {
        // the page author's mistake: file, line and message, not a stack of ours
        logger.error(
          `${req.method} ${redactUrl(req.url)}: template error: ${describeTemplateError(error)}`,
        );
        if (res.headersSent) res.destroy();
        else page(res, 500, await state.pages.templateErrorPage(error), options);
        return;
      }
      // a routes.ts handler may throw anything, even null: describing it must not throw
      if (status === 500)
        logger.error(`${req.method} ${redactUrl(req.url)}: ${describeError(error).stack}`);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const message = error instanceof HttpError ? error.message : 'internal server error';
      page(res, status, await state.pages.errorPage(`${status}`, message), options);
    });
  };
}

async function notFound(
  res: ServerResponse,
  state: HttpState,
  path: string,
  options: HttpOptions,
): Promise<void> {
  // a page's client asks here when its socket is refused: tell it no analysis is served there
  if (/(^|\/)ws$/.test(path)) res.setHeader('X-Databench-No-Analysis', '1');
  const rendered = await state.pages.errorPage('404: not found', `There is nothing at ${path}.`);
  page(res, 404, rendered, options);
}

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  state: HttpState,
  cwd: string,
  options: HttpOptions,
  user: AuthUser | undefined,
): Promise<void> {
  const method = req.method ?? 'GET';
  // route on the path as sent: URL parsing would quietly resolve `..`
  const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
  const url = { pathname: rawPath };
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    throw new HttpError(400, 'malformed URL encoding');
  }
  if (path.includes('\0') || path.split(/[/\\]/).includes('..')) {
    throw new HttpError(403, 'forbidden path');
  }
  const { app } = state;
  const readOnly = method === 'GET' || method === 'HEAD';
  if (state.single !== undefined) {
    // run(): the static map applies to the paths as served, before the analysis prefix
    if (readOnly && (await sendStaticMap(req, res, app, path))) return;
    if (!path.startsWith('/_static/')) path = `/${state.single}${path}`;
  }

  // analysis routes: extra routes take any method
  const match = NAME_PATH.exec(path);
  const entry = match ? app.entries.get(match[1] ?? '') : undefined;
  if (entry) {
    // its page, files, routes and socket probe follow its rule
    if (options.canOpen !== undefined && !(await options.canOpen(user, entry))) {
      throw new HttpError(
        403,
        user === undefined
          ? `Analysis "${entry.name}" is open to signed-in users only.`
          : `You may not open analysis "${entry.name}".`,
      );
    }
    const rest = (match?.[2] ?? '').replace(/^\//, '');
    if (match?.[2] === undefined) {
      const query = (req.url ?? '').includes('?')
        ? (req.url ?? '').slice((req.url ?? '').indexOf('?'))
        : '';
      res.writeHead(301, { Location: `/${entry.name}/${query}` }).end();
      return;
    }
    for (const [pattern, handler] of entry.kernel?.extraRoutes ?? []) {
      const hit =
        typeof pattern === 'string' ? pattern.replace(/^\//, '') === rest : pattern.test(rest);
      if (hit) {
        // a route that changes state gets the Origin check of sockets (no cross-site POST)
        if (
          !readOnly &&
          !allowsCrossOrigin(handler) &&
          !isSameSiteRequest(req, options.allowOrigins)
        ) {
          throw new HttpError(
            403,
            `cross-origin ${method} refused: the page's origin must match the server (or be given with --allow-origin)`,
          );
        }
        await handler(req, res);
        return;
      }
    }
    if (!readOnly) return methodNotAllowed(res);
    if (await analysisRoute(req, res, state, entry, rest, options)) return;
    return notFound(res, state, url.pathname, options);
  }

  if (!readOnly) return methodNotAllowed(res);
  if (path === '/' || path === '/index.html') {
    page(res, 200, await state.pages.index(await visibleTo(user, app, options)), options);
    return;
  }
  if (path === '/_static/databench.js') {
    const bundle = await clientBundle();
    const headers = {
      'Content-Type': 'text/javascript; charset=utf-8',
      'Cache-Control': 'no-cache',
      ETag: bundle.etag,
      'X-Content-Type-Options': 'nosniff',
    };
    if (req.headers['if-none-match'] === bundle.etag) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Length': Buffer.byteLength(bundle.text) });
    res.end(bundle.text);
    return;
  }
  if (path.startsWith('/_static/vendor/')) {
    const vendored = vendorFile(path.slice(16));
    if (vendored && (await sendFile(req, res, vendored.root, vendored.file))) return;
    return notFound(res, state, url.pathname, options);
  }
  if (path.startsWith('/_static/')) {
    if (await sendFile(req, res, join(TEMPLATES_DIR, 'static'), path.slice(9))) return;
    return notFound(res, state, url.pathname, options);
  }
  // index.yaml's static map wins over the built-in /static/ and /node_modules/
  // routes (0.7 examples map static/(d3\.min\.js) into node_modules/d3/)
  if (await sendStaticMap(req, res, app, path)) return;
  if (path.startsWith('/static/')) {
    if (await sendFile(req, res, join(app.dir, 'static'), path.slice(8))) return;
    return notFound(res, state, url.pathname, options);
  }
  if (path.startsWith('/node_modules/')) {
    const rest = path.slice(14);
    for (const root of [join(app.dir, 'node_modules'), join(cwd, 'node_modules')]) {
      if ((await isPackageFile(root, rest)) && (await sendFile(req, res, root, rest))) return;
    }
    return notFound(res, state, url.pathname, options);
  }
  return notFound(res, state, url.pathname, options);
}

const PACKAGE_FILE = /^((?:@[^/]+\/)?[^/]+)\/[^/]/;

/**
 * Whether `rest` (below a node_modules folder) is a file of a package:
 * `<pkg>/…` or `@scope/pkg/…` where the package has its package.json. Pages
 * load libraries from there; anything else in node_modules is not served.
 */
async function isPackageFile(root: string, rest: string): Promise<boolean> {
  const pkg = PACKAGE_FILE.exec(rest)?.[1];
  if (pkg === undefined) return false;
  try {
    return (await stat(join(root, pkg, 'package.json'))).isFile();
  } catch {
    return false;
  }
}

/** The `static` regex map of index.yaml: URL regex with one capture group → folder. */
async function sendStaticMap(
  req: IncomingMessage,
  res: ServerResponse,
  app: App,
  path: string,
): Promise<boolean> {
  for (const [pattern, folder] of app.info.static) {
    const m = pattern.exec(path);
    if (m && m[1] !== undefined && (await sendFile(req, res, folder, m[1]))) return true;
  }
  return false;
}

/** JSON safe inside a `<script>` element: no `</script>`, no `<!--`. */
function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

/** The names of the analyses `user` may open (for the index); undefined: every one. */
async function visibleTo(
  user: AuthUser | undefined,
  app: App,
  options: HttpOptions,
): Promise<ReadonlySet<string> | undefined> {
  const canOpen = options.canOpen;
  if (canOpen === undefined) return undefined;
  const entries = [...app.entries.values()];
  // (a sync verdict is wrapped: authorize may be async)
  const verdicts = await Promise.all(entries.map(async (e) => canOpen(user, e)));
  return new Set(entries.filter((_, i) => verdicts[i]).map((e) => e.name));
}

function methodNotAllowed(res: ServerResponse): void {
  res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('method not allowed\n');
}

async function analysisRoute(
  req: IncomingMessage,
  res: ServerResponse,
  state: HttpState,
  entry: AnalysisEntry,
  rest: string,
  options: HttpOptions,
): Promise<boolean> {
  if (rest === '' || /^[A-Za-z0-9_-]+\.html$/.test(rest)) {
    const loadError = entryLoadError(entry, state.app.dir, state.errorDetails ?? true);
    if (loadError !== undefined && !entry.kernel) {
      // the error in the page's layout; the page reloads itself once a save fixes it
      page(res, 500, await state.pages.loadErrorPage(entry, loadError), options);
      return true;
    }
    const file = rest === '' ? 'index.html' : rest;
    try {
      const view = await state.pages.view(entry, file);
      let body = view.html;
      let island = '';
      // (type errors reach the page's error panel over its socket: `__type_errors`)
      if (loadError !== undefined) {
        // a failed reload: the last good version serves; the page's error panel
        // (ui.wire) shows the error from this island until a save fixes it
        island += `<script type="application/json" id="databench-load-error">${jsonForScript(loadError)}</script>`;
      }
      if (island) {
        body = /<body[^>]*>/i.test(body)
          ? body.replace(/<body[^>]*>/i, (m) => m + island)
          : island + body;
      }
      page(res, 200, { html: body, nonce: view.nonce }, options);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    return true;
  }
  if (rest.startsWith('static/'))
    return sendFile(req, res, join(entry.dir, 'static'), rest.slice(7));
  if (rest === 'analysis.js' || rest === 'analysis.css' || rest === entry.thumbnail) {
    return sendFile(req, res, entry.dir, rest);
  }
  if (rest === 'ws') {
    res.writeHead(426, { Upgrade: 'websocket', 'Content-Type': 'text/plain' });
    res.end('this is a WebSocket endpoint\n');
    return true;
  }
  return false;
}
