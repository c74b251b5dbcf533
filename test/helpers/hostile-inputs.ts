// Hostile-input testing: a catalogue of every procedure of the router, fast-check arbitraries for
// inputs shaped like each procedure's schema (and everything around it), a caller that sends them
// over plain HTTP as any client would, and the checks every answer must pass. Shared by
// test/hostile-input.test.ts (a bounded run inside `npm test`) and scripts/fuzz.ts (`npm run fuzz`),
// so it must not import vitest.
import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { z } from 'zod';

// ---------------------------------------------------------------------------------------------
// The contract's errors
// ---------------------------------------------------------------------------------------------

/** Every error code a client may see, with its HTTP status (../shared/api-contract.md). */
export const CONTRACT_ERRORS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;
export type ErrorCode = keyof typeof CONTRACT_ERRORS;

export const BODY_LIMIT_BYTES = 1024 * 1024;
/** Longest URL we send: Node refuses request heads over 16 KiB (431), which is not tRPC's business. */
export const MAX_QUERY_URL = 10_000;
/** Login limits high enough that the limiter hides nothing else (LOGIN_MAX_FAILURES is capped at 1000). */
export const FUZZ_ENV_OVERRIDES = {
  LOGIN_MAX_FAILURES: '1000',
  LOGIN_MAX_FAILURES_PER_ADDRESS: '100000',
  // A long fuzz run must not outlive the one access token it uses.
  ACCESS_TOKEN_TTL: '86400',
} as const;

/**
 * What must never reach a client outside development: SQL and database words, file paths and
 * stack frames, and the words of the libraries underneath (jsonwebtoken, zod, MikroORM, pg,
 * the JavaScript engine).
 */
export const LEAK_PATTERNS: readonly RegExp[] = [
  /\bselect\b/i,
  /\binsert\b/i,
  /\bupdate\b/i,
  /\bdelete\s+from\b/i,
  /\brelation\b/i,
  /\bconstraint\b/i,
  /duplicate key/i,
  /\bviolates\b/i,
  /syntax error/i,
  /invalid input syntax/i,
  /out of range/i,
  /\bsql\b/i,
  /postgres/i,
  /\bpg-/i,
  /node-postgres/i,
  /\/server\//,
  /node_modules/,
  /\.[cm]?[jt]s:\d/,
  /\.ts:/,
  /\bat .+:\d+:\d+/,
  /\bjwt /i,
  /jsonwebtoken/i,
  /ZodError/,
  /MikroORM/i,
  /Kysely/i,
  /\b(Type|Range|Reference|Syntax)Error\b/,
  /Cannot read propert/i,
  /is not a function/i,
  /is not valid JSON/i,
  /Unexpected (token|end of JSON|non-whitespace)/i,
  /in JSON at position/i,
  /Expected (property name|',' or|double-quoted)/i,
  /Bad (control|escaped) character/i,
  /Maximum call stack/i,
  /ECONNREFUSED|ECONNRESET|EPIPE/,
  /\$2[aby]\$\d\d\$/, // a bcrypt hash
  /password_?hash|token_?hash/i,
];

const abbreviate = (text: string, max = 400) =>
  text.length <= max ? text : `${text.slice(0, max)}… (${text.length} chars)`;

// ---------------------------------------------------------------------------------------------
// Inputs that are not plain JSON values
// ---------------------------------------------------------------------------------------------

/** JSON text sent exactly as written (duplicate keys, number tokens JSON.stringify cannot make, bad JSON). */
export class RawJson {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  [fc.toStringMethod]() {
    return `RawJson(${JSON.stringify(abbreviate(this.text, 200))})`;
  }
}

/** No input at all: a GET without `?input`, a POST without a body. */
export const NO_INPUT = Object.freeze({ [fc.toStringMethod]: () => 'NO_INPUT' });

/** The JSON text an input is sent as; undefined for none. */
export function inputText(input: unknown): string | undefined {
  if (input === NO_INPUT) return undefined;
  if (input instanceof RawJson) return input.text;
  // JSON.stringify says string, but gives undefined for undefined, functions and symbols.
  const text: string | undefined = JSON.stringify(input);
  return text;
}

/** An own, enumerable property, even for names such as `__proto__` that assignment would not create. */
function withOwn(target: object, key: string, value: unknown): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...target };
  Object.defineProperty(copy, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

function nested(depth: number, kind: 'array' | 'object', leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { a: value };
  // fast-check prints counterexamples recursively; a symbol key is invisible to JSON.stringify.
  if (typeof value !== 'object' || value === null) return value;
  Object.defineProperty(value, fc.toStringMethod, {
    value: () => `${kind === 'array' ? '[' : '{"a":'}…${depth} levels…${fc.stringify(leaf)}`,
    enumerable: false,
  });
  return value;
}

/** Too deep (or too big) for anything recursive, including fast-check's printer: sent as text. */
const deepArrayText = (depth: number) => new RawJson(`${'['.repeat(depth)}1${']'.repeat(depth)}`);

// ---------------------------------------------------------------------------------------------
// Building blocks: hostile strings and values
// ---------------------------------------------------------------------------------------------

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code));
const controlChar = fc.integer({ min: 0, max: 0x1f }).map((code) => String.fromCharCode(code));
const specialChar = fc.constantFrom(
  '\u0000',
  '\u007f',
  '\u0085',
  '\u00a0',
  '\u2028',
  '\u2029',
  '\u200b',
  '\u200d',
  '\u202e',
  '\u3000',
  '\ufeff',
  '\ufffd',
  '\uffff',
  '\u{10ffff}',
  '😀',
  '👩‍👩‍👧‍👦',
  'e\u0301',
  'İ',
  'ß',
  'ﬃ',
  '\\',
  '"',
  "'",
  '%',
  '_',
  '?',
  '$',
  '`',
);
/** One unit of a hostile string: any code point, or a lone surrogate, a control character, a troublemaker. */
const hostileUnit = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 1, arbitrary: controlChar },
  { weight: 2, arbitrary: specialChar },
);

/** Strings that have hurt parsers, ORMs, databases and templating before. */
export const NASTY_STRINGS = [
  '',
  ' ',
  '   ',
  '\t\n\r',
  'NaN',
  '-NaN',
  'Infinity',
  '-Infinity',
  '-1',
  '0',
  '-0',
  '1.5',
  '1e309',
  '0x1F',
  '9007199254740993',
  'null',
  'undefined',
  'true',
  'false',
  '[]',
  '{}',
  '{"a":1}',
  "'; drop table users; --",
  "' or '1'='1",
  '" or ""="',
  '1; select pg_sleep(10)',
  '$1',
  '?',
  '??',
  '\\?',
  '%s%s%s%n',
  '${7*7}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud83d',
  '\ude00x',
  '\u202eevil',
  'Bearer x',
  'ＡＤＭＩＮ',
  'admin',
  'ab',
  'a'.repeat(33),
  '%00',
  '%ff',
  '\\u0000',
  'e\u0301',
  '\u200b',
  '\ufeff',
  'Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇',
];

/** Strings up to `maxLength` UTF-16 units (100k by default); long ones are repeated patterns. */
export function hostileString(maxLength = 100_000): fc.Arbitrary<string> {
  const long = fc
    .tuple(
      fc.string({ unit: hostileUnit, minLength: 1, maxLength: 6 }),
      fc.integer({ min: Math.min(300, maxLength), max: maxLength }),
    )
    // Cutting may split a surrogate pair: one more way to make a lone surrogate.
    .map(([pattern, length]) => pattern.repeat(Math.ceil(length / pattern.length)).slice(0, length));
  return fc.oneof(
    { weight: 3, arbitrary: fc.string() },
    { weight: 3, arbitrary: fc.string({ unit: 'grapheme' }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme-composite' }) },
    { weight: 3, arbitrary: fc.string({ unit: 'binary' }) },
    { weight: 4, arbitrary: fc.string({ unit: hostileUnit }) },
    { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS) },
    { weight: 1, arbitrary: long },
  );
}

const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  // NaN and the infinities become null in JSON; RawJson below sends 1e400 and friends.
  fc.double(),
  fc.constantFrom(
    0,
    -0,
    -1,
    1.5,
    0.1,
    1e21,
    -1e21,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    2 ** 64,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_SAFE_INTEGER + 2,
    Number.MIN_SAFE_INTEGER,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    Number.EPSILON,
  ),
);

const scalar: fc.Arbitrary<unknown> = fc.oneof(hostileString(200), hostileNumber, fc.boolean(), fc.constant(null));

/** Arrays or objects nested `depth` deep (500 and more), with a scalar at the bottom. */
export function deeplyNested(maxDepth = 600): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.integer({ min: 20, max: maxDepth }), fc.constantFrom('array' as const, 'object' as const), scalar)
    .map(([depth, kind, leaf]) => nested(depth, kind, leaf));
}

const prototypeKey = fc.constantFrom('__proto__', 'constructor', 'prototype');
/** What a pollution attempt carries; `warblePolluted` showing up on Object.prototype is a failure. */
const pollution: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant({ warblePolluted: true }),
  fc.constant({ prototype: { warblePolluted: true } }),
  fc.constant({ isAdmin: true, role: 'admin', id: '00000000-0000-0000-0000-000000000000' }),
  fc.constant({ username: 'admin', body: 'polluted', limit: 100 }),
  scalar,
);

/** Any value at all, of any JSON type, a bit deep, with hostile strings and keys. */
export function hostileValue(maxLength = 100_000): fc.Arbitrary<unknown> {
  const key = fc.oneof(fc.string(), prototypeKey, fc.constantFrom(...NASTY_STRINGS));
  return fc.oneof(
    { weight: 4, arbitrary: hostileString(maxLength) },
    { weight: 3, arbitrary: hostileNumber },
    { weight: 1, arbitrary: fc.boolean() },
    { weight: 1, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.array(scalar, { maxLength: 8 }) },
    { weight: 2, arbitrary: fc.dictionary(key, scalar, { maxKeys: 5 }) },
    {
      weight: 2,
      arbitrary: fc.anything({ maxDepth: 4, maxKeys: 5, stringUnit: 'binary', withNullPrototype: true }),
    },
    { weight: 1, arbitrary: deeplyNested() },
  );
}

// ---------------------------------------------------------------------------------------------
// The world: users, posts, tokens and cursors that exist, so inputs can name real things
// ---------------------------------------------------------------------------------------------

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

async function plainCall(
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

async function account(url: string, prefix: string): Promise<Account> {
  const username = newName(prefix);
  const password = `pw ${randomBytes(9).toString('base64url')}`;
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

async function logIn(url: string, who: Account): Promise<Tokens> {
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
  const [self, other, decoy, sacrificial, throwaway] = await Promise.all(
    ['self', 'other', 'decoy', 'sacrificial', 'throwaway'].map((prefix) => account(url, prefix)),
  );
  if (!self || !other || !decoy || !sacrificial || !throwaway) throw new Error('world setup: signup');
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

/**
 * Placeholders an input may carry, replaced just before it is sent by something made for that call
 * alone: a refresh token of a new session of `throwaway` (so auth.refresh can rotate and
 * auth.logout can revoke a live session every time), a new post of `self` (so posts.delete can succeed).
 */
export const FRESH = { refreshToken: '@@fresh-refresh-token@@', ownPostId: '@@fresh-own-post-id@@' } as const;

/** `text` with every FRESH placeholder replaced by a value made now. */
async function withFreshValues(world: World, text: string): Promise<string> {
  let result = text;
  if (result.includes(FRESH.refreshToken))
    result = result.replaceAll(FRESH.refreshToken, (await logIn(world.url, world.throwaway)).refreshToken);
  if (result.includes(FRESH.ownPostId))
    result = result.replaceAll(FRESH.ownPostId, await post(world.url, world.selfToken, 'to be deleted'));
  return result;
}

/** Logs `self` in again (if a call revoked its token, which nothing should). */
export async function relogin(world: World): Promise<void> {
  world.selfToken = (await logIn(world.url, world.self)).accessToken;
}

// ---------------------------------------------------------------------------------------------
// Plausible field values, right and nearly right
// ---------------------------------------------------------------------------------------------

/** Variations of a known value: case, whitespace, invisible characters, one character off. */
const variantsOf = (value: string) =>
  fc.constantFrom(
    value,
    value,
    value.toUpperCase(),
    value.toLowerCase(),
    ` ${value}`,
    `${value} `,
    `${value}\u0000`,
    `${value}\u200b`,
    value.slice(0, -1),
    `${value}x`,
    `${value}\ud800`,
  );

/** The same name as the server sees it: usernames match case-insensitively. */
const caseVariants = (name: string) => fc.constantFrom(name, name.toUpperCase(), name.toLowerCase());

const knownNames = (world: World) =>
  fc.constantFrom(world.self, world.other, world.decoy, world.sacrificial).chain((who) => caseVariants(who.username));

const validUsernames = fc.stringMatching(/^[A-Za-z0-9_]{3,32}$/);

function usernames(world: World): fc.Arbitrary<unknown> {
  const known = [world.self, world.other, world.decoy, world.sacrificial].map((who) => who.username);
  return fc.oneof(
    { weight: 4, arbitrary: validUsernames },
    { weight: 4, arbitrary: fc.constantFrom(...known).chain(variantsOf) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'ab',
        'a'.repeat(32),
        'a'.repeat(33),
        'a-b-c',
        'user name',
        'ｕｓｅｒ',
        'usér',
        'İstanbul',
        'Straße',
        'K\u212aelvin', // the Kelvin sign lower-cases to k
        '___',
        '000',
        'null',
        'admin',
      ),
    },
  );
}

/** Valid-looking text with one NUL or lone surrogate somewhere inside: only the check can tell. */
const withBadChar = (text: fc.Arbitrary<string>) =>
  fc
    .tuple(text, fc.nat(), fc.constantFrom('\u0000', '\ud800', '\udfff', '\ud83d', '\ude00'))
    .map(([value, at, bad]) => {
      const index = at % (value.length + 1);
      return `${value.slice(0, index)}${bad}${value.slice(index)}`;
    });

function passwords(world: World): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: withBadChar(fc.string({ minLength: 8, maxLength: 60 })) },
    { weight: 3, arbitrary: fc.string({ minLength: 8, maxLength: 72 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 2, maxLength: 30 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 8, maxLength: 40 }) },
    {
      weight: 2,
      // Byte boundaries of bcrypt's 72, NFC against NFD, and characters that must be refused.
      arbitrary: fc.constantFrom(
        'a'.repeat(7),
        'a'.repeat(8),
        'a'.repeat(72),
        'a'.repeat(73),
        `${'a'.repeat(71)}é`,
        'é'.repeat(36),
        'é'.repeat(37),
        'e\u0301'.repeat(24),
        'e\u0301'.repeat(25),
        '😀'.repeat(18),
        '😀'.repeat(19),
        'pass\u0000word',
        '\ud800'.repeat(8),
        ' '.repeat(8),
        '\u200b'.repeat(8),
      ),
    },
    { weight: 2, arbitrary: variantsOf(world.decoy.password) },
  );
}

function postBodies(): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 2, arbitrary: withBadChar(fc.string({ minLength: 1, maxLength: 200 })) },
    { weight: 3, arbitrary: fc.string({ minLength: 1, maxLength: 280 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 140 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 280 }) },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'a'.repeat(280),
        'a'.repeat(281),
        '😀'.repeat(280),
        '😀'.repeat(281),
        `${'x'.repeat(280)}   `,
        'e\u0301'.repeat(140),
        'e\u0301'.repeat(141),
        ' '.repeat(300),
        '\u3000x\u3000',
        '\ufeffx\ufeff',
        '\u202eabc',
        'a\u0000b',
        '\ud83d',
        '\t\n',
        '\u200b',
        '\u2028\u2029',
      ),
    },
  );
}

const UUID_SHAPES = [
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
  '00000000-0000-7000-8000-000000000000',
  '{00000000-0000-0000-0000-000000000000}',
  '00000000000000000000000000000000',
  'urn:uuid:00000000-0000-0000-0000-000000000000',
  '00000000-0000-0000-0000-00000000000g',
  'a'.repeat(64),
  'a'.repeat(65),
];

const realPostIds = (world: World) =>
  fc.constantFrom(...world.postIds.own, ...world.postIds.others, ...world.postIds.deleted, FRESH.ownPostId);

function postIds(world: World): fc.Arbitrary<unknown> {
  const real = [...world.postIds.own, ...world.postIds.others, ...world.postIds.deleted];
  return fc.oneof(
    { weight: 3, arbitrary: fc.uuid() },
    { weight: 4, arbitrary: fc.constantFrom(...real) },
    { weight: 2, arbitrary: fc.constantFrom(...real).chain(variantsOf) },
    { weight: 1, arbitrary: fc.constantFrom(...real).map((id) => `{${id}}`) },
    { weight: 1, arbitrary: fc.constantFrom(world.self.id, world.other.id) }, // a user's id, not a post's
    { weight: 2, arbitrary: fc.constantFrom(...UUID_SHAPES) },
  );
}

const checksum = (payload: string) =>
  createHash('sha256').update(`warble-cursor:${payload}`).digest('base64url').slice(0, 16);

/** A cursor in the server's format, signed correctly but carrying whatever parts it is given. */
export function forgeCursor(parts: unknown, signed = true): string {
  const payload = Buffer.from(JSON.stringify(parts) ?? '', 'utf8').toString('base64url');
  return `${payload}.${signed ? checksum(payload) : 'AAAAAAAAAAAAAAAA'}`;
}

/** How inputs are generated. */
export interface Generation {
  /** Longest strings, in UTF-16 units (a GET carries its input in the URL, so queries get less). */
  maxLength: number;
  /** Leave out inputs that hit the server bugs listed in FIXED_BUGS (for `npm test`; the fuzz script never does). */
  avoidKnownBugs: boolean;
}

/**
 * Server bugs this catalogue found (both fixed): their reproductions stay as regression tests in
 * test/hostile-input.test.ts, and `avoidKnownBugs` can still leave their inputs out of a run.
 */
export const FIXED_BUGS = {
  jsonParseMessage:
    'every procedure with input: input that is not JSON (a GET ?input= or a POST body, e.g. NaN or ' +
    "{'a':1}) is a BAD_REQUEST whose message is JavaScript's own JSON.parse error " +
    '(\'"NaN" is not valid JSON\', "Expected property name or \'}\' in JSON at position 1 …"), library text that quotes the input back',
  cursorTimeOutOfRange:
    'posts.timeline, posts.byUser, users.followers, users.following: a cursor with a valid checksum ' +
    'whose time is a safe integer outside 0001-01-01..9999-12-31 (UTC) is a 500, not a BAD_REQUEST ' +
    '(beyond ±8.64e15 ms: RangeError "Invalid time value"; otherwise PostgreSQL 22009/22008 on the ' +
    'ISO string of a year < 1 or > 9999)',
} as const;

// The first and last millisecond cursor lists survive (see FIXED_BUGS.cursorTimeOutOfRange).
const FIRST_SAFE_CURSOR_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_SAFE_CURSOR_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/** Whether a cursor time would hit FIXED_BUGS.cursorTimeOutOfRange. */
export function hitsKnownCursorBug(time: unknown): boolean {
  return (
    typeof time === 'number' &&
    Number.isSafeInteger(time) &&
    (time < FIRST_SAFE_CURSOR_TIME || time > LAST_SAFE_CURSOR_TIME)
  );
}

/** Calls that hit FIXED_BUGS: each proves its bug is still there. */
export function fixedBugReproductions(
  world: World,
): { bug: keyof typeof FIXED_BUGS; path: string; kind: 'query' | 'mutation'; input: unknown }[] {
  return [
    ...cursorBugReproductions(world).map((call) => ({ bug: 'cursorTimeOutOfRange' as const, ...call })),
    { bug: 'jsonParseMessage', path: 'posts.byId', kind: 'query', input: new RawJson('NaN') },
    { bug: 'jsonParseMessage', path: 'users.profile', kind: 'query', input: new RawJson("{'username':1}") },
    { bug: 'jsonParseMessage', path: 'auth.login', kind: 'mutation', input: new RawJson('{"username":"a",}') },
  ];
}

/** Calls that hit FIXED_BUGS.cursorTimeOutOfRange: year 10000, year 0, and past the last JavaScript date. */
function cursorBugReproductions(world: World): { path: string; kind: 'query'; input: Record<string, unknown> }[] {
  const times = [253_402_300_800_000, -62_135_596_800_001, 8.64e15 + 1];
  const lists = [
    { path: 'posts.timeline', list: world.lists[0]!, input: {} },
    { path: 'posts.byUser', list: world.lists[1]!, input: { username: world.self.username } },
    { path: 'users.followers', list: world.lists[2]!, input: { username: world.self.username } },
    { path: 'users.following', list: world.lists[3]!, input: { username: world.decoy.username } },
  ];
  return lists.flatMap(({ path, list, input }) =>
    times.map((time) => ({
      path,
      kind: 'query' as const,
      input: { ...input, cursor: forgeCursor([1, list, time, '00000000-0000-0000-0000-000000000000']) },
    })),
  );
}

/** Times around the ends of what JavaScript dates and PostgreSQL timestamps can hold. */
const EDGE_TIMES = [
  0,
  -1,
  1,
  Date.UTC(1969, 11, 31),
  Date.UTC(9999, 11, 31),
  253_402_300_800_000, // year 10000
  -62_135_596_800_001, // just before year 1
  -210_866_803_200_001, // before 4713 BC, PostgreSQL's first timestamp
  9_224_318_016_000_000 / 1000, // near PostgreSQL's last timestamp (294276 AD), in ms
  8.64e15, // the last JavaScript date
  8.64e15 + 1, // no longer a date
  -8.64e15 - 1,
  Number.MAX_SAFE_INTEGER,
  Number.MIN_SAFE_INTEGER,
];

function forgedCursors(world: World, gen: Generation): fc.Arbitrary<string> {
  const realIds = [...world.postIds.own, ...world.postIds.others, world.self.id, world.other.id];
  const time = fc
    .oneof(
      { weight: 3, arbitrary: fc.constantFrom(...EDGE_TIMES) },
      { weight: 2, arbitrary: fc.maxSafeInteger() },
      { weight: 1, arbitrary: fc.integer() },
      { weight: 1, arbitrary: hostileNumber },
      { weight: 1, arbitrary: scalar },
    )
    .filter((at) => !gen.avoidKnownBugs || !hitsKnownCursorBug(at));
  const id = fc.oneof(
    { weight: 3, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: fc.constantFrom(...realIds) },
    { weight: 1, arbitrary: fc.constantFrom(...UUID_SHAPES) },
    { weight: 1, arbitrary: scalar },
  );
  const list = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...world.lists) },
    { weight: 1, arbitrary: hostileString(100) },
  );
  const version = fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: scalar });
  const parts = fc.oneof(
    { weight: 6, arbitrary: fc.tuple(version, list, time, id) },
    { weight: 1, arbitrary: fc.array(scalar, { maxLength: 6 }) },
    { weight: 1, arbitrary: hostileValue(200) },
  );
  return fc
    .tuple(parts, fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }))
    .map(([cursorParts, signed]) => forgeCursor(cursorParts, signed));
}

/**
 * Cursors for one list that pass the checksum and the list check, so they reach the database:
 * the real one, and forged ones whose time and id are anything a JSON number or string can be.
 */
function cursorsOf(world: World, which: keyof World['cursors'], gen: Generation): fc.Arbitrary<unknown> {
  const list = world.lists[Object.keys(world.cursors).indexOf(which)]!;
  const realIds = [...world.postIds.own, ...world.postIds.others, world.self.id, world.other.id];
  const time = fc
    .oneof(
      { weight: 4, arbitrary: fc.constantFrom(...EDGE_TIMES) },
      { weight: 2, arbitrary: fc.maxSafeInteger() },
      { weight: 2, arbitrary: fc.integer({ min: -8.64e15, max: 8.64e15 }) },
      { weight: 1, arbitrary: fc.integer({ min: Date.now() - 1e11, max: Date.now() + 1e11 }) },
    )
    .filter((at) => !gen.avoidKnownBugs || !hitsKnownCursorBug(at));
  const id = fc.oneof(
    { weight: 3, arbitrary: fc.uuid() },
    { weight: 2, arbitrary: fc.constantFrom(...realIds) },
    { weight: 1, arbitrary: fc.constantFrom(...UUID_SHAPES.slice(0, 4)) },
  );
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(world.cursors[which]) },
    { weight: 1, arbitrary: fc.constantFrom(null, undefined) },
    { weight: 6, arbitrary: fc.tuple(time, id).map(([at, postId]) => forgeCursor([1, list, at, postId])) },
  );
}

/** Real cursors, damaged ones, ones of other lists, forged ones, and strings that only look like them. */
function cursors(world: World, gen: Generation): fc.Arbitrary<unknown> {
  const real = Object.values(world.cursors);
  const damaged = fc
    .tuple(fc.constantFrom(...real), fc.nat(), fc.constantFrom('flip', 'cut', 'append', 'nodot', 'twice'))
    .map(([cursor, at, how]) => {
      const index = at % cursor.length;
      switch (how) {
        case 'flip':
          return `${cursor.slice(0, index)}${cursor[index] === 'A' ? 'B' : 'A'}${cursor.slice(index + 1)}`;
        case 'cut':
          return cursor.slice(0, index);
        case 'append':
          return `${cursor}A`;
        case 'nodot':
          return cursor.replace('.', '');
        default:
          return `${cursor}.${cursor}`;
      }
    });
  const base64ish = fc
    .tuple(fc.string({ minLength: 1, maxLength: 80 }), fc.string({ minLength: 0, maxLength: 20 }))
    .map(([a, b]) => `${Buffer.from(a).toString('base64url')}.${Buffer.from(b).toString('base64url')}`);
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...real) },
    { weight: 2, arbitrary: damaged },
    { weight: 4, arbitrary: forgedCursors(world, gen) },
    { weight: 1, arbitrary: base64ish },
    { weight: 1, arbitrary: fc.constantFrom('', 'a'.repeat(512), 'a'.repeat(513), '.', '..', 'null') },
  );
}

const validLimits = fc.integer({ min: 1, max: 100 });

const limits: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 100 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      0,
      -0,
      -1,
      101,
      1.5,
      100.5,
      99.99999999999999,
      1e308,
      Number.MAX_SAFE_INTEGER,
      2 ** 53 + 2,
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('20', '1', 'NaN', '', true, null, [], {}, [20]) },
);

function refreshTokens(world: World): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(FRESH.refreshToken) },
    { weight: 3, arbitrary: fc.constantFrom(...world.refreshTokens) },
    { weight: 1, arbitrary: fc.constantFrom(...world.refreshTokens).chain(variantsOf) },
    {
      weight: 3,
      arbitrary: fc
        .uint8Array({ minLength: 32, maxLength: 32 })
        .map((bytes) => Buffer.from(bytes).toString('base64url')),
    },
    // An access token where a refresh token belongs.
    { weight: 1, arbitrary: fc.constant(world.staleAccessToken) },
    { weight: 1, arbitrary: fc.constantFrom('', 'a'.repeat(256), 'a'.repeat(257)) },
  );
}

/** A field: plausible most of the time, otherwise any hostile string or value. */
const field = (plausible: fc.Arbitrary<unknown>, maxLength: number) =>
  fc.oneof(
    { weight: 5, arbitrary: plausible },
    { weight: 3, arbitrary: hostileString(maxLength) },
    { weight: 2, arbitrary: hostileValue(maxLength) },
  );

const extraKey = fc.oneof(
  fc.string({ minLength: 1, maxLength: 20 }),
  fc.constantFrom(
    'id',
    'userId',
    'author',
    'authorId',
    'isAdmin',
    'role',
    'createdAt',
    'deletedAt',
    'password',
    'passwordHash',
    'limit',
    'cursor',
    'input',
    '0',
    '',
  ),
);

/**
 * Inputs for an object schema: all fields, some fields, extra keys, prototype keys, raw JSON the
 * server must parse itself, the wrong type entirely, deep nesting, and none at all.
 */
function objectInputs(
  fields: Record<string, fc.Arbitrary<unknown>>,
  gen: Generation,
  exact: fc.Arbitrary<Record<string, unknown>>[] = [],
): fc.Arbitrary<unknown> {
  const { maxLength } = gen;
  const shaped = fc.record(
    Object.fromEntries(Object.entries(fields).map(([name, plausible]) => [name, field(plausible, maxLength)])),
  );
  const partial = fc.record(
    Object.fromEntries(Object.entries(fields).map(([name, plausible]) => [name, field(plausible, maxLength)])),
    { requiredKeys: [] },
  );
  const plausibleOnly = fc.record(fields);
  const extraKeys = fc
    .tuple(plausibleOnly, fc.dictionary(extraKey, hostileValue(1000), { minKeys: 1, maxKeys: 3 }))
    .map(([known, extra]) => Object.entries(extra).reduce((acc, [key, value]) => withOwn(acc, key, value), known));
  const prototypeKeys = fc
    .tuple(fc.oneof(plausibleOnly, partial), prototypeKey, pollution, fc.boolean())
    .map(([known, key, value, inside]) => {
      // Either beside the fields, or inside one of them.
      const names = Object.keys(known);
      if (inside && names.length > 0) {
        const name = names[0]!;
        return withOwn(known, name, withOwn({}, key, value));
      }
      return withOwn(known, key, value);
    });
  const names = Object.keys(fields);
  const raw = fc
    .tuple(plausibleOnly, fc.constantFrom(...(names.length ? names : ['x'])), scalar)
    .chain(([known, name, other]) => {
      const body = JSON.stringify(known).slice(1, -1);
      const sep = body ? ',' : '';
      return fc.constantFrom(
        // Duplicate keys: the last one wins in JSON.parse; it must still be validated.
        new RawJson(`{${body}${sep}"${name}":${JSON.stringify(other) ?? 'null'}}`),
        new RawJson(`{"${name}":${JSON.stringify(other) ?? 'null'}${sep}${body}}`),
        // Number tokens JSON.stringify never writes.
        new RawJson(`{${body}${sep}"limit":1e400}`),
        new RawJson(`{${body}${sep}"limit":-0}`),
        new RawJson(`{${body}${sep}"limit":20.0}`),
        new RawJson(`{${body}${sep}"limit":1E1}`),
        new RawJson(`{${body}${sep}"limit":100.00000000000001}`),
        // A literal __proto__ key, as an attacker writes it.
        new RawJson(`{${body}${sep}"__proto__":{"warblePolluted":true}}`),
        new RawJson(`{"constructor":{"prototype":{"warblePolluted":true}}${sep}${body}}`),
        // Escapes the server must decode: an escaped NUL, a lone surrogate, an escaped quote.
        new RawJson(`{"${name}":"\\u0000"${sep}${body}}`),
        new RawJson(`{"${name}":"\\ud800"}`),
        new RawJson(`{"${name}":"a\\"b"}`),
        new RawJson('null'),
        new RawJson('[]'),
        new RawJson('""'),
        new RawJson('0'),
      );
    });
  const notJson = fc.tuple(plausibleOnly, fc.constantFrom(...(names.length ? names : ['x']))).chain(([known, name]) => {
    const body = JSON.stringify(known).slice(1, -1);
    return fc.constantFrom(
      new RawJson(`{${body}`),
      new RawJson(`{${body},}`),
      new RawJson(`{'${name}':1}`),
      ...NOT_JSON.map((text) => new RawJson(text)),
    );
  });
  const wrongType = fc.oneof(
    hostileValue(maxLength),
    fc.anything({ maxDepth: 5, maxKeys: 6, stringUnit: 'grapheme', withNullPrototype: true }),
    fc.array(plausibleOnly, { minLength: 1, maxLength: 3 }),
  );
  const deep = fc.oneof(
    deeplyNested(),
    fc
      .tuple(plausibleOnly, fc.constantFrom(...(names.length ? names : ['x'])), deeplyNested())
      .map(([known, name, value]) => withOwn(known, name, value)),
  );
  return fc.oneof(
    { weight: 8, arbitrary: shaped },
    { weight: 3, arbitrary: plausibleOnly },
    ...exact.map((arbitrary) => ({ weight: 6, arbitrary })),
    { weight: 2, arbitrary: partial },
    { weight: 2, arbitrary: extraKeys },
    { weight: 2, arbitrary: prototypeKeys },
    { weight: 1, arbitrary: raw },
    // See FIXED_BUGS.jsonParseMessage.
    ...(gen.avoidKnownBugs ? [] : [{ weight: 1, arbitrary: notJson }]),
    { weight: 2, arbitrary: wrongType },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: fc.constant(NO_INPUT) },
  );
}

/** Text that is not JSON, of the kinds that make JSON.parse say different things. */
const NOT_JSON = ['NaN', 'undefined', "{'a':1}", '{"a":1}}', '[1,]', '{"a"', '"\u0000"', '\u0000', 'tru', '01'];

/** For procedures without input: whatever comes along must be ignored or refused, never crash. */
function anyInput(maxLength: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(NO_INPUT) },
    // Never parsed (a procedure without input does not read it), so no FIXED_BUGS.jsonParseMessage here.
    { weight: 1, arbitrary: fc.constantFrom(...NOT_JSON).map((text) => new RawJson(text)) },
    { weight: 2, arbitrary: fc.constantFrom(null, {}, [], '', 0) },
    { weight: 3, arbitrary: hostileValue(maxLength) },
    { weight: 1, arbitrary: deeplyNested() },
    {
      weight: 1,
      arbitrary: fc.tuple(prototypeKey, pollution).map(([key, value]) => withOwn({}, key, value)),
    },
  );
}

// ---------------------------------------------------------------------------------------------
// What a success must look like (strict: no field may come along that the contract lacks)
// ---------------------------------------------------------------------------------------------

const isoDate = z.string().refine((value) => !Number.isNaN(Date.parse(value)) && value.endsWith('Z'));
const id = z.string().min(1);
const userRef = z.strictObject({ id, username: z.string() });
const postDto = z.strictObject({ id, body: z.string(), createdAt: isoDate, author: userRef });
const page = <T extends z.ZodType>(item: T) =>
  z.strictObject({ items: z.array(item), nextCursor: z.string().nullable() });
const profile = z.strictObject({
  id,
  username: z.string(),
  createdAt: isoDate,
  followersCount: z.number().int().min(0),
  followingCount: z.number().int().min(0),
  postsCount: z.number().int().min(0),
  followedByMe: z.boolean(),
});
const tokenPair = z.strictObject({
  accessToken: z.string().min(1),
  refreshToken: z.string().min(1),
  tokenType: z.literal('Bearer'),
  expiresIn: z.number().int().positive(),
  user: userRef,
});

// ---------------------------------------------------------------------------------------------
// The catalogue
// ---------------------------------------------------------------------------------------------

export interface ProcedureSpec {
  path: string;
  kind: 'query' | 'mutation';
  /** `optional`: public, but a token that is sent must be valid. */
  access: 'public' | 'protected' | 'optional';
  /** Errors a call that reaches the procedure may end in (besides the transport's, added in `check`). */
  errors: readonly ErrorCode[];
  output: z.ZodType;
  input: (world: World, gen: Generation) => fc.Arbitrary<unknown>;
  /** More about a success than its shape; returns a problem, if any. */
  verify?: (input: unknown, data: unknown, world: World) => string | undefined | Promise<string | undefined>;
  /** Runs inside `npm test` (the fuzz script runs far more of every procedure). */
  testRuns: number;
  /** Revokes the caller's sessions: `auth: valid` then means a fresh login of `sacrificial`. */
  revokesSessions?: boolean;
}

const parsed = (input: unknown): unknown => {
  const text = inputText(input);
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};
const fieldOf = (input: unknown, name: string): unknown => {
  const value = parsed(input);
  return value && typeof value === 'object' && Object.hasOwn(value, name)
    ? (value as Record<string, unknown>)[name]
    : undefined;
};
const limitOf = (input: unknown) => {
  const limit = fieldOf(input, 'limit');
  return typeof limit === 'number' ? limit : 20;
};
const pageWithin = (input: unknown, data: unknown) => {
  const items = (data as { items: unknown[] }).items;
  return items.length <= limitOf(input) ? undefined : `page of ${items.length} items for limit ${limitOf(input)}`;
};

export const PROCEDURES: readonly ProcedureSpec[] = [
  {
    path: 'auth.signup',
    kind: 'mutation',
    access: 'public',
    errors: ['BAD_REQUEST', 'CONFLICT'],
    output: z.strictObject({ id, username: z.string(), createdAt: isoDate }),
    input: (world, gen) =>
      objectInputs({ username: usernames(world), password: passwords(world) }, gen, [
        fc.constant({ username: world.decoy.username.toUpperCase(), password: world.decoy.password }),
        // New names, so the password rules decide.
        fc.record({ username: validUsernames, password: passwords(world) }),
      ]),
    verify: (input, data) => {
      if ((data as { username: string }).username !== fieldOf(input, 'username'))
        return 'signup answered another username than it was given';
      // An independent statement of the contract's password rule: a signup that succeeds had a password
      // of 8–72 bytes of well-formed UTF-8 without NUL (bcrypt would silently cut or stop early).
      const password = fieldOf(input, 'password');
      if (typeof password !== 'string') return 'signed up with a password that is not a string';
      const bytes = Buffer.byteLength(password.normalize('NFC'));
      if (!password.isWellFormed() || password.includes('\u0000') || bytes < 8 || bytes > 72)
        return `signed up with a password the contract refuses (${bytes} bytes)`;
      return undefined;
    },
    testRuns: 200,
  },
  {
    path: 'auth.login',
    kind: 'mutation',
    access: 'public',
    errors: ['BAD_REQUEST', 'UNAUTHORIZED', 'TOO_MANY_REQUESTS'],
    output: tokenPair,
    input: (world, gen) =>
      objectInputs({ username: usernames(world), password: passwords(world) }, gen, [
        variantsOf(world.decoy.username).map((username) => ({ username, password: world.decoy.password })),
      ]),
    verify: (input, data) => {
      const given = fieldOf(input, 'username');
      const user = (data as { user: { username: string } }).user;
      return typeof given === 'string' && user.username.toLowerCase() === given.toLowerCase()
        ? undefined
        : `login as ${JSON.stringify(given)} answered user ${user.username}`;
    },
    testRuns: 300,
  },
  {
    path: 'auth.refresh',
    kind: 'mutation',
    access: 'public',
    errors: ['BAD_REQUEST', 'UNAUTHORIZED'],
    output: tokenPair,
    input: (world, gen) =>
      objectInputs({ refreshToken: refreshTokens(world) }, gen, [
        fc.record({ refreshToken: fc.constantFrom(FRESH.refreshToken, ...world.refreshTokens) }),
      ]),
    // Every refresh token the fuzzer holds is throwaway's (never self's).
    verify: (_input, data, world) =>
      (data as { user: { id: string } }).user.id === world.throwaway.id
        ? undefined
        : 'refreshed a session of someone else than the token belongs to',
    testRuns: 400,
  },
  {
    path: 'auth.logout',
    kind: 'mutation',
    access: 'public',
    errors: ['BAD_REQUEST'],
    output: z.strictObject({ ok: z.literal(true) }),
    input: (world, gen) =>
      objectInputs({ refreshToken: refreshTokens(world) }, gen, [
        fc.record({ refreshToken: fc.constantFrom(FRESH.refreshToken, ...world.refreshTokens) }),
      ]),
    testRuns: 400,
  },
  {
    path: 'auth.logoutAll',
    kind: 'mutation',
    access: 'protected',
    errors: [],
    output: z.strictObject({ revoked: z.number().int().min(0) }),
    input: (_world, gen) => anyInput(gen.maxLength),
    // It was just logged in (see revokesSessions): at least that session goes.
    verify: (_input, data) => ((data as { revoked: number }).revoked >= 1 ? undefined : 'revoked no session'),
    revokesSessions: true,
    testRuns: 250,
  },
  {
    path: 'auth.sessions',
    kind: 'query',
    access: 'protected',
    errors: [],
    output: z.array(
      z.strictObject({
        id,
        createdAt: isoDate,
        lastUsedAt: isoDate,
        userAgent: z.string().nullable(),
        current: z.boolean(),
      }),
    ),
    input: (_world, gen) => anyInput(gen.maxLength),
    verify: (_input, data) =>
      (data as { current: boolean }[]).filter((session) => session.current).length === 1
        ? undefined
        : 'not exactly one current session',
    testRuns: 500,
  },
  {
    path: 'auth.me',
    kind: 'query',
    access: 'protected',
    errors: [],
    output: profile,
    input: (_world, gen) => anyInput(gen.maxLength),
    verify: (_input, data, world) => ((data as { id: string }).id === world.self.id ? undefined : 'me is not self'),
    testRuns: 500,
  },
  {
    path: 'posts.create',
    kind: 'mutation',
    access: 'protected',
    errors: ['BAD_REQUEST'],
    output: postDto,
    input: (_world, gen) => objectInputs({ body: postBodies() }, gen, [fc.record({ body: postBodies() })]),
    verify: async (input, data, world) => {
      const post = data as { id: string; body: string; author: { id: string } };
      const body = fieldOf(input, 'body');
      if (typeof body !== 'string') return 'created a post from a body that is not a string';
      if (post.author.id !== world.self.id) return 'created a post for someone else';
      if (post.body !== body.trim()) return 'the answer has another body than was sent';
      // The contract's rule, stated independently: 1–280 characters (code points) after trimming.
      const characters = [...body.trim()].length;
      if (characters < 1 || characters > 280) return `created a post of ${characters} characters`;
      // Stored exactly (read back from the database): no NUL dropped, no lone surrogate turned
      // into U+FFFD, nothing cut.
      const stored = await plainCall(world.url, 'posts.byId', 'query', { id: post.id });
      const storedBody = (stored.body?.result?.data as { body?: unknown } | undefined)?.body;
      return storedBody === post.body
        ? undefined
        : `the stored body differs from the one sent: ${abbreviate(JSON.stringify(storedBody), 100)}`;
    },
    testRuns: 400,
  },
  {
    path: 'posts.delete',
    kind: 'mutation',
    access: 'protected',
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'FORBIDDEN'],
    output: z.strictObject({ id, deletedAt: isoDate }),
    input: (world, gen) =>
      objectInputs({ id: postIds(world) }, gen, [
        fc.record({ id: fc.oneof(fc.constant(FRESH.ownPostId), realPostIds(world)) }),
      ]),
    verify: (input, data, world) =>
      world.postIds.others.includes((data as { id: string }).id) || fieldOf(input, 'id') !== (data as { id: string }).id
        ? "deleted someone else's post"
        : undefined,
    testRuns: 400,
  },
  {
    path: 'posts.byId',
    kind: 'query',
    access: 'public',
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
    output: postDto,
    input: (world, gen) => objectInputs({ id: postIds(world) }, gen, [fc.record({ id: realPostIds(world) })]),
    verify: (_input, data, world) =>
      world.postIds.deleted.includes((data as { id: string }).id) ? 'served a deleted post' : undefined,
    testRuns: 600,
  },
  {
    path: 'posts.timeline',
    kind: 'query',
    access: 'protected',
    errors: ['BAD_REQUEST'],
    output: page(postDto),
    input: (world, gen) =>
      fc.oneof(
        {
          weight: 8,
          arbitrary: objectInputs({ cursor: cursors(world, gen), limit: limits }, gen, [
            fc.record({ cursor: cursorsOf(world, 'timeline', gen), limit: validLimits }, { requiredKeys: [] }),
          ]),
        },
        { weight: 1, arbitrary: fc.constant(NO_INPUT) },
      ),
    verify: pageWithin,
    testRuns: 600,
  },
  {
    path: 'posts.byUser',
    kind: 'query',
    access: 'public',
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
    output: page(postDto),
    input: (world, gen) =>
      objectInputs({ username: usernames(world), cursor: cursors(world, gen), limit: limits }, gen, [
        fc.record(
          { username: caseVariants(world.self.username), cursor: cursorsOf(world, 'byUser', gen), limit: validLimits },
          { requiredKeys: ['username'] },
        ),
      ]),
    verify: pageWithin,
    testRuns: 600,
  },
  {
    path: 'users.follow',
    kind: 'mutation',
    access: 'protected',
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
    output: z.strictObject({ following: z.literal(true) }),
    input: (world, gen) =>
      objectInputs({ username: usernames(world) }, gen, [fc.record({ username: knownNames(world) })]),
    testRuns: 400,
  },
  {
    path: 'users.unfollow',
    kind: 'mutation',
    access: 'protected',
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
    output: z.strictObject({ following: z.literal(false) }),
    input: (world, gen) =>
      objectInputs({ username: usernames(world) }, gen, [fc.record({ username: knownNames(world) })]),
    testRuns: 400,
  },
  {
    path: 'users.profile',
    kind: 'query',
    access: 'optional',
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
    output: profile,
    input: (world, gen) =>
      objectInputs({ username: usernames(world) }, gen, [fc.record({ username: knownNames(world) })]),
    testRuns: 600,
  },
  {
    path: 'users.followers',
    kind: 'query',
    access: 'public',
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
    output: page(userRef),
    input: (world, gen) =>
      objectInputs({ username: usernames(world), cursor: cursors(world, gen), limit: limits }, gen, [
        fc.record(
          {
            username: caseVariants(world.self.username),
            cursor: cursorsOf(world, 'followers', gen),
            limit: validLimits,
          },
          { requiredKeys: ['username'] },
        ),
      ]),
    verify: pageWithin,
    testRuns: 600,
  },
  {
    path: 'users.following',
    kind: 'query',
    access: 'public',
    errors: ['BAD_REQUEST', 'NOT_FOUND'],
    output: page(userRef),
    input: (world, gen) =>
      objectInputs({ username: usernames(world), cursor: cursors(world, gen), limit: limits }, gen, [
        fc.record(
          {
            username: caseVariants(world.decoy.username),
            cursor: cursorsOf(world, 'following', gen),
            limit: validLimits,
          },
          { requiredKeys: ['username'] },
        ),
      ]),
    verify: pageWithin,
    testRuns: 600,
  },
];

// ---------------------------------------------------------------------------------------------
// A call: input, credentials and transport
// ---------------------------------------------------------------------------------------------

export type AuthChoice =
  | { kind: 'valid' }
  | { kind: 'none' }
  | { kind: 'stale' }
  | { kind: 'tampered' }
  | { kind: 'refresh-as-access' }
  | { kind: 'header'; value: string };

export type Transport = { kind: 'normal' } | { kind: 'wrong-method' } | { kind: 'content-type'; value: string };

export interface HostileCase {
  input: unknown;
  auth: AuthChoice;
  transport: Transport;
  /** Sent as User-Agent (stored with a login's session); fetch's own when undefined. */
  userAgent: string | undefined;
}

/** Header text fetch can send: printable Latin-1 (no control characters). */
const headerText = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((code) => code < 0x7f || code > 0x9f)
    .map((code) => String.fromCharCode(code)),
  maxLength: 200,
});

const authChoices = (access: ProcedureSpec['access']): fc.Arbitrary<AuthChoice> => {
  const invalid: fc.Arbitrary<AuthChoice> = fc.oneof(
    fc.constant({ kind: 'stale' as const }),
    fc.constant({ kind: 'tampered' as const }),
    fc.constant({ kind: 'refresh-as-access' as const }),
    fc
      .tuple(fc.constantFrom('Bearer ', 'bearer ', 'Bearer', 'Basic ', 'Bearer  ', ''), headerText)
      .map(([scheme, rest]) => ({ kind: 'header' as const, value: `${scheme}${rest}` })),
  );
  const valid = fc.constant({ kind: 'valid' as const });
  const none = fc.constant({ kind: 'none' as const });
  return access === 'protected'
    ? fc.oneof({ weight: 6, arbitrary: valid }, { weight: 2, arbitrary: none }, { weight: 2, arbitrary: invalid })
    : fc.oneof({ weight: 2, arbitrary: valid }, { weight: 6, arbitrary: none }, { weight: 2, arbitrary: invalid });
};

const transports: fc.Arbitrary<Transport> = fc.oneof(
  { weight: 40, arbitrary: fc.constant({ kind: 'normal' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'wrong-method' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/jsonp',
        'application/json-patch+json',
        'text/json',
        'application/json; charset=utf-8',
        'APPLICATION/JSON',
        'application/json ; charset=UTF-8',
      )
      .map((value) => ({ kind: 'content-type' as const, value })),
  },
);

/** Everything one call of `spec` may be: input, credentials, transport. */
export function caseArbitrary(
  spec: ProcedureSpec,
  world: World,
  { avoidKnownBugs = false }: { avoidKnownBugs?: boolean } = {},
): fc.Arbitrary<HostileCase> {
  // A GET carries its input in the URL, so queries get shorter long strings (see fitQuery too).
  const gen: Generation = { maxLength: spec.kind === 'query' ? 3000 : 100_000, avoidKnownBugs };
  const input =
    spec.kind === 'mutation'
      ? fc.oneof(
          { weight: 60, arbitrary: spec.input(world, gen) },
          // Over the body limit: must be 413, whatever the procedure.
          {
            weight: 1,
            arbitrary: fc
              .integer({ min: BODY_LIMIT_BYTES, max: BODY_LIMIT_BYTES + 1000 })
              .map((length) => new RawJson(JSON.stringify({ pad: 'x'.repeat(length) }))),
          },
          // Deeper than any recursive walker should go; fits the body limit as a POST.
          { weight: 1, arbitrary: fc.integer({ min: 1000, max: 20_000 }).map(deepArrayText) },
        )
      : spec.input(world, gen);
  const userAgent = fc.oneof(
    { weight: 8, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: headerText },
    // Longer than a session keeps (512), within Node's 16 KiB for a request head with a long URL.
    { weight: 1, arbitrary: fc.integer({ min: 400, max: 2000 }).map((length) => 'Ü'.repeat(length)) },
  );
  return fc.record({ input, auth: authChoices(spec.access), transport: transports, userAgent });
}

/**
 * Shortens an input until its URL fits: strings are cut, then arrays and nesting are trimmed.
 * Returns the JSON text to send (the same as `inputText` when it already fits).
 */
export function fitQuery(input: unknown, baseLength: number): string | undefined {
  const text = inputText(input);
  if (text === undefined || baseLength + encodeURIComponent(text).length <= MAX_QUERY_URL) return text;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return text.slice(0, 1000);
  }
  for (const [maxString, maxItems, maxDepth] of [
    [2000, 50, 600],
    [500, 20, 400],
    [100, 10, 300],
    [20, 5, 200],
    [5, 2, 100],
  ] as const) {
    const shorter = JSON.stringify(shrink(value, maxString, maxItems, maxDepth));
    if (baseLength + encodeURIComponent(shorter).length <= MAX_QUERY_URL) return shorter;
  }
  return '{}';
}

function shrink(value: unknown, maxString: number, maxItems: number, depthLeft: number): unknown {
  if (typeof value === 'string') return value.slice(0, maxString);
  if (value === null || typeof value !== 'object') return value;
  if (depthLeft <= 0) return null;
  if (Array.isArray(value))
    return value.slice(0, maxItems).map((item) => shrink(item, maxString, maxItems, depthLeft - 1));
  return Object.entries(value)
    .slice(0, maxItems)
    .reduce<Record<string, unknown>>(
      (acc, [key, item]) => withOwn(acc, key.slice(0, maxString), shrink(item, maxString, maxItems, depthLeft - 1)),
      {},
    );
}

// ---------------------------------------------------------------------------------------------
// Sending a call and judging the answer
// ---------------------------------------------------------------------------------------------

export interface Outcome {
  status: number;
  /** error.data.code of a failure. */
  code: string | undefined;
  /** Everything wrong with the answer; empty when it passes. */
  problems: string[];
  /** The request as sent, abbreviated, for reports. */
  request: string;
  /** The raw answer, abbreviated. */
  response: string;
  /** Set when the problems are those of a bug in FIXED_BUGS (for reports; they are still problems). */
  knownBug?: keyof typeof FIXED_BUGS;
}

/** Which known bug, if any, explains a failed outcome of this call. */
function knownBugOf(input: unknown, outcome: Outcome): keyof typeof FIXED_BUGS | undefined {
  if (outcome.problems.length === 0) return undefined;
  const text = inputText(input);
  if (text !== undefined && outcome.code === 'BAD_REQUEST') {
    try {
      JSON.parse(text);
    } catch {
      if (outcome.problems.every((problem) => problem.startsWith('the error leaks internals')))
        return 'jsonParseMessage';
    }
  }
  if (outcome.status === 500) {
    const cursor = fieldOf(input, 'cursor');
    if (typeof cursor === 'string') {
      try {
        const parts: unknown = JSON.parse(Buffer.from(cursor.split('.')[0] ?? '', 'base64url').toString('utf8'));
        if (Array.isArray(parts) && hitsKnownCursorBug(parts[2])) return 'cursorTimeOutOfRange';
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

const isJsonContentType = (value: string) => /^application\/json\s*(;|$)/i.test(value);

async function authorizationFor(world: World, spec: ProcedureSpec, auth: AuthChoice): Promise<string | undefined> {
  switch (auth.kind) {
    case 'none':
      return undefined;
    case 'valid':
      return `Bearer ${spec.revokesSessions ? (await logIn(world.url, world.sacrificial)).accessToken : world.selfToken}`;
    case 'stale':
      return `Bearer ${world.staleAccessToken}`;
    case 'tampered': {
      const token = world.selfToken;
      return `Bearer ${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    }
    case 'refresh-as-access':
      return `Bearer ${world.refreshTokens[0]}`;
    case 'header':
      return auth.value;
  }
}

/** Keys and strings of a JSON value, walked without recursion (inputs may be 20,000 levels deep). */
function stringsIn(value: unknown): { keys: string[]; strings: string[] } {
  const keys: string[] = [];
  const strings: string[] = [];
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const current = stack.pop();
    if (typeof current === 'string') strings.push(current);
    else if (current && typeof current === 'object') {
      for (const [key, item] of Object.entries(current)) {
        if (!Array.isArray(current)) keys.push(key);
        stack.push(item);
      }
    }
  }
  return { keys, strings };
}

/** An error's texts with the parts that merely quote the input taken out. */
function withoutEchoes(text: string, input: unknown): string {
  const { keys, strings } = stringsIn(input);
  let result = text;
  for (const echoed of [...keys, ...strings]) {
    if (echoed.length === 0 || echoed.length > 1000) continue;
    result = result.replaceAll(`"${echoed}"`, '""').replaceAll(JSON.stringify(echoed), '""');
  }
  return result;
}

/** Sends one call and checks its answer. Never throws for a bad answer: see `problems`. */
export async function runCase(world: World, spec: ProcedureSpec, hostile: HostileCase): Promise<Outcome> {
  const authorization = await authorizationFor(world, spec, hostile.auth);
  const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
  if (hostile.userAgent !== undefined) headers['user-agent'] = hostile.userAgent;
  const wrongMethod = hostile.transport.kind === 'wrong-method';
  const method = (spec.kind === 'query') !== wrongMethod ? 'GET' : 'POST';
  const base = `${world.url}/trpc/${spec.path}`;
  let url = base;
  let body: string | undefined;
  let contentType = 'application/json';
  // What is actually sent (a query's input may have been shortened to fit the URL); checks use it.
  let sent: string | undefined;
  if (method === 'GET') {
    sent = fitQuery(hostile.input, base.length + 7);
    if (sent !== undefined) sent = await withFreshValues(world, sent);
    if (sent !== undefined) url = `${base}?input=${encodeURIComponent(sent)}`;
  } else {
    sent = inputText(hostile.input);
    body = sent = sent === undefined ? undefined : await withFreshValues(world, sent);
    if (hostile.transport.kind === 'content-type') contentType = hostile.transport.value;
    headers['content-type'] = contentType;
  }
  const sentInput = sent === undefined ? NO_INPUT : new RawJson(sent);
  const request = `${method} ${abbreviate(url, 300)} auth=${hostile.auth.kind}${
    body === undefined ? '' : ` content-type=${contentType} body=${abbreviate(body, 300)}`
  }`;

  let response: Response;
  try {
    response = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) });
  } catch (error) {
    return {
      status: 0,
      code: undefined,
      problems: [`no answer: ${(error as Error).message}`],
      request,
      response: '',
    };
  }
  const text = await response.text();
  const outcome: Outcome = {
    status: response.status,
    code: undefined,
    problems: [],
    request,
    response: abbreviate(text, 600),
  };
  const problem = (message: string) => outcome.problems.push(message);

  if (response.status >= 500) problem(`status ${response.status}`);
  if (Object.hasOwn(Object.prototype, 'warblePolluted')) problem('Object.prototype was polluted');

  let parsedBody: unknown;
  try {
    parsedBody = JSON.parse(text);
  } catch {
    problem('the answer is not JSON');
    return outcome;
  }
  const answer = parsedBody as {
    result?: { data?: unknown };
    error?: { message?: unknown; code?: unknown; data?: Record<string, unknown> };
  };
  if (stringsIn(parsedBody).keys.includes('stack')) problem('the answer has a stack');

  const bodyBytes = body === undefined ? 0 : Buffer.byteLength(body);
  const oddType = method === 'POST' && !isJsonContentType(contentType);
  const expected: string | undefined = oddType
    ? 'UNSUPPORTED_MEDIA_TYPE'
    : bodyBytes > BODY_LIMIT_BYTES
      ? 'PAYLOAD_TOO_LARGE'
      : wrongMethod
        ? 'METHOD_NOT_SUPPORTED'
        : undefined;

  if (response.status === 200) {
    if (expected) problem(`expected ${expected}, but the call succeeded`);
    if (!answer.result || !('data' in answer.result)) {
      problem('a 200 without result.data');
      return outcome;
    }
    const shape = spec.output.safeParse(answer.result.data);
    if (!shape.success) problem(`unexpected output shape: ${abbreviate(JSON.stringify(z.treeifyError(shape.error)))}`);
    else {
      const wrong = await spec.verify?.(sentInput, answer.result.data, world);
      if (wrong) problem(wrong);
    }
    // User content comes back on success (post bodies may say anything), so only secrets are searched.
    if (/\$2[aby]\$\d\d\$/.test(text) || /"password(Hash)?"\s*:/.test(text)) problem('a password or its hash leaked');
    return outcome;
  }

  const error = answer.error;
  const code = typeof error?.data?.code === 'string' ? error.data.code : undefined;
  outcome.code = code;
  if (!error || typeof error.message !== 'string' || !code) {
    problem('a failure without the tRPC error shape');
    return outcome;
  }
  if (!(code in CONTRACT_ERRORS)) problem(`error code ${code} is not in the contract`);
  else if (CONTRACT_ERRORS[code as ErrorCode] !== response.status)
    problem(`${code} answered with HTTP ${response.status}`);
  if (error.data?.httpStatus !== response.status) problem('error.data.httpStatus differs from the HTTP status');

  if (expected) {
    // A wrong method may also be refused for its content type, or its size; never executed.
    const acceptable = new Set([
      expected,
      ...(wrongMethod || oddType ? ['METHOD_NOT_SUPPORTED', 'UNSUPPORTED_MEDIA_TYPE'] : []),
    ]);
    if (bodyBytes > BODY_LIMIT_BYTES) acceptable.add('PAYLOAD_TOO_LARGE');
    if (!acceptable.has(code)) problem(`expected ${expected}, got ${code}`);
  } else {
    const allowed = new Set<string>(['BAD_REQUEST']);
    const sentBadToken = hostile.auth.kind !== 'none' && hostile.auth.kind !== 'valid';
    if (spec.access === 'protected' && hostile.auth.kind !== 'valid') allowed.add('UNAUTHORIZED');
    else if (spec.access === 'optional' && sentBadToken) allowed.add('UNAUTHORIZED');
    if (spec.access === 'public' || spec.access === 'optional' || hostile.auth.kind === 'valid')
      for (const allowedCode of spec.errors) allowed.add(allowedCode);
    if (!allowed.has(code) && response.status < 500) {
      problem(
        code === 'UNAUTHORIZED' && hostile.auth.kind === 'valid'
          ? 'a valid access token was refused'
          : `${code} is not an answer ${spec.path} may give here`,
      );
    }
  }

  if (code === 'BAD_REQUEST') {
    const zodError = error.data?.zodError as { formErrors?: unknown; fieldErrors?: unknown } | null | undefined;
    if (zodError) {
      if (!Array.isArray(zodError.formErrors) || !zodError.fieldErrors || typeof zodError.fieldErrors !== 'object')
        problem('zodError without formErrors and fieldErrors');
    } else if (error.message.trim() === '') problem('a BAD_REQUEST without zodError or message');
  }
  if (code === 'TOO_MANY_REQUESTS' && !response.headers.get('retry-after')) problem('a 429 without Retry-After');

  // Everything the error says, minus what merely quotes the input back.
  const echoed = parsed(sentInput);
  const patterns = new Set<RegExp>();
  const leaks = [error.message, ...stringsIn(error.data).strings, ...stringsIn(error.data).keys].flatMap((text) => {
    const said = withoutEchoes(text, echoed);
    const matched = LEAK_PATTERNS.filter((pattern) => pattern.test(said));
    for (const pattern of matched) patterns.add(pattern);
    return matched.length ? [JSON.stringify(abbreviate(said, 200))] : [];
  });
  if (leaks.length > 0) problem(`the error leaks internals: ${leaks.join('; ')} (${[...patterns].join(' ')})`);
  outcome.knownBug = knownBugOf(sentInput, outcome);
  return outcome;
}

/** Restores the state a run relies on after an outcome that broke it (a refused valid token). */
export async function recover(world: World, outcome: Outcome): Promise<void> {
  if (outcome.problems.includes('a valid access token was refused')) await relogin(world);
}
