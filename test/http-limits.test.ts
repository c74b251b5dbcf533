import { describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';
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
