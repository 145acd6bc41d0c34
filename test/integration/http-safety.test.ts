// HTTP safety: the DNS-rebinding guard on the bound address, static files
// that stay inside their folder, security headers, and the Origin check of
// state-changing routes. Real server, real HTTP.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createServer, type DatabenchServer } from '../../src/server/create-server.ts';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { FIXTURES, http } from '../helpers.ts';

describe('the DNS-rebinding guard decides on the bound address', () => {
  test('bound to ::ffff:127.0.0.1, a foreign Host is refused', async (t) => {
    let server: DatabenchServer;
    try {
      server = await createServer({
        host: '::ffff:127.0.0.1',
        port: 0,
        analyses: FIXTURES + 'hardening',
        logger: createMemoryLogger(),
      });
    } catch (error) {
      // a machine without IPv6 cannot bind the mapped form at all
      t.skip(`cannot bind ::ffff:127.0.0.1 here: ${(error as Error).message}`);
      return;
    }
    try {
      const port = new URL(server.url).port;
      assert.equal((await http(server.url, '/', { headers: { Host: 'evil.com' } })).status, 403);
      assert.equal(
        (await http(server.url, '/', { headers: { Host: `evil.com:${port}` } })).status,
        403,
      );
      assert.equal(
        (await http(server.url, '/', { headers: { Host: `localhost:${port}` } })).status,
        200,
      );
      assert.equal(
        (await http(server.url, '/', { headers: { Host: `[::ffff:127.0.0.1]:${port}` } })).status,
        200,
      );
    } finally {
      await server.close();
    }
  });
});

describe('static files and headers', () => {
  let dir: string;
  let outside: string;
  let server: DatabenchServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'databench-static-'));
    outside = await mkdtemp(join(tmpdir(), 'databench-outside-'));
    await writeFile(join(outside, 'secret.txt'), 'SECRET\n');
    await mkdir(join(outside, 'workspace-pkg'));
    await writeFile(join(outside, 'workspace-pkg', 'package.json'), '{}\n');
    await writeFile(join(outside, 'workspace-pkg', 'src.ts'), 'SECRET SOURCE\n');
    await writeFile(join(dir, 'index.yaml'), "static:\n  '^/assets/(.*)$': assets\nanalyses: []\n");
    for (const folder of ['static', 'assets']) {
      await mkdir(join(dir, folder));
      await writeFile(join(dir, folder, 'ok.txt'), 'fine\n');
      await writeFile(join(dir, folder, 'target.txt'), 'inside\n');
      await symlink(join(outside, 'secret.txt'), join(dir, folder, 'leak.txt'));
      await symlink(outside, join(dir, folder, 'leakdir'));
      await symlink(join(dir, folder, 'target.txt'), join(dir, folder, 'inside-link.txt'));
    }
    const nm = join(dir, 'node_modules');
    await mkdir(join(nm, 'pkg', 'dist'), { recursive: true });
    await writeFile(join(nm, 'pkg', 'package.json'), '{}\n');
    await writeFile(join(nm, 'pkg', 'dist', 'lib.js'), 'export const lib = 1;\n');
    await mkdir(join(nm, '@scope', 'pkg'), { recursive: true });
    await writeFile(join(nm, '@scope', 'pkg', 'package.json'), '{}\n');
    await writeFile(join(nm, '@scope', 'pkg', 'index.js'), 'export const scoped = 1;\n');
    await mkdir(join(nm, 'not-a-package'));
    await writeFile(join(nm, 'not-a-package', 'file.js'), 'loose\n');
    await writeFile(join(nm, 'loose.js'), 'loose\n');
    await symlink(join(outside, 'workspace-pkg'), join(nm, 'workspace-pkg'));
    await symlink(join(outside, 'secret.txt'), join(nm, 'pkg', 'leak.txt'));
    server = await createServer({ port: 0, analyses: dir, logger: createMemoryLogger(), cwd: dir });
  });
  after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
    await rm(outside, { recursive: true, force: true });
  });

  test('no symlink leads out of static/ or a static map folder', async () => {
    for (const prefix of ['/static/', '/assets/']) {
      assert.equal((await http(server.url, prefix + 'ok.txt')).status, 200);
      assert.equal((await http(server.url, prefix + 'inside-link.txt')).body, 'inside\n');
      for (const path of ['leak.txt', 'leakdir/secret.txt']) {
        const reply = await http(server.url, prefix + path);
        assert.equal(reply.status, 404, prefix + path);
        assert.ok(!reply.body.includes('SECRET'));
      }
    }
  });

  test('node_modules serves files of packages only, and no symlink out of it', async () => {
    assert.equal((await http(server.url, '/node_modules/pkg/dist/lib.js')).status, 200);
    assert.equal((await http(server.url, '/node_modules/@scope/pkg/index.js')).status, 200);
    for (const path of [
      'loose.js',
      'not-a-package/file.js',
      'workspace-pkg/src.ts',
      'workspace-pkg/package.json',
      'pkg/leak.txt',
      '@scope/package.json',
    ]) {
      const reply = await http(server.url, '/node_modules/' + path);
      assert.equal(reply.status, 404, path);
      assert.ok(!reply.body.includes('SECRET'), path);
    }
  });

  test('every response says nosniff, no framing by other sites, and a CSP', async () => {
    for (const path of ['/', '/static/ok.txt', '/_static/databench.js', '/nothing-here']) {
      const { headers } = await http(server.url, path);
      assert.equal(headers['x-content-type-options'], 'nosniff', path);
      assert.equal(headers['x-frame-options'], 'SAMEORIGIN', path);
      const csp = String(headers['content-security-policy']);
      assert.match(csp, /frame-ancestors 'self'/, path);
      assert.match(csp, /object-src 'none'/, path);
    }
  });
});

describe('routes that change state get the Origin check of sockets', () => {
  let server: DatabenchServer;
  let host: string;
  before(async () => {
    server = await createServer({
      port: 0,
      analyses: FIXTURES + 'hardening',
      logger: createMemoryLogger(),
      allowOrigins: ['https://trusted.example'],
    });
    host = new URL(server.url).host;
  });
  after(() => server.close());

  test('another origin may GET but not POST, PUT or DELETE', async () => {
    const evil = { Origin: 'https://evil.example' };
    assert.equal((await http(server.url, '/routes/state', { headers: evil })).body, 'state GET');
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const body = method === 'DELETE' ? undefined : 'x';
      const reply = await http(server.url, '/routes/state', { method, headers: evil, body });
      assert.equal(reply.status, 403, `${method}: ${reply.body}`);
      assert.match(reply.body, /cross-origin/);
    }
    const nullOrigin = await http(server.url, '/routes/state', {
      method: 'POST',
      headers: { Origin: 'null' },
    });
    assert.equal(nullOrigin.status, 403);
    const noOriginCrossSite = await http(server.url, '/routes/state', {
      method: 'POST',
      headers: { 'Sec-Fetch-Site': 'cross-site' },
    });
    assert.equal(noOriginCrossSite.status, 403);
  });

  test('the page own origin, an allowed origin and clients without Origin may', async () => {
    for (const headers of [
      { Origin: `http://${host}` },
      { Origin: 'https://trusted.example' },
      {} as Record<string, string>,
    ]) {
      const reply = await http(server.url, '/routes/state', { method: 'POST', headers });
      assert.equal(reply.body, 'state POST', JSON.stringify(headers));
    }
  });

  test('a route marked with allowCrossOrigin opts out', async () => {
    const reply = await http(server.url, '/routes/hook', {
      method: 'POST',
      headers: { Origin: 'https://evil.example' },
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.body, 'hook POST');
  });

  test('a route that throws a value without a prototype gets a 500, the server lives', async () => {
    assert.equal((await http(server.url, '/routes/throws')).status, 500);
    assert.equal((await http(server.url, '/')).status, 200);
  });
});

/** The nonce of a strict policy's script-src, or undefined for any other policy. */
function nonceOf(csp: string): string | undefined {
  return /script-src 'self' 'nonce-([A-Za-z0-9+/=]+)' 'unsafe-eval';/.exec(csp)?.[1];
}

/** The start tags of the inline scripts of a page (those without `src`). */
function inlineScripts(html: string): string[] {
  return [...html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]).filter((t) => !/\ssrc=/.test(t));
}

describe('the Content-Security-Policy by page', () => {
  const ROOT = new URL('../../', import.meta.url).pathname;
  let packaged: DatabenchServer;
  let v07: DatabenchServer;
  let broken: DatabenchServer;
  before(async () => {
    const logger = createMemoryLogger();
    [packaged, v07, broken] = await Promise.all([
      createServer({ port: 0, analyses: join(ROOT, 'analyses'), logger }),
      createServer({ port: 0, analyses: FIXTURES + 'v07', logger }),
      createServer({ port: 0, analyses: FIXTURES + 'analyses', logger }),
    ]);
  });
  after(async () => {
    await Promise.all([packaged?.close(), v07?.close(), broken?.close()]);
  });

  test("the package's pages run no inline script but their own, which carry the page's nonce", async () => {
    const seen = new Set<string>();
    for (const [server, path, status] of [
      [packaged, '/', 200],
      [packaged, '/dummypi/', 200],
      [packaged, '/scaffold/', 200],
      [packaged, '/nothing-here', 404],
      [broken, '/broken_syntax/', 500],
    ] as const) {
      const reply = await http(server.url, path);
      assert.equal(reply.status, status, path);
      const csp = String(reply.headers['content-security-policy']);
      const nonce = nonceOf(csp);
      assert.ok(nonce !== undefined && nonce.length >= 22, `${path}: ${csp}`);
      assert.doesNotMatch(csp, /script-src[^;]*('unsafe-inline'|https:)/, path);
      assert.ok(!seen.has(nonce), `${path}: a nonce is never used twice`);
      seen.add(nonce);
      for (const tag of inlineScripts(reply.body)) {
        if (/type="application\/json"/.test(tag)) continue;
        assert.ok(tag.includes(`nonce="${nonce}"`), `${path}: ${tag}`);
      }
    }
    // the load-error page and the analyses' pages do have inline scripts to check
    assert.equal(seen.size, 5);
  });

  test('a 0.7 page with inline scripts keeps the permissive policy; script files alone do not need it', async () => {
    const permissive = /script-src 'self' 'unsafe-inline' 'unsafe-eval' https:;/;
    // widgets has inline <script>s, as 0.7 pages do; so has the folder's own index.html
    for (const path of ['/widgets/', '/']) {
      const reply = await http(v07.url, path);
      assert.equal(reply.status, 200, path);
      assert.match(String(reply.headers['content-security-policy']), permissive, path);
    }
    // simplepi loads only script files of its own server
    const reply = await http(v07.url, '/simplepi/');
    assert.equal(reply.status, 200);
    const csp = String(reply.headers['content-security-policy']);
    // (a message of our own: without one, assert reads the transpiled source to make one)
    assert.ok(nonceOf(csp), `/simplepi/: ${csp}`);
    assert.deepEqual(inlineScripts(reply.body), []);
    // files are not pages: the permissive policy, as before
    const file = await http(v07.url, '/_static/databench.js');
    assert.match(String(file.headers['content-security-policy']), permissive);
  });

  test('a policy given as an option is sent as it is, on pages too', async () => {
    const server = await createServer({
      port: 0,
      analyses: join(ROOT, 'analyses'),
      logger: createMemoryLogger(),
      contentSecurityPolicy: "default-src 'self'",
    });
    try {
      for (const path of ['/', '/dummypi/', '/_static/databench.js']) {
        const reply = await http(server.url, path);
        assert.equal(reply.headers['content-security-policy'], "default-src 'self'", path);
      }
    } finally {
      await server.close();
    }
  });
});
