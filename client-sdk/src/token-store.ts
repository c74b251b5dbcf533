/** The credentials the client holds: what `auth.login` and `auth.refresh` return. */
export interface Tokens {
  accessToken: string;
  refreshToken: string;
}

/**
 * Where the client keeps its tokens: memory by default; pass your own to keep them in
 * localStorage, a cookie jar, a keychain… `get` and `set` may be sync or async.
 */
export interface TokenStore {
  get(): Tokens | null | Promise<Tokens | null>;
  set(tokens: Tokens | null): void | Promise<void>;
}

export function memoryTokenStore(initial: Tokens | null = null): TokenStore {
  let tokens = initial;
  return {
    get: () => tokens,
    set: (next) => {
      tokens = next;
    },
  };
}
