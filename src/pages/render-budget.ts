/**
 * What one page render may cost. Page templates come from the analyses
 * folder and read data that may be large (a README, the list of analyses,
 * the request's path on an error page): a loop over a loop, or a value
 * printed inside one, could otherwise keep the server's thread (every page
 * of every analysis) busy for minutes and take gigabytes. A render counts
 * its steps and the characters it builds; past either limit, or past a time
 * limit, it fails with a {@link TemplateBudgetError}, the page gets a 500
 * and the log a line naming the template.
 */
import { DatabenchError } from '../protocol/errors.js';

/** The limits of one page render. */
export interface RenderLimits {
  /**
   * Steps at most: each part of a template expression evaluated, each item
   * a comprehension goes through, compares or looks up; each item of a
   * template's `{% for %}` loop (or of Nunjucks' `range()`) counts
   * {@link LOOP_ITEM_STEPS}.
   */
  readonly steps: number;
  /** Characters at most: of the page, and of the text its expressions build. */
  readonly chars: number;
  /** Milliseconds at most, whatever the render does (the guard of last resort). */
  readonly timeMs: number;
}

/**
 * What one item of a template loop counts: a loop's turn (its variables,
 * `loop.index` and the rest, its body) costs the engine about as much as
 * twenty steps of an expression.
 */
export const LOOP_ITEM_STEPS = 20;

/**
 * The limits every render has: 200,000 steps (a few hundredths of a
 * second; 10,000 loop items), 16 Mi characters, half a second (compiling a
 * template is not counted). A page of databench 0.4–0.7 takes a few hundred
 * steps.
 */
export const RENDER_LIMITS: RenderLimits = Object.freeze({
  steps: 200_000,
  chars: 16 * 2 ** 20,
  timeMs: 500,
});

/** A render went past its limits (code `TEMPLATE_BUDGET`): the message says which. */
export class TemplateBudgetError extends DatabenchError {
  constructor(message: string) {
    super('TEMPLATE_BUDGET', message);
    this.name = 'TemplateBudgetError';
  }
}

const ADVICE = 'page templates read and test the page’s data; compute values in the analysis';

/** The steps and characters one render has left; every charge past a limit throws. */
export class RenderBudget {
  private steps: number;
  private chars: number;

  constructor(readonly limits: RenderLimits = RENDER_LIMITS) {
    this.steps = limits.steps;
    this.chars = limits.chars;
  }

  /** Count `n` steps. */
  step(n = 1): void {
    this.steps -= n;
    if (this.steps < 0) {
      throw new TemplateBudgetError(
        `the page took more than ${this.limits.steps} steps to render (loops, comprehensions and expressions): ${ADVICE}`,
      );
    }
  }

  /** Count `n` characters built. */
  build(n: number): void {
    this.chars -= n;
    if (this.chars < 0) this.tooLong('built more than');
  }

  /** Check the size of the rendered page (before it is flattened into one string or sent). */
  checkPage(length: number): void {
    if (length > this.limits.chars) this.tooLong('is longer than');
  }

  private tooLong(what: string): never {
    throw new TemplateBudgetError(`the page ${what} ${this.limits.chars} characters: ${ADVICE}`);
  }
}

/** No limits: evaluation outside a page render (tests, a template rendered by hand). */
export const UNLIMITED: RenderBudget = new RenderBudget({
  steps: Infinity,
  chars: Infinity,
  timeMs: Infinity,
});
