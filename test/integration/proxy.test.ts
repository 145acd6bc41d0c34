// Behind a reverse proxy (README, "Several processes on Redis"): nginx passes
// the public Host and the page's Origin; the DNS-rebinding guard of a server
// bound to 127.0.0.1 refuses them unless --allow-origin names the public origin.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { createMemoryLogger } from '../../src/util/logger.ts';
import { createServer } from '../../src/server/create-server.ts';
import { FIXTURES, TestClient } from '../helpers.ts';

const PUBLIC = 'https://databench.example.com';
/** What the README's nginx config sends upstream. */
const PROXY_HEADERS = {
  Host: 'databench.example.com',
  'X-Real-IP': '203.0.113.7',
  'X-Forwarded-For': '203.0.113.7',
  'X-Forwarded-Proto': 'https',
};

function get(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url + path, { headers: PROXY_HEADERS }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('behind a proxy: --allow-origin with the public origin accepts its Host and Origin; without it, 403', async () => {
  for (const allowOrigins of [[PUBLIC], []]) {
    const server = await createServer({
      port: 0,
      analyses: FIXTURES + 'analyses',
      logger: createMemoryLogger(),
      allowOrigins,
    });
    try {
      const ws = server.url.replace('http', 'ws') + '/parameters/ws';
      const open = (): Promise<TestClient> =>
        TestClient.open(ws, { origin: PUBLIC, headers: PROXY_HEADERS });
      if (allowOrigins.length > 0) {
        assert.equal(await get(server.url, '/parameters/'), 200);
        const client = await open();
        client.sendJson({ __connect: null, __request_args: '' });
        await client.next('__connect');
        client.close();
      } else {
        assert.equal(await get(server.url, '/parameters/'), 403);
        await assert.rejects(open(), /403/);
      }
    } finally {
      await server.close();
    }
  }
});
