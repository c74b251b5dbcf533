// The ceiling for memory per open stream: node:http alone holding server-sent-event answers open,
// with the same first event and the same 15-s ping as tRPC writes. What one open stream costs here
// is Node's own floor (socket, parser, request and response objects, one timer).
// Usage: node bench/servers/sse-bare.ts --port N
import './gc-hook.ts';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { serveUntilSignalled } from './serve-http.ts';

const { values } = parseArgs({ options: { port: { type: 'string', default: '0' } }, strict: true });
const PING_MS = 15_000;

const server = http.createServer((request, response) => {
  if (!request.url?.startsWith('/trpc/idle')) {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end('{"result":{"data":"hello"}}');
    return;
  }
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  response.write('event: connected\ndata: {}\n\n');
  const ping = setInterval(() => response.write('event: ping\ndata: \n\n'), PING_MS);
  response.once('close', () => clearInterval(ping));
});

serveUntilSignalled(server, values.port);
