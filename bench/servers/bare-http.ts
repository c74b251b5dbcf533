// The ceiling: what node:http alone answers on this machine, with a body shaped like a tRPC
// result so that bytes on the wire match the peer's. Usage: node bench/servers/bare-http.ts --port N
import http from 'node:http';
import { parseArgs } from 'node:util';
import { serveUntilSignalled } from './serve-http.ts';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } }, strict: true });
const BODY = Buffer.from(JSON.stringify({ result: { data: 'hello' } }));

const server = http.createServer((request, response) => {
  // A POST body must be read, or the keep-alive connection cannot carry the next request.
  request.resume();
  request.once('end', () => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length });
    response.end(BODY);
  });
});
// Like Fastify's default: load generators keep connections open between runs.
server.keepAliveTimeout = 72_000;

serveUntilSignalled(server, values.port);
