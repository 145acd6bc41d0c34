import type { IncomingMessage, ServerResponse } from 'node:http';

/** An extra HTTP route of an analysis (`routes.ts` exports a list of them as `ROUTES`). */
export type ExtraRoute = [
  path: string | RegExp,
  handler: (req: IncomingMessage, res: ServerResponse) => unknown,
];

/** Shared across copies of databench: a routes.ts may import another copy than the server's. */
const CROSS_ORIGIN = Symbol.for('databench.route.allowCrossOrigin');

/**
 * Let other sites call a `routes.ts` handler that changes state. Without it,
 * a request by any method but GET and HEAD whose `Origin` is neither the
 * server's own `Host` nor listed with `--allow-origin` is refused with 403,
 * as WebSockets are: a page elsewhere cannot make a visitor's browser post to
 * it. Use it for webhooks and APIs meant for other origins.
 *
 * @example
 * export const ROUTES = [['hook', allowCrossOrigin(async (req, res) => { … })]];
 */
export function allowCrossOrigin<H extends Function>(handler: H): H {
  Object.defineProperty(handler, CROSS_ORIGIN, { value: true });
  return handler;
}

/** @internal Whether {@link allowCrossOrigin} marked `handler`. */
export function allowsCrossOrigin(handler: Function): boolean {
  return (handler as unknown as Record<symbol, unknown>)[CROSS_ORIGIN] === true;
}
