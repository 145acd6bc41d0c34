// The baseline of the upload rows of `npm run bench` (bench/upload.ts): a
// plain Node HTTP server that reads a POST's body whole into memory (as a
// handler would get it) and answers with its size. Plain JavaScript run by
// plain `node`; forked with an IPC channel, it reports its URL.
import { createServer } from 'node:http';

const server = createServer((req, res) => {
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    chunks.push(chunk);
    size += chunk.length;
  });
  req.on('end', () => {
    const body = Buffer.concat(chunks, size);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(String(body.length));
  });
});
server.listen(0, '127.0.0.1', () => {
  process.send?.({ url: `http://127.0.0.1:${server.address().port}/upload` });
});
