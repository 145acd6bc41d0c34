import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import nunjucks from 'nunjucks';
import type { LoadErrorLoad } from '../protocol/messages.js';
import type { AnalysisEntry, App } from '../app/app.js';
import { PACKAGE_ROOT } from '../util/package-root.js';
import {
  addTornadoSupport,
  templateFlavor,
  TemplateSyntaxError,
  translateTornado,
} from './tornado/tornado.js';

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
 * Finds templates in the analyses folder, then in the package, and
 * translates a Tornado-syntax file (databench 0.4–0.7) to Nunjucks as it
 * loads, so a 0.7 page can extend our `analysis.html` and our pages a user's
 * 0.7 `base.html`.
 */
class PageLoader extends nunjucks.FileSystemLoader {
  override getSource(name: string): nunjucks.LoaderSource {
    const source = super.getSource(name) as nunjucks.LoaderSource | null;
    if (source && templateFlavor(source.src, source.path) === 'tornado') {
      source.src = translateTornado(source.src, source.path);
    }
    return source as nunjucks.LoaderSource;
  }
}

/**
 * A template error as `file:line: message`. Nunjucks writes
 * `(file) [Line N, Column M]` with both counted from 0 (and columns of a
 * translated Tornado file would not match the original): keep the line, from 1.
 */
export function describeTemplateError(error: Error): string {
  const m = /^\(([^)]*)\) \[Line (\d+), Column \d+\]\s*([\s\S]*)$/.exec(error.message);
  if (!m) return error.message;
  return `${m[1] ?? ''}:${Number(m[2]) + 1}: ${(m[3] ?? '').trim()}`;
}

/** Whether `error` came from a page template (Nunjucks, or a Tornado file that could not be translated). */
export function isTemplateError(error: unknown): error is Error {
  return (
    error instanceof TemplateSyntaxError ||
    (error instanceof Error && error.name === 'Template render error')
  );
}

/**
 * Renders pages with Nunjucks (Jinja2 syntax: `{% extends %}`, `{% block %}`,
 * `{{ value }}`), autoescaping on. Templates are looked up in the analyses
 * folder first, then in the package, so a user's `base.html` or
 * `analysis.html` replaces ours.
 */
export class Pages {
  private readonly env: nunjucks.Environment;
  /** Show a template error's file, line and message on the page (development). */
  readonly development: boolean;

  constructor(
    private readonly app: App,
    private readonly databenchVersion: string,
    options: { noCache: boolean; development?: boolean },
  ) {
    const loader = new PageLoader([app.dir, TEMPLATES_DIR], { noCache: options.noCache });
    this.env = new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: false });
    addTornadoSupport(this.env);
    this.development = options.development ?? false;
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

  private render(name: string, context: PageContext): Promise<string> {
    return new Promise((resolve, reject) =>
      this.env.render(name, context, (error, html) =>
        error ? reject(error) : resolve(html ?? ''),
      ),
    );
  }

  /**
   * The index of the folder: one box per analysis that is shown in the
   * index, of those named in `visible` (the ones the visitor may open;
   * undefined: all). An analysis not visible is not on the page at all.
   */
  index(visible?: ReadonlySet<string>): Promise<string> {
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
      error: e.error ?? null,
    }));
    const errors = [
      // a problem of a hidden analysis's entry is not shown either
      ...this.app.errors.filter(
        (e) => visible === undefined || !this.app.entries.has(e.name) || visible.has(e.name),
      ),
      ...entries
        .filter((e) => e.error !== undefined)
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
  async view(entry: AnalysisEntry, file: string): Promise<string> {
    const path = join(entry.dir, file);
    let source = await readFile(path, 'utf8');
    if (!/\{[{%#]/.test(source)) return source;
    if (templateFlavor(source, path) === 'tornado') source = translateTornado(source, path);
    const template = new nunjucks.Template(source, this.env, path);
    const context = {
      ...this.base(entry.title, entry.description, entry.readmeHtml),
      analysis_name: entry.name,
      name: entry.name,
      show_in_index: entry.showInIndex,
      thumbnail: entry.thumbnail ?? null,
    };
    return new Promise((resolve, reject) =>
      template.render(context, (error, out) => (error ? reject(error) : resolve(out ?? ''))),
    );
  }

  /**
   * The page for a template that failed: in development the file, line and
   * the engine's message; otherwise a line pointing to the server log.
   */
  templateErrorPage(error: Error): Promise<string> {
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
  loadErrorPage(entry: AnalysisEntry, error: LoadErrorLoad): Promise<string> {
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
  errorPage(title: string, message: string): Promise<string> {
    return this.render('error.html', { ...this.base(title, '', ''), message }).catch(
      () =>
        `<!doctype html><meta charset="utf-8"><title>${escapeHtml(title)}</title><h1>${escapeHtml(title)}</h1><pre>${escapeHtml(message)}</pre>`,
    );
  }
}

/** Escape text for HTML. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}
