// The transport of subscriptions: tRPC's server-sent events link on the `eventsource` package's
// EventSource, which connects through a fetch of ours. Browsers' own EventSource cannot send an
// Authorization header; this one sends the bearer token on every connection, its own reconnects
// included, in Node and in browsers alike.
import { httpSubscriptionLink, type TRPCLink } from '@trpc/client';
import { EventSource, type FetchLike } from 'eventsource';
import type { AppRouter } from './app-router.ts';
import type { AuthContext } from './auth-link.ts';

export interface SubscriptionLinkOptions {
  url: string;
  /** The client's fetch (in cookie mode, the one that includes credentials); the global one when unset. */
  fetch: typeof globalThis.fetch | undefined;
  /** The caller's extra headers. */
  headers: () => Promise<Record<string, string>>;
  /** Cookie mode: the stream is a credentialed cross-origin request, like every other call. */
  withCredentials: boolean;
}

export function subscriptionLink(options: SubscriptionLinkOptions): TRPCLink<AppRouter> {
  return httpSubscriptionLink({
    url: options.url,
    EventSource,
    // Asked for each new EventSource; its fetch is then called on each of its (re)connections.
    eventSourceOptions: ({ op }) => {
      const context = op.context as AuthContext;
      const connect: FetchLike = async (url, init) => {
        const token = context.connectToken ? await context.connectToken() : (context.accessToken ?? null);
        const headers: Record<string, string> = { ...(await options.headers()), ...init.headers };
        if (token) headers.authorization = `Bearer ${token}`;
        // The global is looked up per call, not captured: whatever the page installed later is used.
        const response = await (options.fetch ?? globalThis.fetch)(url, { ...init, headers });
        return asEventStream(response);
      };
      return { fetch: connect, withCredentials: options.withCredentials };
    },
  });
}

/**
 * A refusal before tRPC runs (the API's rate limits, load shedding) is a plain JSON error answer,
 * which an EventSource reports only as "non-200 status", without the error's code. Turned into the
 * stream tRPC would have sent (a `serialized-error` event), the caller gets a typed error instead
 * (`TOO_MANY_REQUESTS` with `retryAfter`), and a 503 is retried like any other SERVICE_UNAVAILABLE,
 * no sooner than its Retry-After.
 */
async function asEventStream(response: Response): Promise<Response> {
  if (response.ok || !response.headers.get('content-type')?.includes('application/json')) return response;
  let body: { error?: unknown };
  try {
    body = (await response.json()) as { error?: unknown };
  } catch {
    return new Response(null, { status: response.status });
  }
  if (!body.error) return new Response(null, { status: response.status });
  const retryAfter = Number(response.headers.get('retry-after'));
  const retry = retryAfter > 0 ? `retry: ${retryAfter * 1000}\n` : '';
  const stream = `${retry}event: serialized-error\ndata: ${JSON.stringify(body.error)}\n\n`;
  return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream' } });
}
