// The world: users, posts, tokens and cursors that exist on the server before a run, so inputs can
// name real things; and the fresh values (see FRESH) an input may ask for just before it is sent.
import { randomBytes } from 'node:crypto';

export interface Account {
  id: string;
  username: string;
  password: string;
}

export interface World {
  url: string;
  /** Makes the protected calls with `auth: valid`; its refresh token is never shown to the fuzzer. */
  self: Account;
  /** Another user with posts and follows. */
  other: Account;
  /** The user whose password the fuzzer knows, so some logins succeed. */
  decoy: Account;
  /** auth.logoutAll with a valid token logs this one in first: it may revoke its own sessions freely. */
  sacrificial: Account;
  /**
   * auth.changePassword with a valid token logs this one in first: its password may change for a
   * moment (the procedure's verify changes it back), so nothing else ever logs it in.
   */
  keyholder: Account;
  /** The password of the accounts signed up for one auth.deleteAccount each (see `newcomer`). */
  newcomerPassword: string;
  /** Owner of the refresh tokens the fuzzer may use (see FRESH). */
  throwaway: Account;
  /** Access token of `self` (replaced by `relogin` if it ever stops working). */
  selfToken: string;
  /** Access token of a session that has been logged out. */
  staleAccessToken: string;
  /** Refresh tokens of a throwaway user, live and spent: fair game for auth.refresh and auth.logout. */
  refreshTokens: string[];
  postIds: { own: string[]; others: string[]; deleted: string[] };
  /** Real cursors, one list each. */
  cursors: { timeline: string; byUser: string; followers: string; following: string };
  /** The list names cursors carry, for forging them. */
  lists: string[];
}

interface CallResult {
  status: number;
  text: string;
  body: { result?: { data?: unknown }; error?: { message?: string; data?: { code?: string } } } | undefined;
}

/** A call as any well-behaved client makes it: for setting up the world, and for reading back. */
export async function plainCall(
  url: string,
  path: string,
  kind: 'query' | 'mutation',
  input: unknown,
  token?: string,
): Promise<CallResult> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const response =
    kind === 'query'
      ? await fetch(
          `${url}/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`,
          { headers },
        )
      : await fetch(`${url}/trpc/${path}`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(input ?? null),
        });
  const text = await response.text();
  let body: CallResult['body'];
  try {
    body = JSON.parse(text) as CallResult['body'];
  } catch {
    body = undefined;
  }
  return { status: response.status, text, body };
}

async function succeed<T>(call: Promise<CallResult>, what: string): Promise<T> {
  const result = await call;
  if (result.status !== 200 || !result.body?.result) {
    throw new Error(`world setup: ${what} failed with ${result.status}: ${result.text.slice(0, 500)}`);
  }
  return result.body.result.data as T;
}

const newName = (prefix: string) => `${prefix}_${randomBytes(6).toString('hex')}`;

const newPassword = () => `pw ${randomBytes(9).toString('base64url')}`;

async function account(url: string, prefix: string, password = newPassword()): Promise<Account> {
  const username = newName(prefix);
  const { id } = await succeed<{ id: string }>(
    plainCall(url, 'auth.signup', 'mutation', { username, password }),
    `signup ${username}`,
  );
  return { id, username, password };
}

interface Tokens {
  accessToken: string;
  refreshToken: string;
}

export async function logIn(url: string, who: Account): Promise<Tokens> {
  return succeed<Tokens>(
    plainCall(url, 'auth.login', 'mutation', { username: who.username, password: who.password }),
    `login ${who.username}`,
  );
}

async function post(url: string, token: string, body: string): Promise<string> {
  return (await succeed<{ id: string }>(plainCall(url, 'posts.create', 'mutation', { body }, token), 'posts.create'))
    .id;
}

async function firstPageCursor(url: string, path: string, input: object, token?: string): Promise<string> {
  const page = await succeed<{ nextCursor: string | null }>(
    plainCall(url, path, 'query', { ...input, limit: 1 }, token),
    path,
  );
  if (!page.nextCursor) throw new Error(`world setup: ${path} has a single page`);
  return page.nextCursor;
}

/** Users, posts, follows, tokens and cursors on a running server, for inputs to refer to. */
export async function prepareWorld(url: string): Promise<World> {
  const [self, other, decoy, sacrificial, throwaway, keyholder] = await Promise.all(
    ['self', 'other', 'decoy', 'sacrificial', 'throwaway', 'keyholder'].map((prefix) => account(url, prefix)),
  );
  if (!self || !other || !decoy || !sacrificial || !throwaway || !keyholder) throw new Error('world setup: signup');
  const selfTokens = await logIn(url, self);
  const otherTokens = await logIn(url, other);
  const decoyTokens = await logIn(url, decoy);

  const own: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < 4; i++) {
    own.push(await post(url, selfTokens.accessToken, `self post ${i}`));
    others.push(await post(url, otherTokens.accessToken, `other post ${i}`));
  }
  const deleted = [own.pop()!, others.pop()!];
  await succeed(plainCall(url, 'posts.delete', 'mutation', { id: deleted[0] }, selfTokens.accessToken), 'delete');
  await succeed(plainCall(url, 'posts.delete', 'mutation', { id: deleted[1] }, otherTokens.accessToken), 'delete');

  const follow = (token: string, username: string) =>
    succeed(plainCall(url, 'users.follow', 'mutation', { username }, token), 'users.follow');
  await follow(selfTokens.accessToken, other.username);
  await follow(otherTokens.accessToken, self.username);
  await follow(decoyTokens.accessToken, self.username);
  await follow(decoyTokens.accessToken, other.username);

  const cursors = {
    timeline: await firstPageCursor(url, 'posts.timeline', {}, selfTokens.accessToken),
    byUser: await firstPageCursor(url, 'posts.byUser', { username: self.username }),
    followers: await firstPageCursor(url, 'users.followers', { username: self.username }),
    following: await firstPageCursor(url, 'users.following', { username: decoy.username }),
  };

  // Tokens of a throwaway user: live ones, a spent one, and an access token whose session is gone.
  const throwawayTokens = await Promise.all([logIn(url, throwaway), logIn(url, throwaway), logIn(url, throwaway)]);
  const spent = throwawayTokens[0].refreshToken;
  const successor = await succeed<Tokens>(
    plainCall(url, 'auth.refresh', 'mutation', { refreshToken: spent }),
    'auth.refresh',
  );
  const stale = await logIn(url, throwaway);
  await succeed(plainCall(url, 'auth.logout', 'mutation', { refreshToken: stale.refreshToken }), 'auth.logout');

  return {
    url,
    self,
    other,
    decoy,
    sacrificial,
    keyholder,
    newcomerPassword: newPassword(),
    throwaway,
    selfToken: selfTokens.accessToken,
    staleAccessToken: stale.accessToken,
    refreshTokens: [
      spent,
      successor.refreshToken,
      stale.refreshToken,
      ...throwawayTokens.slice(1).map((tokens) => tokens.refreshToken),
    ],
    postIds: { own, others, deleted },
    cursors,
    lists: [`timeline:${self.id}`, `posts:${self.id}`, `followers:${self.id}`, `following:${decoy.id}`],
  };
}

/** Who a call with `auth: valid` was made as: the account, and the access token it carried. */
export interface Caller {
  account: Account;
  accessToken: string;
}

/** A new account, signed up and logged in for one call alone (which may delete it). */
export async function newcomer(world: World): Promise<Caller> {
  const who = await account(world.url, 'newcomer', world.newcomerPassword);
  return { account: who, accessToken: (await logIn(world.url, who)).accessToken };
}

/**
 * Placeholders an input may carry, replaced just before it is sent by something made for that call
 * alone: a refresh token of a new session of `throwaway` (so auth.refresh can rotate and
 * auth.logout can revoke a live session every time), a new post of `self` (so posts.delete can
 * succeed), a post of `self` deleted just now (so posts.restore can succeed).
 */
export const FRESH = {
  refreshToken: '@@fresh-refresh-token@@',
  ownPostId: '@@fresh-own-post-id@@',
  deletedOwnPostId: '@@fresh-deleted-own-post-id@@',
} as const;

/** `text` with every FRESH placeholder replaced by a value made now. */
export async function withFreshValues(world: World, text: string): Promise<string> {
  let result = text;
  if (result.includes(FRESH.refreshToken))
    result = result.replaceAll(FRESH.refreshToken, (await logIn(world.url, world.throwaway)).refreshToken);
  if (result.includes(FRESH.ownPostId))
    result = result.replaceAll(FRESH.ownPostId, await post(world.url, world.selfToken, 'to be deleted'));
  if (result.includes(FRESH.deletedOwnPostId)) {
    const id = await post(world.url, world.selfToken, 'to be restored');
    await succeed(plainCall(world.url, 'posts.delete', 'mutation', { id }, world.selfToken), 'posts.delete');
    result = result.replaceAll(FRESH.deletedOwnPostId, id);
  }
  return result;
}

/** Logs `self` in again (if a call revoked its token, which nothing should). */
export async function relogin(world: World): Promise<void> {
  world.selfToken = (await logIn(world.url, world.self)).accessToken;
}
