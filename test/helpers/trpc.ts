// Calls procedures the way any HTTP client (curl included) does: plain JSON, no tRPC client.
export interface TrpcErrorShape {
  message: string;
  code: number;
  data: { code: string; httpStatus: number; path?: string; zodError: { fieldErrors: Record<string, string[]> } | null };
}

export interface TrpcResult<T> {
  status: number;
  headers: Headers;
  /** Present on success. */
  data: T | undefined;
  /** Present on failure. */
  error: TrpcErrorShape | undefined;
  /** The raw body, for asserting what must never appear in it. */
  text: string;
}

export interface CallOptions {
  token?: string;
  headers?: Record<string, string>;
}

async function send<T>(url: string, init: RequestInit, options: CallOptions): Promise<TrpcResult<T>> {
  const headers = new Headers(init.headers);
  if (options.token) headers.set('authorization', `Bearer ${options.token}`);
  for (const [name, value] of Object.entries(options.headers ?? {})) headers.set(name, value);
  const response = await fetch(url, { ...init, headers });
  const text = await response.text();
  const body = JSON.parse(text) as { result?: { data: T }; error?: TrpcErrorShape };
  return { status: response.status, headers: response.headers, data: body.result?.data, error: body.error, text };
}

export function query<T = unknown>(baseUrl: string, path: string, input?: unknown, options: CallOptions = {}) {
  const search = input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`;
  return send<T>(`${baseUrl}/trpc/${path}${search}`, { method: 'GET' }, options);
}

export function mutate<T = unknown>(baseUrl: string, path: string, input?: unknown, options: CallOptions = {}) {
  return send<T>(
    `${baseUrl}/trpc/${path}`,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input ?? null) },
    options,
  );
}
