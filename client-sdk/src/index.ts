// @warble/client: the typed client of the Warble API.
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from './app-router.ts';
import { authLink, type AuthContext } from './auth-link.ts';
import { memoryTokenStore, type TokenStore, type Tokens } from './token-store.ts';

export type { AppRouter, ErrorShape } from './app-router.ts';
export { memoryTokenStore, type TokenStore, type Tokens };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type WarbleClient = TRPCClient<AppRouter>;

export interface WarbleClientOptions {
  /** The API's tRPC endpoint, e.g. `http://127.0.0.1:3000/trpc`. */
  url: string;
  /** Where tokens are kept; memory by default. */
  tokens?: TokenStore;
  /** A fetch implementation (tests, older runtimes, instrumentation); the global one by default. */
  fetch?: typeof globalThis.fetch;
  /** Extra headers for every request. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
}

export function createWarbleClient(options: WarbleClientOptions): WarbleClient {
  const store = options.tokens ?? memoryTokenStore();
  const extraHeaders = async () =>
    (typeof options.headers === 'function' ? await options.headers() : options.headers) ?? {};

  // Refreshes go straight to HTTP, around the auth link, so a failing refresh cannot recurse.
  const plain = createTRPCClient<AppRouter>({
    links: [httpLink({ url: options.url, fetch: options.fetch, headers: extraHeaders })],
  });

  return createTRPCClient<AppRouter>({
    links: [
      authLink({ store, refresh: (refreshToken) => plain.auth.refresh.mutate({ refreshToken }) }),
      httpBatchLink({
        url: options.url,
        fetch: options.fetch,
        // Calls batched together were sent at the same moment, with the same token.
        async headers({ opList }) {
          const token = opList.map((op) => (op.context as AuthContext).accessToken).find(Boolean);
          return { ...(await extraHeaders()), ...(token ? { authorization: `Bearer ${token}` } : {}) };
        },
      }),
    ],
  });
}
