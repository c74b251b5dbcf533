import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { testEnv, useTestApp } from './helpers/app.ts';
import { testRouter } from './helpers/test-router.ts';

interface ErrorBody {
  error: { message: string; data: { code: string; httpStatus: number; zodError: unknown } };
}

describe('transport limits', () => {
  const t = useTestApp({ router: testRouter });

  const post = (path: string, body: string, contentType = 'application/json') =>
    fetch(`${t.url}/trpc/${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  it('refuses a body over 1 MiB with PAYLOAD_TOO_LARGE (413)', async () => {
    const response = await post('test.touch', JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }));
    expect(response.status).toBe(413);
    const body = (await response.json()) as ErrorBody;
    expect(body.error.data.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('accepts a body just under 1 MiB', async () => {
    const response = await post('test.touch', JSON.stringify({ pad: 'x'.repeat(1000 * 1000) }));
    expect(response.status).toBe(200);
  });

  it.each([
    ['text/plain', 'hello'],
    ['application/x-www-form-urlencoded', 'a=b'],
    ['multipart/form-data; boundary=x', '--x--'],
  ])('refuses a POST with content type %s as UNSUPPORTED_MEDIA_TYPE (415)', async (type, body) => {
    const response = await post('test.touch', body, type);
    expect(response.status).toBe(415);
    expect(((await response.json()) as ErrorBody).error.data.code).toBe('UNSUPPORTED_MEDIA_TYPE');
  });

  it('accepts JSON with a charset', async () => {
    const response = await post('test.touch', '{}', 'application/json; charset=utf-8');
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ result: { data: { touched: true } } });
  });

  const batch = (size: number) => {
    const paths = Array.from({ length: size }, () => 'test.echo').join(',');
    const input = Object.fromEntries(Array.from({ length: size }, (_, i) => [i, { text: `n${i}` }]));
    return fetch(`${t.url}/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`);
  };

  it('serves a batch of 50 calls', async () => {
    const response = await batch(50);
    expect(response.status).toBe(200);
    const results = (await response.json()) as { result: { data: { text: string } } }[];
    expect(results).toHaveLength(50);
    expect(results[49]?.result.data.text).toBe('n49');
  });

  it('refuses a batch of 51 calls with BAD_REQUEST (400)', async () => {
    const response = await batch(51);
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toContain('BAD_REQUEST');
  });

  it('never runs a mutation for a GET (405)', async () => {
    const response = await fetch(`${t.url}/trpc/test.touch`);
    expect(response.status).toBe(405);
    expect(((await response.json()) as ErrorBody).error.data.code).toBe('METHOD_NOT_SUPPORTED');
  });

  it('reports invalid input as BAD_REQUEST with the field issues', async () => {
    const input = encodeURIComponent(JSON.stringify({ text: '' }));
    const response = await fetch(`${t.url}/trpc/test.echo?input=${input}`);
    expect(response.status).toBe(400);
    const body = (await response.json()) as ErrorBody;
    expect(body.error.data.code).toBe('BAD_REQUEST');
    expect(body.error.data.zodError).toMatchObject({ fieldErrors: { text: [expect.any(String)] } });
  });

  it('answers an unknown procedure with NOT_FOUND (404)', async () => {
    const response = await fetch(`${t.url}/trpc/test.nothing`);
    expect(response.status).toBe(404);
  });
});

const MiB = 1024 * 1024;

interface RawUpload {
  /** Body bytes the kernel took from the client (each write waited for): about what reached the server. */
  written: number;
  /** Everything the server sent back, read once the client stopped writing. */
  response: string;
  /** The socket error the client saw (EPIPE, ECONNRESET): its upload was cut off. */
  error?: string;
}

/**
 * A client that writes its whole request before reading the answer, as curl and most simple
 * HTTP/1.1 clients do: POSTs `total` bytes of body on a connection of its own (`pauseMs` between
 * chunks of 64 KiB, as on a slower link; `stopAfter` bytes: then it stalls), then reads until the
 * server ends the connection.
 */
interface UploadOptions {
  framing?: 'content-length' | 'chunked';
  pauseMs?: number;
  stopAfter?: number;
}

async function upload(
  url: string,
  total: number,
  { framing = 'content-length', pauseMs = 0, stopAfter = total }: UploadOptions = {},
): Promise<RawUpload> {
  const { hostname, port } = new URL(url);
  const socket = net.connect(Number(port), hostname);
  const result: RawUpload = { written: 0, response: '' };
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.on('error', (error: NodeJS.ErrnoException) => (result.error ??= error.code ?? error.message));
  socket.setTimeout(15_000, () => socket.destroy(new Error('no end of the connection after 15 s')));
  await once(socket, 'connect');
  const write = (data: string | Buffer) => new Promise((resolve) => socket.write(data, (error) => resolve(!error)));
  const length = framing === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${total}`;
  let ok = await write(
    `POST /trpc/test.touch HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n${length}\r\n\r\n`,
  );
  const chunk = Buffer.alloc(64 * 1024, ' ');
  while (ok && result.written < stopAfter) {
    ok = await write(
      framing === 'chunked' ? Buffer.concat([Buffer.from('10000\r\n'), chunk, Buffer.from('\r\n')]) : chunk,
    );
    if (ok) result.written += chunk.length;
    if (pauseMs) await sleep(pauseMs);
  }
  if (ok && framing === 'chunked' && stopAfter === total) await write('0\r\n\r\n');
  socket.on('data', (data: Buffer) => (result.response += data.toString('latin1')));
  await closed;
  return result;
}

interface Flood {
  url: string;
  bytes: number;
  total: number;
  concurrency: number;
}

/**
 * Runs in a process of its own, as an outside client does (sharing the server's event loop, or
 * even its process, mostly hides the race): POSTs `total` bodies of `bytes` with Node's fetch,
 * `concurrency` at a time, and counts what each got. Self-contained: it is sent as source text.
 */
async function fetchFlood({ url, bytes, total, concurrency }: Flood) {
  const body = JSON.stringify({ pad: 'x'.repeat(bytes) });
  const outcomes: Record<string, number> = {};
  let started = 0;
  const client = async () => {
    while (started < total) {
      started++;
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body };
      const outcome = await fetch(url, init).then(
        async (response) => {
          const { error } = (await response.json()) as { error: { data: { code: string } } };
          return `${response.status} ${error.data.code}, connection: ${response.headers.get('connection')}`;
        },
        (error: Error) => `failed: ${(error.cause as Error | undefined)?.message ?? error.message}`,
      );
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return outcomes;
}

/** Runs `task(data)` in a Node process of its own and returns its result (JSON both ways). */
async function inProcess<D, T>(task: (data: D) => Promise<T>, data: D): Promise<T> {
  const source = `(${task.toString()})(${JSON.stringify(data)}).then((result) => console.log(JSON.stringify(result)));`;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`client process exited with ${code}`);
  return JSON.parse(output) as T;
}

describe('uploads over the 1 MiB limit', () => {
  const t = useTestApp({ router: testRouter });

  it(
    'answers all of 300 uploads of 2 MiB from Node’s fetch, 10 at a time, with 413 and Connection: close, never a reset',
    { timeout: 120_000 },
    async () => {
      const data = { url: `${t.url}/trpc/test.touch`, bytes: 2 * MiB, total: 300, concurrency: 10 };
      const outcomes = await inProcess(fetchFlood, data);
      expect(outcomes).toEqual({ '413 PAYLOAD_TOO_LARGE, connection: close': 300 });
    },
  );

  it('answers 413 to a client that sends its whole 2 MiB before reading, even on a slower link', async () => {
    for (let i = 0; i < 10; i++) {
      const { error, response } = await upload(t.url, 2 * MiB, { pauseMs: 2 });
      expect(error).toBeUndefined();
      expect(response).toMatch(/^HTTP\/1\.1 413 /);
      expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n')))).toMatchObject({
        error: { data: { code: 'PAYLOAD_TOO_LARGE', httpStatus: 413 } },
      });
    }
  });

  it('answers 413 when a body without a length grows past 1 MiB', async () => {
    const { error, response } = await upload(t.url, 2 * MiB, { framing: 'chunked', pauseMs: 2 });
    expect(error).toBeUndefined();
    expect(response).toMatch(/^HTTP\/1\.1 413 [^]*"code":"PAYLOAD_TOO_LARGE"/);
  });

  it('ends the connection of a 20 MiB upload without reading all of it', async () => {
    const { written } = await upload(t.url, 20 * MiB);
    expect(written).toBeLessThan(20 * MiB);
  });

  it('ends the connection of a 64 MiB upload without a length after reading a few MiB of it', async () => {
    const { written } = await upload(t.url, 64 * MiB, { framing: 'chunked' });
    expect(written).toBeLessThan(32 * MiB);
  });
});

describe('uploads over the limit, too slow to finish within REQUEST_TIMEOUT_MS', () => {
  const t = useTestApp({ router: testRouter, env: testEnv({ REQUEST_TIMEOUT_MS: '1000' }) });

  it('still get their 413 once the time is up, and the connection ends', async () => {
    const started = Date.now();
    const { error, response } = await upload(t.url, 2 * MiB, { stopAfter: 1.5 * MiB });
    expect(error).toBeUndefined();
    expect(response).toMatch(/^HTTP\/1\.1 413 [^]*"code":"PAYLOAD_TOO_LARGE"/);
    // The timeout (1 s) is checked every second.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
