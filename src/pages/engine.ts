/**
 * The page engine: Nunjucks, with the translation of Tornado templates
 * (databench 0.4–0.7) as files load and the render budget's hooks. Pages
 * imports this module with its first render, so that a server no browser
 * has asked a page of (WebSocket clients, an API) holds neither Nunjucks
 * nor the Tornado translator.
 */
import nunjucks from 'nunjucks';
import { LOOP_ITEM_STEPS, type RenderBudget } from './render-budget.js';
import { addTornadoSupport, templateFlavor, translateTornado } from './tornado/tornado.js';

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

/** What Pages renders with. */
export interface PageEngine {
  /** Autoescaping on, the Tornado functions and a budgeted `range`. */
  readonly env: nunjucks.Environment;
  /** The source of template `name` (translated when Tornado), or null when there is none. */
  source(name: string): string | null;
  /** A view file's text compiled (translated first when Tornado), and the text compiled. */
  compile(text: string, path: string): { template: nunjucks.Template; source: string };
}

/**
 * An engine whose templates are looked up in `dirs` in order; `budget`
 * gives the budget of the render under way (undefined: no limit).
 */
export function createPageEngine(
  dirs: string[],
  noCache: boolean,
  budget: () => RenderBudget | undefined,
): PageEngine {
  const loader = new PageLoader(dirs, { noCache });
  const env = new nunjucks.Environment(loader, { autoescape: true, throwOnUndefined: false });
  addTornadoSupport(env, budget);
  // Nunjucks' own range() allocates its whole list first: count it before (as a loop's items)
  const range = env.getGlobal('range') as (...a: unknown[]) => unknown[];
  env.addGlobal('range', (start: number, stop?: number, step?: number) => {
    const [from, to] = stop === undefined ? [0, start] : [start, stop];
    // as Nunjucks: no step (or 0) is 1
    const count = Math.ceil((to - from) / (step || 1));
    if (count > 0) budget()?.step(count * LOOP_ITEM_STEPS);
    return range(start, stop, step);
  });
  return {
    env,
    source: (name) => (loader.getSource(name) as nunjucks.LoaderSource | null)?.src ?? null,
    compile: (text, path) => {
      const source = templateFlavor(text, path) === 'tornado' ? translateTornado(text, path) : text;
      return { template: new nunjucks.Template(source, env, path, true), source };
    },
  };
}
