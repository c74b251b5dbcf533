// Every answer outside tRPC's own procedures — no route, a bad URL, another method, headers too
// large, malformed HTTP, a plain route that fails — in tRPC's error shape, without framework text;
// and the caching and sniffing headers on every answer.
import { once } from 'node:events';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../server/app.ts';
import { createLogger } from '../server/logger.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { ecKeyPair } from './helpers/keys.ts';
import { testRouter } from './helpers/test-router.ts';

/** What no client may see: Fastify's codes, its route text, its own error shape. */
const FRAMEWORK_TEXT = /FST_|Route [A-Z]+:|statusCode|fastify|Unexpected token|ajv/i;

/** tRPC's error shape with this code and status (`path` only when a procedure was named). */
function expectErrorShape(text: string, code: string, httpStatus: number) {
  expect(text).not.toMatch(FRAMEWORK_TEXT);
  const body = JSON.parse(text) as { error: { message: string; data: Record<string, unknown> } };
  expect(body).toEqual({
    error: {
      message: expect.any(String),
      code: expect.any(Number),
      data: { code, httpStatus, zodError: null, ...(body.error.data.path ? { path: body.error.data.path } : {}) },
    },
  });
  return body.error;
}

function expectSafeHeaders(headers: { get(name: string): string | null }) {
  expect(headers.get('cache-control')).toBe('no-store');
  expect(headers.get('x-content-type-options')).toBe('nosniff');
}

interface RawAnswer {
  status: number;
  headers: Headers;
  body: string;
}

/** Sends `request` as bytes on a connection of its own, and reads the answer until the server ends it. */
async function rawRequest(url: string, request: string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  let text = '';
  socket.on('data', (data: Buffer) => (text += data.toString('latin1')));
  socket.setTimeout(10_000, () => socket.destroy(new Error('no end of the connection after 10 s')));
  await once(socket, 'connect');
  socket.write(request);
  await once(socket, 'close');
  const [head = '', body = ''] = text.split('\r\n\r\n', 2);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Headers(lines.map((line) => line.split(/:\s*/, 2) as [string, string]));
  return { status: Number(statusLine.split(' ')[1]), headers, body };
}

describe('errors outside tRPC', () => {
  const t = useTestApp({ router: testRouter });

  it.each([
    ['GET', '/'],
    ['GET', '/nowhere'],
    ['POST', '/nowhere'],
    ['GET', '/trpc'],
    ['GET', '/healthz/more'],
  ])('answers %s %s, which no route serves, with NOT_FOUND (404) "Not found"', async (method, path) => {
    const response = await fetch(`${t.url}${path}`, { method });
    expect(response.status).toBe(404);
    expect(expectErrorShape(await response.text(), 'NOT_FOUND', 404).message).toBe('Not found');
    expectSafeHeaders(response.headers);
  });

  it.each(['/trpc/a%ZZ', '/trpc/test.echo%E0%A4%A'])(
    'answers a malformed URL (%s) with BAD_REQUEST (400)',
    async (path) => {
      const response = await fetch(`${t.url}${path}`);
      expect(response.status).toBe(400);
      expect(expectErrorShape(await response.text(), 'BAD_REQUEST', 400).message).toBe('Malformed URL');
      expectSafeHeaders(response.headers);
    },
  );

  it('answers a procedure name longer than any batch with 414 (code BAD_REQUEST)', async () => {
    const response = await fetch(`${t.url}/trpc/${'a'.repeat(6000)}`);
    expect(response.status).toBe(414);
    expectErrorShape(await response.text(), 'BAD_REQUEST', 414);
  });

  it.each(['PUT', 'PATCH', 'DELETE', 'OPTIONS'])(
    'answers %s on a procedure with METHOD_NOT_SUPPORTED (405) and Allow: GET, POST',
    async (method) => {
      const response = await fetch(`${t.url}/trpc/test.touch`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: method === 'OPTIONS' ? undefined : '{}',
      });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('GET, POST');
      expect(expectErrorShape(await response.text(), 'METHOD_NOT_SUPPORTED', 405).data.path).toBe('test.touch');
      expectSafeHeaders(response.headers);
    },
  );

  it('answers HEAD on a procedure with 405 and Allow: GET, POST (and no body, as for any HEAD)', async () => {
    const response = await fetch(`${t.url}/trpc/test.echo`, { method: 'HEAD' });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('GET, POST');
    expectSafeHeaders(response.headers);
  });

  it('answers a preflight OPTIONS without a content type with 405, not 415', async () => {
    const response = await fetch(`${t.url}/trpc/test.echo`, {
      method: 'OPTIONS',
      headers: { origin: 'https://elsewhere.example', 'access-control-request-method': 'POST' },
    });
    expect(response.status).toBe(405);
  });

  it('answers headers over 16 KiB with 431 (code BAD_REQUEST), and closes the connection', async () => {
    const big = 'a'.repeat(20_000);
    const answer = await rawRequest(t.url, `GET /trpc/test.echo HTTP/1.1\r\nhost: x\r\nx-big: ${big}\r\n\r\n`);
    expect(answer.status).toBe(431);
    expect(expectErrorShape(answer.body, 'BAD_REQUEST', 431).message).toBe('Request headers are too large');
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(answer.headers.get('connection')).toBe('close');
    expectSafeHeaders(answer.headers);
  });

  it.each([
    ['a request line that is not HTTP', 'HELLO THERE\r\n\r\n'],
    ['a header without a colon', 'GET /healthz HTTP/1.1\r\nhost: x\r\nnot a header\r\n\r\n'],
    ['two lengths', 'POST /trpc/test.touch HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}'],
  ])('answers malformed HTTP (%s) with BAD_REQUEST (400)', async (_name, request) => {
    const answer = await rawRequest(t.url, request);
    expect(answer.status).toBe(400);
    expect(expectErrorShape(answer.body, 'BAD_REQUEST', 400).message).toBe('Malformed HTTP request');
    expectSafeHeaders(answer.headers);
  });
});

describe('Cache-Control: no-store and X-Content-Type-Options: nosniff', () => {
  const t = useTestApp({ router: testRouter });
  const json = { 'content-type': 'application/json' };

  it.each<[string, string, RequestInit?]>([
    ['a query', 'test.echo?input=%7B%22text%22%3A%22hi%22%7D'],
    ['a mutation', 'test.touch', { method: 'POST', headers: json, body: '{}' }],
    ['a batch', 'test.echo,test.echo?batch=1&input=%7B%220%22%3A%7B%22text%22%3A%22a%22%7D%2C%221%22%3A%7B%7D%7D'],
    ['an unknown procedure', 'test.nothing'],
    ['a failing procedure', 'test.crash'],
    ['a mutation by GET', 'test.touch'],
    ['invalid input', 'test.echo?input=%7B%7D'],
    ['a body that is not JSON', 'test.touch', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' }],
    ['a body over 1 MiB', 'test.touch', { method: 'POST', headers: json, body: `"${'x'.repeat(1024 * 1024)}"` }],
  ])('are on the answer to %s', async (_name, path, init) => {
    const response = await fetch(`${t.url}/trpc/${path}`, init);
    expectSafeHeaders(response.headers);
  });

  it('are on the plain routes', async () => {
    for (const path of ['/healthz', '/readyz', '/.well-known/jwks.json']) {
      expectSafeHeaders((await fetch(`${t.url}${path}`)).headers);
    }
  });
});

describe('plain routes (as /api will have) and the public keys', () => {
  const t = useTestApp();
  const pair = ecKeyPair();
  let app: FastifyInstance;

  beforeAll(async () => {
    const env = testEnv({ JWT_ALGORITHM: 'ES256', JWT_PRIVATE_KEY: pair.privateKey });
    app = await buildApp({ orm: t.orm, env, logger: createLogger(env) });
    app.get('/plain/crash', () => {
      throw new Error('relation "secret_table" does not exist at /srv/warble/server/secret.ts:12');
    });
    app.post('/plain/json', (request) => request.body);
    app.post(
      '/plain/validated',
      { schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } },
      (request) => request.body,
    );
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('answers a failure with INTERNAL_SERVER_ERROR (500) "Internal server error", nothing more', async () => {
    const response = await app.inject({ method: 'GET', url: '/plain/crash' });
    expect(response.statusCode).toBe(500);
    expect(response.body).not.toMatch(/secret_table|\/srv\/|\.ts:/);
    expect(expectErrorShape(response.body, 'INTERNAL_SERVER_ERROR', 500).message).toBe('Internal server error');
  });

  it.each([
    ['malformed JSON', 'application/json', '{"name":', 400, 'BAD_REQUEST', 'Malformed JSON input'],
    ['an empty JSON body', 'application/json', '', 400, 'BAD_REQUEST', 'Empty JSON body'],
    ['a body of an unknown type', 'application/xml', '<a/>', 415, 'UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type'],
  ])('answers %s in plain words', async (_name, type, payload, status, code, message) => {
    const response = await app.inject({
      method: 'POST',
      url: '/plain/json',
      headers: { 'content-type': type },
      payload,
    });
    expect(response.statusCode).toBe(status);
    expect(expectErrorShape(response.body, code, status).message).toBe(message);
  });

  it('answers a body that fails the route’s schema with BAD_REQUEST "Invalid input"', async () => {
    const response = await app.inject({ method: 'POST', url: '/plain/validated', payload: { other: 1 } });
    expect(response.statusCode).toBe(400);
    expect(expectErrorShape(response.body, 'BAD_REQUEST', 400).message).toBe('Invalid input');
  });

  it('serves /.well-known/jwks.json with its public caching header', async () => {
    const response = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['cache-control']).toBe('public, max-age=300');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('answers /.well-known/jwks.json with NOT_FOUND (404) in the same shape when tokens use HS256', async () => {
    const response = await fetch(`${t.url}/.well-known/jwks.json`);
    expect(response.status).toBe(404);
    expectErrorShape(await response.text(), 'NOT_FOUND', 404);
  });
});

describe('a request that does not arrive within REQUEST_TIMEOUT_MS', () => {
  const t = useTestApp({ router: testRouter, env: testEnv({ REQUEST_TIMEOUT_MS: '1000' }) });

  it('is answered with TIMEOUT (408) in the same shape, and the connection closed', async () => {
    const request =
      'POST /trpc/test.touch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{';
    const answer = await rawRequest(t.url, request);
    expect(answer.status).toBe(408);
    expectErrorShape(answer.body, 'TIMEOUT', 408);
    expectSafeHeaders(answer.headers);
  });
});

describe('while the server shuts down', () => {
  const t = useTestApp({ router: testRouter });

  it('answers a request that was arriving as it began with SERVICE_UNAVAILABLE (503), in the same shape', async () => {
    const { hostname, port } = new URL(t.url);
    const socket = net.connect(Number(port), hostname);
    let text = '';
    socket.on('data', (data: Buffer) => (text += data.toString('latin1')));
    await once(socket, 'connect');
    // Half a request: the connection is busy, so closing waits for it instead of cutting it.
    socket.write('GET /trpc/test.echo?input=%7B%22text%22%3A%22hi%22%7D HTTP/1.1\r\nhost: x\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closing = t.app.close();
    socket.write('\r\n');
    await once(socket, 'close');
    await closing;
    expect(text).toMatch(/^HTTP\/1\.1 503 [^]*\r\nconnection: close\r\n/i);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    expect(expectErrorShape(body, 'SERVICE_UNAVAILABLE', 503).message).toBe('Server is shutting down');
  });
});
