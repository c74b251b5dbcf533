// The one Warble client of the page, the query cache, and the typed query/mutation options.
import { MutationCache, QueryCache, QueryClient, queryOptions } from '@tanstack/react-query';
import { createTRPCOptionsProxy } from '@trpc/tanstack-react-query';
import { createWarbleClient, warbleErrorCode, type AppRouter } from '@warble/client';

export const API_URL = import.meta.env.VITE_WARBLE_API ?? 'http://localhost:3000/trpc';

// Cookie mode: the refresh token lives only in the API's httpOnly cookie, out of reach of any
// script on this page; the SDK keeps the short-lived access token in memory and renews it itself.
export const client = createWarbleClient({ url: API_URL, refreshCookie: true });

// UNAUTHORIZED reaches the page only when the SDK could not refresh either: the session is over
// (logged out in another tab, revoked, expired). Back to the sign-in forms, wherever it happened.
const onError = (error: unknown) => {
  if (warbleErrorCode(error) === 'UNAUTHORIZED') forgetSession();
};

export const queryClient = new QueryClient({
  queryCache: new QueryCache({ onError }),
  mutationCache: new MutationCache({ onError }),
  defaultOptions: {
    // The SDK already retries what can succeed on a second try (an expired token); anything else
    // is shown to the user at once rather than after three silent retries.
    queries: { retry: false, staleTime: 10_000 },
  },
});

export const trpc = createTRPCOptionsProxy<AppRouter>({ client, queryClient });

export interface SessionUser {
  id: string;
  username: string;
}

/**
 * Who is signed in: the user, or null. After a reload the page has no access token, so `auth.me`
 * is refused once; the SDK then refreshes through the cookie and retries, which brings a live
 * session back without the user doing anything.
 */
export const sessionQuery = queryOptions({
  queryKey: ['session'],
  queryFn: async (): Promise<SessionUser | null> => {
    try {
      const { id, username } = await client.auth.me.query();
      return { id, username };
    } catch (error) {
      if (warbleErrorCode(error) === 'UNAUTHORIZED') return null;
      throw error;
    }
  },
  staleTime: Infinity,
});

/** The session is over (logged out, or refused): forget every answer that belonged to the user. */
export function forgetSession(): void {
  queryClient.setQueryData(sessionQuery.queryKey, null);
  queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== sessionQuery.queryKey[0] });
}

/** Called after a write (post, delete, follow): every list and count may have changed. */
export function refetchAfterWrite(): Promise<void> {
  return queryClient.invalidateQueries({ predicate: (query) => query.queryKey[0] !== sessionQuery.queryKey[0] });
}

/** Posts come in pages of this many; "Load more" asks for the page after `nextCursor`. */
export const PAGE_SIZE = 10;
