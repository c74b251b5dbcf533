// Calls the REST routes under /api the way any HTTP client does: plain JSON, no SDK.
import type { RestError } from '../../server/rest/rest-errors.ts';

export interface RestCallOptions {
  token?: string;
  /** Sent as JSON (with `Content-Type: application/json`). */
  body?: unknown;
  query?: Record<string, string | number>;
  headers?: Record<string, string>;
}

export interface RestResult<T> {
  status: number;
  headers: Headers;
  /** The parsed body: the procedure's output, or a RestError. */
  body: T;
  /** The raw body, for asserting what must never appear in it. */
  text: string;
}

export async function call<T = unknown>(
  baseUrl: string,
  method: string,
  path: string,
  options: RestCallOptions = {},
): Promise<RestResult<T>> {
  const headers = new Headers(options.headers);
  if (options.token) headers.set('authorization', `Bearer ${options.token}`);
  if (options.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
  const search = new URLSearchParams(
    Object.entries(options.query ?? {}).map(([name, value]): [string, string] => [name, String(value)]),
  ).toString();
  const response = await fetch(`${baseUrl}/api${path}${search ? `?${search}` : ''}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: (text ? JSON.parse(text) : undefined) as T, text };
}

export type { RestError };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const JWT = /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/;
const REFRESH_TOKEN = /^[\w-]{43}$/;

/**
 * `value` with what two calls cannot share (ids, times, tokens, the `names` given) replaced by
 * placeholders, so that two answers can be compared for shape and content.
 */
export function normalized(value: unknown, names: string[] = []): unknown {
  if (typeof value === 'string') {
    if (UUID.test(value)) return '<id>';
    if (TIMESTAMP.test(value)) return '<time>';
    if (JWT.test(value)) return '<access token>';
    if (REFRESH_TOKEN.test(value)) return '<refresh token>';
    return names.includes(value) ? '<name>' : value;
  }
  if (Array.isArray(value)) return value.map((item) => normalized(item, names));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, normalized(item, names)]));
  return value;
}
