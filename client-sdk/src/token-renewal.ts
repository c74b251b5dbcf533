// One refresh at a time for the whole client: calls, batches and live streams that met the same
// expired token all wait for the same auth.refresh.
import { warbleErrorCode } from './errors.ts';
import type { TokenStore, Tokens } from './token-store.ts';

export interface TokenRenewalOptions {
  store: TokenStore;
  /** Cookie mode: the refresh token is the API's httpOnly cookie, never in the store. */
  refreshCookie: boolean;
  /** Calls auth.refresh without the auth link (so a failing refresh cannot recurse). */
  refresh: (input: { refreshToken?: string; refreshCookie?: true }) => Promise<Tokens>;
}

/** The token a request is about to carry, and how many refreshes had ended when it was read. */
export interface SentWith {
  accessToken: string | null;
  refreshesEnded: number;
}

export interface TokenRenewal {
  /** Reads the store for a request about to leave: what `renew` needs to know afterwards. */
  read(): Promise<SentWith & { held: Tokens | null }>;
  /**
   * After an UNAUTHORIZED: makes sure the store holds tokens newer than the ones the request was
   * sent with; false when that is impossible (refused refresh: the store is then cleared).
   */
  renew(sent: SentWith): Promise<boolean>;
  /** What goes into the store: in cookie mode never a refresh token, whatever the answer holds. */
  stored(tokens: Tokens): Tokens;
  /** Resolves once no refresh is in flight. */
  idle(): Promise<void>;
}

export function tokenRenewal({ store, refreshCookie, refresh }: TokenRenewalOptions): TokenRenewal {
  let refreshing: Promise<boolean> | null = null;
  // How many refreshes have ended, well or not. A request that left before the latest one ended was
  // answered by it: refreshing again for that request would repeat a refusal (in cookie mode, where
  // an empty store cannot tell "refused" from "not tried yet") or spend a good token for nothing.
  let refreshesEnded = 0;

  const stored = ({ accessToken, refreshToken }: Tokens): Tokens => ({
    accessToken,
    refreshToken: refreshCookie ? null : refreshToken,
  });

  return {
    stored,

    async idle() {
      await refreshing;
    },

    async read() {
      const held = await store.get();
      return { held, accessToken: held?.accessToken ?? null, refreshesEnded };
    },

    async renew(sent) {
      const current = await store.get();
      // A refresh or a login happened while this request was in flight: just retry with the new token.
      if (current && current.accessToken !== sent.accessToken) return true;
      if (refreshesEnded !== sent.refreshesEnded) return false;
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
          if (warbleErrorCode(error) === 'UNAUTHORIZED') await store.set(null);
          return false;
        }
      })().finally(() => {
        refreshing = null;
        refreshesEnded++;
      });
      return refreshing;
    },
  };
}
