import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import nunjucks from 'nunjucks';
import { PACKAGE_ROOT, type AnalysisEntry, type App } from './app.js';

/** The package's page templates (base.html, analysis.html, index.html, error.html, static/). */
export const TEMPLATES_DIR = join(PACKAGE_ROOT, 'templates');

/** The variables every page gets. */
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
 * Renders pages with Nunjucks (Jinja2 syntax: `{% extends %}`, `{% block %}`,
 * `{{ value }}`), autoescaping on. Templates are looked up in the analyses
 * folder first, then in the package, so a user's `base.html` or
 * `analysis.html` replaces ours.
 */
export class Pages {
  private readonly env: nunjucks.Environment;

  constructor(
    private readonly app: App,
    private readonly databenchVersion: string,
    options: { noCache: boolean },
  ) {
    const loader = new nunjucks.FileSystemLoader([app.dir, TEMPLATES_DIR], {
      noCache: options.noCache,
    });
    this.env = new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: false });
  }

  private base(title: string, description: string, readme: string): PageContext {
    return {
      title,
      description,
      readme,
      version: this.app.info.version,
      databench_version: this.databenchVersion,
      home_link: '/',
    };
  }

  private render(name: string, context: PageContext): Promise<string> {
    return new Promise((resolve, reject) =>
      this.env.render(name, context, (error, html) =>
        error ? reject(error) : resolve(html ?? ''),
      ),
    );
  }

  /** The index of the folder: one box per analysis that is shown in the index. */
  index(): Promise<string> {
    const { info } = this.app;
    const analyses = [...this.app.entries.values()]
      .filter((e) => e.showInIndex)
      .map((e) => ({
        name: e.name,
        title: e.title,
        description: e.description,
        readme: e.readmeHtml,
        thumbnail: e.thumbnail ? `/${e.name}/${e.thumbnail}` : null,
        url: `/${e.name}/`,
        error: e.error ?? null,
      }));
    const errors = [
      ...this.app.errors,
      ...[...this.app.entries.values()]
        .filter((e) => e.error !== undefined)
        .map((e) => ({ name: e.name, message: e.error ?? '' })),
    ];
    return this.render('index.html', {
      ...this.base(info.title, info.description, info.readmeHtml),
      analyses,
      errors,
    });
  }

  /**
   * A view of an analysis (`index.html` or another `*.html`): rendered as a
   * template when it holds template syntax, served as it is otherwise.
   */
  async view(entry: AnalysisEntry, file: string): Promise<string> {
    const path = join(entry.dir, file);
    const source = await readFile(path, 'utf8');
    if (!/\{[{%#]/.test(source)) return source;
    const template = new nunjucks.Template(source, this.env, path);
    const context = {
      ...this.base(entry.title, entry.description, entry.readmeHtml),
      analysis_name: entry.name,
    };
    return new Promise((resolve, reject) =>
      template.render(context, (error, out) => (error ? reject(error) : resolve(out ?? ''))),
    );
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
