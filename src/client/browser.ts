/**
 * The entry of the pre-bundled script the server serves at
 * `/_static/databench.js`: it defines the global `Databench`, as databench
 * 0.7's script did, so existing pages keep working.
 *
 * @example
 * <script src="/_static/databench.js"></script>
 * <script>
 *   const databench = new Databench.Connection();
 *   Databench.ui.wire(databench);
 *   databench.connect();
 * </script>
 */
import {
  CONNECTION_DEFAULTS,
  Connection,
  DatabenchError,
  ProtocolError,
  attach,
  connect,
  guessWSUrl,
  setDefaultWebSocket,
  ui,
} from './index.js';

const Databench = Object.freeze({
  Connection,
  connect,
  attach,
  ui,
  guessWSUrl,
  setDefaultWebSocket,
  CONNECTION_DEFAULTS,
  DatabenchError,
  ProtocolError,
});

/** The global the page sees. */
export type DatabenchGlobal = typeof Databench;

// databench 0.7 pages load this script themselves, after the one our
// analysis.html loads: a second load must not replace the first client
// (connections and wiring made in between keep their classes)
const g = globalThis as { Databench?: DatabenchGlobal };
if (g.Databench === undefined) g.Databench = Databench;
