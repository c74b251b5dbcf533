/**
 * The credentials the client holds: what `auth.login` and `auth.refresh` return. `refreshToken` is
 * `null` with `refreshCookie: true`: the refresh token then lives only in the httpOnly cookie,
 * where no script can read it.
 */
export interface Tokens {
  accessToken: string;
  refreshToken: string | null;
}

/**
 * Where the client keeps its tokens: memory by default; pass your own to keep them in a keychain,
 * a file of a command-line tool… `get` and `set` may be sync or async. (Methods, not function
 * properties: a store written for the older `refreshToken: string` still fits.)
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
