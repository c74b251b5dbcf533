// The link that makes the client log in, stay logged in, and log out without the caller's help.
import {
  TRPCClientError,
  type Operation,
  type OperationLink,
  type OperationResultObservable,
  type TRPCLink,
} from '@trpc/client';
import { observable } from '@trpc/server/observable';
import type { AppRouter } from './app-router.ts';
import { isWarbleError, warbleErrorCode } from './errors.ts';
import { resumingSubscription } from './resuming-subscription.ts';
import type { TokenRenewal } from './token-renewal.ts';
import type { TokenStore, Tokens } from './token-store.ts';

// Procedures whose UNAUTHORIZED is about the credentials in their input, not an expired token:
// refreshing would not help them (and refreshing for auth.refresh itself would loop).
const NO_REFRESH = new Set(['auth.signup', 'auth.login', 'auth.refresh', 'auth.logout']);
const STORES_RESULT = new Set(['auth.login', 'auth.refresh']);
// Procedures that end the client's session: the store is cleared once they have answered. A logout
// clears it even when it fails (a session already gone still means: forget the tokens); a deleted
// account has no sessions left, but a wrong password leaves account and client as they were.
const CLEARS_STORE = new Set(['auth.logout', 'auth.logoutAll', 'auth.deleteAccount']);
const CLEARS_STORE_ON_FAILURE = new Set(['auth.logout', 'auth.logoutAll']);

/** What the auth link tells the transport links, in the operation's context. */
export interface AuthContext extends Record<string, unknown> {
  /** The access token a call was sent with (the HTTP links put it in the Authorization header). */
  accessToken?: string | null;
  /**
   * For a live stream, which connects again and again: the token for the connection about to be
   * made, read from the store each time (so a reconnect never carries a token replaced since).
   */
  connectToken?: () => Promise<string | null>;
}

/** The rest of the link chain, as a link sees it. */
export type NextLink = Parameters<OperationLink<AppRouter>>[0]['next'];

const isUnauthorized = (error: unknown) => warbleErrorCode(error) === 'UNAUTHORIZED';

/**
 * An UNAUTHORIZED about the password in the input (auth.changePassword, auth.deleteAccount), not
 * the token: a refresh cannot help, and a retry would count a second failed login (and rotate the
 * refresh token for nothing), so it goes to the caller at once.
 */
const isWrongPassword = (error: unknown) => isWarbleError(error) && error.data?.reason === 'WRONG_PASSWORD';

export interface AuthLinkOptions {
  /** The client's one refresh, shared with live streams. */
  renewal: TokenRenewal;
  store: TokenStore;
  /**
   * The refresh token lives in an httpOnly cookie: the SDK asks for it on login and refresh, keeps
   * only the access token, and tries a refresh even when it holds nothing (after a page reload).
   */
  refreshCookie: boolean;
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

export function authLink(options: AuthLinkOptions): TRPCLink<AppRouter> {
  return () =>
    ({ op, next }) =>
      // A stream is not retried once but resumed after every expiry: resuming-subscription.ts.
      op.type === 'subscription'
        ? resumingSubscription({ op, next, renewal: options.renewal })
        : authenticatedCall(op, next, options);
}

/** A query or mutation: sent with the stored token, retried once after a refresh. */
function authenticatedCall(
  op: Operation,
  next: NextLink,
  { renewal, store, refreshCookie }: AuthLinkOptions,
): OperationResultObservable<AppRouter, unknown> {
  return observable((observer) => {
    let unsubscribe: (() => void) | undefined;
    let stopped = false;

    const attempt = async (retried: boolean) => {
      // A logout that overtook a refresh (a live stream renews its token in the background) would
      // end the session, and then the refresh's answer would bring a token, or a cookie, back.
      if (CLEARS_STORE.has(op.path)) await renewal.idle();
      const { held, ...sentWith } = await renewal.read();
      if (stopped) return;
      const sent: Operation = {
        ...op,
        input: inputWithCredentials(op, held, refreshCookie),
        context: { ...op.context, accessToken: sentWith.accessToken } satisfies AuthContext,
      };
      // Results reach the caller only once the store is up to date; completion waits for them.
      let settled: Promise<void> = Promise.resolve();
      const subscription = next(sent).subscribe({
        next(result) {
          const data = result.result.type === 'data' ? result.result.data : undefined;
          settled = (async () => {
            if (STORES_RESULT.has(op.path) && data) await store.set(renewal.stored(data as Tokens));
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
              !isWrongPassword(error) &&
              !NO_REFRESH.has(op.path) &&
              (await renewal.renew(sentWith))
            ) {
              return attempt(true);
            }
            // A logout whose session was already gone still means: forget the tokens.
            if (CLEARS_STORE_ON_FAILURE.has(op.path)) await store.set(null);
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
