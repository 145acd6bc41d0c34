// A databench server in a process of its own, with a login: the user is the
// request's X-User header (what a proxy in front would set), nobody without
// it. For tests that need several processes with signed-in users on one
// Redis. Usage: login-server.ts ANALYSES DATASTORE_URL; prints
// `serving at URL` once it listens, closes on SIGTERM.
import { createServer } from '../src/server/create-server.ts';
import { createMemoryLogger } from '../src/util/logger.ts';

const [analyses = '', datastore = 'memory'] = process.argv.slice(2);
const server = await createServer({
  port: 0,
  analyses,
  datastore,
  watch: false,
  logger: createMemoryLogger(),
  authenticate: (req) => {
    const id = req.headers['x-user'];
    return typeof id === 'string' && id !== '' ? { id } : null;
  },
});
process.stdout.write(`serving at ${server.url}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
