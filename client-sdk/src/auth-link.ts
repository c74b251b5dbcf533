// The link that makes the client log in, stay logged in, and log out without the caller's help.
import { TRPCClientError, type Operation, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from './app-router.ts';
import type { TokenStore, Tokens } from './token-store.ts';

// Procedures whose UNAUTHORIZED is about the credentials in their input, not an expired token:
// refreshing would not help them (and refreshing for auth.refresh itself would loop).
const NO_REFRESH = new Set(['auth.signup', 'auth.login', 'auth.refresh', 'auth.logout']);
const STORES_RESULT = new Set(['auth.login', 'auth.refresh']);
const CLEARS_STORE = new Set(['auth.logout', 'auth.logoutAll']);

/** The access token a call was sent with, carried in the operation's context to the HTTP link. */
export interface AuthContext extends Record<string, unknown> {
  accessToken?: string | null;
}

const isUnauthorized = (error: unknown) =>
  error instanceof TRPCClientError && (error.data as { code?: string } | undefined)?.code === 'UNAUTHORIZED';

export interface AuthLinkOptions {
  store: TokenStore;
  /** Calls auth.refresh without this link (so a failing refresh cannot recurse). */
  refresh: (refreshToken: string) => Promise<Tokens>;
}

export function authLink({ store, refresh }: AuthLinkOptions): TRPCLink<AppRouter> {
  // One refresh at a time, shared by every call that failed with the same expired token.
  let refreshing: Promise<boolean> | null = null;

  /** Makes sure the store holds tokens newer than `sentWith`; false when that is impossible. */
  async function renew(sentWith: string | null | undefined): Promise<boolean> {
    const current = await store.get();
    if (!current?.refreshToken) return false;
    // Another call refreshed while this one was in flight: just retry with the new token.
    if (current.accessToken !== sentWith) return true;
    refreshing ??= (async () => {
      try {
        await store.set(await refresh(current.refreshToken));
        return true;
      } catch (error) {
        // The refresh token is spent, revoked or expired: the session is over. (Any other
        // failure, say the network, keeps the tokens for a later try.)
        if (isUnauthorized(error)) await store.set(null);
        return false;
      } finally {
        refreshing = null;
      }
    })();
    return refreshing;
  }

  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let unsubscribe: (() => void) | undefined;
        let stopped = false;

        const attempt = async (retried: boolean) => {
          const accessToken = (await store.get())?.accessToken ?? null;
          if (stopped) return;
          const sent: Operation = { ...op, context: { ...op.context, accessToken } satisfies AuthContext };
          // Results reach the caller only once the store is up to date; completion waits for them.
          let settled: Promise<void> = Promise.resolve();
          const subscription = next(sent).subscribe({
            next(result) {
              const data = result.result.type === 'data' ? result.result.data : undefined;
              settled = (async () => {
                if (STORES_RESULT.has(op.path) && data) {
                  const { accessToken: access, refreshToken } = data as Tokens;
                  await store.set({ accessToken: access, refreshToken });
                }
                if (CLEARS_STORE.has(op.path)) await store.set(null);
              })().then(
                () => observer.next(result),
                (error: unknown) => observer.error(TRPCClientError.from(error as Error)),
              );
            },
            error(error) {
              void (async () => {
                if (!retried && isUnauthorized(error) && !NO_REFRESH.has(op.path) && (await renew(accessToken))) {
                  return attempt(true);
                }
                // A logout whose session was already gone still means: forget the tokens.
                if (CLEARS_STORE.has(op.path)) await store.set(null);
                observer.error(error);
              })();
            },
            complete() {
              void settled.then(() => observer.complete());
            },
          });
          unsubscribe = () => subscription.unsubscribe();
        };

        void attempt(false);
        return () => {
          stopped = true;
          unsubscribe?.();
        };
      });
}
