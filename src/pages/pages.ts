import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import vm from 'node:vm';
import type { LoadErrorLoad } from '../protocol/messages.js';
import type { AnalysisEntry, App } from '../app/app.js';
import type { Logger } from '../util/logger.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import { withoutDetails } from '../util/error-text.js';
import { entryLoadError } from '../loader/load-error.js';
import {
  RENDER_LIMITS,
  RenderBudget,
  TemplateBudgetError,
  type RenderLimits,
} from './render-budget.js';
import { needsInlineScripts, templateReferences } from './inline-scripts.js';
import { TemplateSyntaxError } from './tornado/syntax-error.js';
import type { PageEngine } from './engine.js';

/** The package's page templates (base.html, analysis.html, index.html, error.html, static/). */
export const TEMPLATES_DIR = join(PACKAGE_ROOT, 'templates');

/** The variables every page gets (the names databench 0.7 gave its templates). */
export interface PageContext {
  title: string;
  description: string;
  readme: string;
  version: string;
  databench_version: string;
  home_link: string;
  [key: string]: unknown;
}

/**
 * A template error as `file:line: message` (`file: message` when Nunjucks
 * knows no line, as for an error raised inside a function the template
 * called). Nunjucks writes `(file) [Line N, Column M]` with both counted
 * from 0 (and columns of a translated Tornado file would not match the
 * original): keep the line, from 1.
 */
export function describeTemplateError(error: Error): string {
  const m = /^\(([^)\n]*)\)(?: \[Line (\d+), Column \d+\])?\s*([\s\S]*)$/.exec(error.message);
  if (!m) return error.message;
  const line = m[2] === undefined ? '' : `:${Number(m[2]) + 1}`;
  return `${m[1] ?? ''}${line}: ${(m[3] ?? '').trim()}`;
}

/** Whether `error` came from a page template (Nunjucks, a Tornado file that could not be translated, a render past its budget). */
export function isTemplateError(error: unknown): error is Error {
  return (
    error instanceof TemplateSyntaxError ||
    error instanceof TemplateBudgetError ||
    (error instanceof Error && error.name === 'Template render error')
  );
}

/** A rendered page and what its Content-Security-Policy may be. */
export interface RenderedPage {
  html: string;
  /**
   * The nonce its inline scripts carry (`nonce="{{ csp_nonce }}"`): the page
   * runs under a policy that allows no other inline script. Undefined when
   * one of its templates has an inline script, an event handler attribute
   * or a `javascript:` URL without it (a databench 0.7 page): that page
   * needs `'unsafe-inline'`.
   */
  nonce: string | undefined;
}

/**
 * A Nunjucks render that takes a callback, as a Promise. With the package's
 * file loader every template is read, compiled and rendered before `render`
 * returns; only the callback comes later.
 */
function rendering(render: (cb: (error: Error | null, out: string | null) => void) => void) {
  return new Promise<string>((resolve, reject) =>
    render((error, out) => (error ? reject(error) : resolve(out ?? ''))),
  );
}

/** The script every guarded render runs in: a call of the render, under the time limit. */
/** Template names remembered as rendered once, at most (a folder has a few dozen). */
const MAX_RENDERED_NAMES = 10_000;
const GUARD = new vm.Script('render()', { filename: 'databench-page-render' });

/**
 * Renders pages with Nunjucks (Jinja2 syntax: `{% extends %}`, `{% block %}`,
 * `{{ value }}`), autoescaping on. Templates are looked up in the analyses
 * folder first, then in the package, so a user's `base.html` or
 * `analysis.html` replaces ours.
 */
export class Pages {
  /** Nunjucks and the Tornado translation, loaded with the first render. */
  private engine: Promise<PageEngine> | undefined;
  private readonly noCache: boolean;
  /** Show a template error's file, line and message on the page (development). */
  readonly development: boolean;
  /** Show load errors on the index whole (paths, stack frames, source); the message alone otherwise. */
  readonly errorDetails: boolean;
  /** What one render may cost. */
  readonly limits: RenderLimits;
  private readonly logger: Logger | undefined;
  /** The budget of the render under way (renders are synchronous: one at a time). */
  private budget: RenderBudget | undefined;
  /** Templates rendered once in full (their later renders get the plain time limit). */
  private readonly rendered = new Set<string>();
  /**
   * The context of the time guard: its `render` is the render under way.
   * A context is a V8 global of its own: made with the first render.
   */
  private guard: vm.Context | undefined;
  /** Template name → whether a page rendered from it needs inline scripts without the nonce (cached with the templates). */
  private readonly inline = new Map<string, boolean>();

  constructor(
    private readonly app: App,
    private readonly databenchVersion: string,
    options: {
      noCache: boolean;
      development?: boolean;
      /** What one render may cost. Default: {@link RENDER_LIMITS}. */
      limits?: RenderLimits;
      /** Where a failing error page's template is reported (the page falls back to plain HTML). */
      logger?: Logger;
      /** Show load errors on the index whole (paths, stack frames, source). Default: true. */
      errorDetails?: boolean;
    },
  ) {
    this.logger = options.logger;
    this.noCache = options.noCache;
    this.limits = options.limits ?? RENDER_LIMITS;
    this.development = options.development ?? false;
    this.errorDetails = options.errorDetails ?? true;
  }

  private loadEngine(): Promise<PageEngine> {
    this.engine ??= import('./engine.js').then(({ createPageEngine }) =>
      createPageEngine([this.app.dir, TEMPLATES_DIR], this.noCache, () => this.budget),
    );
    return this.engine;
  }

  /** The load error of `entry` as the index shows it (null when it loaded). */
  private entryError(entry: AnalysisEntry): string | null {
    if (entry.error === undefined) return null;
    if (this.errorDetails) return entry.error;
    return entryLoadError(entry, this.app.dir, false)?.message ?? null;
  }

  /**
   * Run one synchronous render within the budget: steps and characters are
   * counted by the template's expressions and loops, and a render that runs
   * past the time limit is stopped wherever it is (the server's thread is
   * not held by one page). `what` names the template in the error.
   */
  private async guarded(what: string, render: () => Promise<string>): Promise<string> {
    const budget = new RenderBudget(this.limits);
    this.budget = budget;
    const guard = (this.guard ??= vm.createContext({ render: undefined as unknown }));
    guard['render'] = render;
    // a template's first render also compiles what it extends and warms the
    // engine's code: on a loaded machine that alone took 200–500 ms, so it
    // gets four times the time; the step and size budgets are the same
    const timeMs = this.rendered.has(what) ? this.limits.timeMs : this.limits.timeMs * 4;
    let result: Promise<string>;
    try {
      result = GUARD.runInContext(guard, { timeout: timeMs }) as Promise<string>;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
        throw new TemplateBudgetError(
          `${what}: the page took longer than ${timeMs} ms to render: page templates read and test the page’s data; compute values in the analysis`,
        );
      }
      throw error;
    } finally {
      this.budget = undefined;
      guard['render'] = undefined;
    }
    const html = await result;
    if (this.rendered.size < MAX_RENDERED_NAMES) this.rendered.add(what);
    // before anything flattens it: a page built by appends may be far larger than its memory
    if (html.length > this.limits.chars) {
      try {
        budget.checkPage(html.length);
      } catch (error) {
        (error as Error).message = `${what}: ${(error as Error).message}`;
        throw error;
      }
    }
    return html;
  }

  /** A nonce for one page's inline scripts: 128 random bits. */
  private static nonce(): string {
    return randomBytes(16).toString('base64');
  }

  /**
   * Whether the page rendered from template `name` (and what it extends,
   * includes and imports) needs inline scripts without the nonce. A name
   * that is not a string literal could be anything: yes.
   */
  private needsInline(engine: PageEngine, name: string, seen = new Set<string>()): boolean {
    const cached = this.noCache ? undefined : this.inline.get(name);
    if (cached !== undefined) return cached;
    if (seen.has(name)) return false;
    seen.add(name);
    let result: boolean;
    try {
      const source = engine.source(name);
      result = source === null ? true : this.sourceNeedsInline(engine, source, seen);
    } catch {
      // the render reports what is wrong with it
      result = true;
    }
    if (!this.noCache) this.inline.set(name, result);
    return result;
  }

  private sourceNeedsInline(engine: PageEngine, source: string, seen: Set<string>): boolean {
    if (needsInlineScripts(source)) return true;
    for (const ref of templateReferences(source)) {
      if (ref === undefined || this.needsInline(engine, ref, seen)) return true;
    }
    return false;
  }

  private base(title: string, description: string, readme: string): PageContext {
    return {
      title,
      description,
      readme,
      version: this.app.info.version,
      databench_version: this.databenchVersion,
      home_link: '/',
      author: this.app.info.author,
      // what databench 0.4's base.html read; harmless for newer templates
      logo_url: '/_static/logo.svg',
      favicon_url: '/_static/favicon.ico',
      footer_html: '',
      injection_head: '',
      injection_footer: '',
    };
  }

  private async render(name: string, context: PageContext): Promise<RenderedPage> {
    let nonce: string | undefined;
    const engine = await this.loadEngine();
    // compiled (once) before the time limit starts: only the render is timed
    const template = engine.env.getTemplate(name, true);
    const html = await this.guarded(name, () => {
      nonce = this.needsInline(engine, name) ? undefined : Pages.nonce();
      return rendering((cb) => template.render({ ...context, csp_nonce: nonce ?? '' }, cb));
    });
    return { html, nonce };
  }

  /**
   * The index of the folder: one box per analysis that is shown in the
   * index, of those named in `visible` (the ones the visitor may open;
   * undefined: all). An analysis not visible is not on the page at all.
   */
  index(visible?: ReadonlySet<string>): Promise<RenderedPage> {
    const { info } = this.app;
    const entries = [...this.app.entries.values()].filter(
      (e) => visible === undefined || visible.has(e.name),
    );
    // every analysis, with databench 0.7's meta_infos fields (a 0.7 index.html
    // filters on show_in_index and builds /name/thumbnail itself)
    const analyses = entries.map((e) => ({
      name: e.name,
      title: e.title,
      description: e.description,
      show_in_index: e.showInIndex,
      thumbnail: e.thumbnail ?? null,
      thumbnail_url: e.thumbnail ? `/${e.name}/${e.thumbnail}` : null,
      readme: e.readmeHtml,
      url: `/${e.name}/`,
      error: this.entryError(e),
    }));
    const errors = [
      // a problem of a hidden analysis's entry is not shown either
      ...this.app.errors
        .filter(
          (e) => visible === undefined || !this.app.entries.has(e.name) || visible.has(e.name),
        )
        .map((e) =>
          this.errorDetails
            ? e
            : { name: e.name, message: withoutDetails(e.message, this.app.dir) },
        ),
      ...analyses
        .filter((e) => e.error !== null)
        .map((e) => ({ name: e.name, message: e.error ?? '' })),
    ];
    return this.render('index.html', {
      ...this.base(info.title, info.description, info.readmeHtml),
      description_html: info.readmeHtml,
      analyses,
      meta_infos: analyses,
      errors,
    });
  }

  /**
   * A view of an analysis (`index.html` or another `*.html`): rendered as a
   * template when it holds template syntax, served as it is otherwise.
   */
  async view(entry: AnalysisEntry, file: string): Promise<RenderedPage> {
    const path = join(entry.dir, file);
    const source = await readFile(path, 'utf8');
    if (!/\{[{%#]/.test(source)) {
      // a plain HTML file cannot carry a nonce: it runs under the strict policy when it needs none
      return { html: source, nonce: needsInlineScripts(source) ? undefined : Pages.nonce() };
    }
    const engine = await this.loadEngine();
    // compiled before the time limit starts: only the render is timed
    const { template, source: translated } = engine.compile(source, path);
    let nonce: string | undefined;
    const html = await this.guarded(path, () => {
      nonce = this.sourceNeedsInline(engine, translated, new Set()) ? undefined : Pages.nonce();
      const context = {
        ...this.base(entry.title, entry.description, entry.readmeHtml),
        analysis_name: entry.name,
        name: entry.name,
        show_in_index: entry.showInIndex,
        thumbnail: entry.thumbnail ?? null,
        csp_nonce: nonce ?? '',
      };
      return rendering((cb) => template.render(context, cb));
    });
    return { html, nonce };
  }

  /**
   * The page for a template that failed: in development the file, line and
   * the engine's message; otherwise a line pointing to the server log.
   */
  templateErrorPage(error: Error): Promise<RenderedPage> {
    const message = this.development
      ? describeTemplateError(error)
      : 'A page template failed; the details are in the server log.';
    return this.errorPage('template error', message);
  }

  /**
   * The page of an analysis that failed to load and has no good version to
   * serve: its header, the error panel (message, file:line:col, the code
   * frame) and a script that asks the server every second whether the page
   * works again, and reloads it when it does.
   */
  loadErrorPage(entry: AnalysisEntry, error: LoadErrorLoad): Promise<RenderedPage> {
    const location =
      error.file === null
        ? null
        : `${error.file}${error.line !== null ? `:${error.line}` : ''}${error.column !== null ? `:${error.column}` : ''}`;
    return this.render('load-error.html', {
      ...this.base(entry.title, entry.description, ''),
      analysis_name: entry.name,
      name: entry.name,
      error,
      location,
    }).catch(() => this.errorPage(`analysis "${entry.name}" failed to load`, error.message));
  }

  /** An error page (404, an analysis that failed to load): `message` is escaped. */
  errorPage(title: string, message: string): Promise<RenderedPage> {
    return this.render('error.html', { ...this.base(title, '', ''), message }).catch(
      (error: unknown) => {
        this.logger?.error(
          `the error page's template failed (a plain page is sent instead): ${isTemplateError(error) ? describeTemplateError(error) : String(error)}`,
        );
        return {
          html: `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><pre>${escapeHtml(message)}</pre>`,
          nonce: Pages.nonce(),
        };
      },
    );
  }
}

/** Escape text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}
