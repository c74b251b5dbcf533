// @warble/client: the typed client of the Warble API.
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  splitLink,
  type OperationLink,
  type TRPCClient,
  type TRPCLink,
} from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from './app-router.ts';
import { authLink, type AuthContext } from './auth-link.ts';
import { subscriptionLink } from './subscription-link.ts';
import { tokenRenewal } from './token-renewal.ts';
import { memoryTokenStore, type TokenStore, type Tokens } from './token-store.ts';

export type { AppRouter, ErrorShape } from './app-router.ts';
export { isWarbleError, warbleErrorCode, type WarbleError, type WarbleErrorCode } from './errors.ts';
export { memoryTokenStore, type TokenStore, type Tokens };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type WarbleClient = TRPCClient<AppRouter>;

export interface WarbleClientOptions {
  /** The API's tRPC endpoint, e.g. `http://127.0.0.1:3000/trpc`. */
  url: string;
  /** Where tokens are kept; memory by default. */
  tokens?: TokenStore;
  /**
   * A fetch implementation (tests, older runtimes, instrumentation); the global one by default. Used
   * for calls and for the connections of subscriptions alike.
   */
  fetch?: typeof globalThis.fetch;
  /** Extra headers for every request, subscriptions' connections included. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
  /**
   * For browsers: the refresh token lives only in the API's httpOnly cookie, never in the store
   * (which keeps only the access token), and every request is sent with `credentials: "include"`.
   * After a page reload, the first call that meets UNAUTHORIZED recovers the session with one
   * refresh from the cookie.
   */
  refreshCookie?: boolean;
}

export function createWarbleClient(options: WarbleClientOptions): WarbleClient {
  const store = options.tokens ?? memoryTokenStore();
  const refreshCookie = options.refreshCookie === true;
  const extraHeaders = async () =>
    (typeof options.headers === 'function' ? await options.headers() : options.headers) ?? {};
  const fetch = refreshCookie ? includingCookies(options.fetch) : options.fetch;

  // Refreshes go straight to HTTP, around the auth link, so a failing refresh cannot recurse.
  // (httpLink and httpBatchLink, never the streaming batch link: the server cannot set the
  // refresh cookie once a streamed answer's headers have left.)
  const plain = createTRPCClient<AppRouter>({
    links: [httpLink({ url: options.url, fetch, headers: extraHeaders })],
  });

  // One refresh at a time for calls and live streams alike.
  const renewal = tokenRenewal({ store, refreshCookie, refresh: (input) => plain.auth.refresh.mutate(input) });

  return createTRPCClient<AppRouter>({
    links: [
      authLink({ renewal, store, refreshCookie }),
      splitLink({
        // Subscriptions (posts.onTimeline) are server-sent events; the rest, batched HTTP calls.
        condition: (op) => op.type === 'subscription',
        true: subscriptionLink({ url: options.url, fetch, headers: extraHeaders, withCredentials: refreshCookie }),
        false: batchPerToken((token) =>
          httpBatchLink({
            url: options.url,
            fetch,
            headers: async () => ({
              ...(await extraHeaders()),
              ...(token ? { authorization: `Bearer ${token}` } : {}),
            }),
          }),
        ),
      }),
    ],
  });
}

/** A fetch that sends and accepts the API's cookies across origins (the page's and the API's). */
function includingCookies(custom: typeof globalThis.fetch | undefined): typeof globalThis.fetch {
  // The global is looked up per call, not captured: whatever the page installed later is used.
  return (input, init) => {
    const included: RequestInit = { ...init, credentials: 'include' };
    return custom ? custom(input, included) : globalThis.fetch(input, included);
  };
}

// Tokens only move forward, so a few batchers cover the calls still in flight with older ones.
const BATCHERS_KEPT = 4;

/**
 * httpBatchLink sends every call of one tick in one request, with one set of headers. A retry that
 * carries the refreshed token can meet a call that still carries the expired one (it left before the
 * refresh): one batcher per access token keeps them apart, so nobody is sent with another's token.
 */
function batchPerToken(batcher: (token: string | null) => TRPCLink<AppRouter>): TRPCLink<AppRouter> {
  return (runtime) => {
    const links = new Map<string | null, OperationLink<AppRouter>>();
    return (call) => {
      const token = (call.op.context as AuthContext).accessToken ?? null;
      let link = links.get(token);
      if (!link) {
        link = batcher(token)(runtime);
        links.set(token, link);
        // Dropping a batcher only forgets it: requests it has sent still complete.
        if (links.size > BATCHERS_KEPT) links.delete(links.keys().next().value!);
      }
      return link(call);
    };
  };
}
