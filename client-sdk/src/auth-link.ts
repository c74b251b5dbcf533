// The link that makes the client log in, stay logged in, and log out without the caller's help.
import { TRPCClientError, type Operation, type TRPCLink } from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from './app-router.ts';
import { warbleErrorCode } from './errors.ts';
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

const isUnauthorized = (error: unknown) => warbleErrorCode(error) === 'UNAUTHORIZED';

export interface AuthLinkOptions {
  store: TokenStore;
  /**
   * The refresh token lives in an httpOnly cookie: the SDK asks for it on login and refresh, keeps
   * only the access token, and tries a refresh even when it holds nothing (after a page reload).
   */
  refreshCookie: boolean;
  /** Calls auth.refresh without this link (so a failing refresh cannot recurse). */
  refresh: (input: { refreshToken?: string; refreshCookie?: true }) => Promise<Tokens>;
}

type CredentialsInput = { refreshToken?: string | null; refreshCookie?: boolean } | undefined;

/**
 * What the SDK adds to the inputs of the credential procedures, so that callers never handle a
 * refresh token: in cookie mode it asks for the cookie (the server then answers `refreshToken:
 * null`); otherwise auth.refresh and auth.logout without a token get the stored one. Cookie mode
 * adds no token to auth.logout: the server reads the cookie and clears it.
 */
function inputWithCredentials(op: Operation, held: Tokens | null, refreshCookie: boolean): unknown {
  const input = op.input as CredentialsInput;
  if (refreshCookie && (op.path === 'auth.login' || op.path === 'auth.refresh')) {
    return { ...input, refreshCookie: true };
  }
  if ((op.path === 'auth.refresh' || op.path === 'auth.logout') && !input?.refreshToken && held?.refreshToken) {
    return { ...input, refreshToken: held.refreshToken };
  }
  return op.path === 'auth.logout' ? (input ?? {}) : op.input;
}

export function authLink({ store, refreshCookie, refresh }: AuthLinkOptions): TRPCLink<AppRouter> {
  // One refresh at a time, shared by every call that failed with the same expired token.
  let refreshing: Promise<boolean> | null = null;
  // How many refreshes have ended, well or not. A call that left before the latest one ended was
  // answered by it: refreshing again for that call would repeat a refusal (in cookie mode, where
  // an empty store cannot tell "refused" from "not tried yet") or spend a good token for nothing.
  let refreshesEnded = 0;

  /** Makes sure the store holds tokens newer than `sentWith`; false when that is impossible. */
  async function renew(sentWith: string | null, sentAfter: number): Promise<boolean> {
    const current = await store.get();
    // A refresh or a login happened while this call was in flight: just retry with the new token.
    if (current && current.accessToken !== sentWith) return true;
    if (refreshesEnded !== sentAfter) return false;
    // Without the cookie, a refresh needs the refresh token from the store. With it, the server
    // reads the cookie (and says UNAUTHORIZED when there is none).
    const input = refreshCookie
      ? ({ refreshCookie: true } as const)
      : current?.refreshToken
        ? { refreshToken: current.refreshToken }
        : null;
    if (!input) return false;
    refreshing ??= (async () => {
      try {
        await store.set(stored(await refresh(input)));
        return true;
      } catch (error) {
        // The refresh token is spent, revoked or expired (or, in cookie mode, there is no cookie):
        // the session is over. Any other failure, say the network, keeps the tokens for a later try.
        if (isUnauthorized(error)) await store.set(null);
        return false;
      }
    })().finally(() => {
      refreshing = null;
      refreshesEnded++;
    });
    return refreshing;
  }

  /** What goes into the store: in cookie mode never a refresh token, whatever the answer holds. */
  const stored = ({ accessToken, refreshToken }: Tokens): Tokens => ({
    accessToken,
    refreshToken: refreshCookie ? null : refreshToken,
  });

  return () =>
    ({ op, next }) =>
      observable((observer) => {
        let unsubscribe: (() => void) | undefined;
        let stopped = false;

        const attempt = async (retried: boolean) => {
          const held = await store.get();
          const sentAfter = refreshesEnded;
          if (stopped) return;
          const accessToken = held?.accessToken ?? null;
          const sent: Operation = {
            ...op,
            input: inputWithCredentials(op, held, refreshCookie),
            context: { ...op.context, accessToken } satisfies AuthContext,
          };
          // Results reach the caller only once the store is up to date; completion waits for them.
          let settled: Promise<void> = Promise.resolve();
          const subscription = next(sent).subscribe({
            next(result) {
              const data = result.result.type === 'data' ? result.result.data : undefined;
              settled = (async () => {
                if (STORES_RESULT.has(op.path) && data) await store.set(stored(data as Tokens));
                if (CLEARS_STORE.has(op.path)) await store.set(null);
              })().then(
                () => observer.next(result),
                (error: unknown) => observer.error(TRPCClientError.from(error as Error)),
              );
            },
            error(error) {
              void (async () => {
                if (
                  !retried &&
                  isUnauthorized(error) &&
                  !NO_REFRESH.has(op.path) &&
                  (await renew(accessToken, sentAfter))
                ) {
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
