// Plausible field values, right and nearly right: names, passwords, post bodies, ids, limits and
// refresh tokens that exist in the world or look as if they might (cursors are in cursors.ts).
import fc from 'fast-check';
import { FRESH, type World } from './world.ts';

/** Variations of a known value: case, whitespace, invisible characters, one character off. */
export const variantsOf = (value: string) =>
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
export const caseVariants = (name: string) => fc.constantFrom(name, name.toUpperCase(), name.toLowerCase());

export const knownNames = (world: World) =>
  fc.constantFrom(world.self, world.other, world.decoy, world.sacrificial).chain((who) => caseVariants(who.username));

export const validUsernames = fc.stringMatching(/^[A-Za-z0-9_]{3,32}$/);

export function usernames(world: World): fc.Arbitrary<unknown> {
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

export function passwords(world: World): fc.Arbitrary<unknown> {
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

/** For a procedure that checks the caller's password: any password, or the caller's own and its near misses. */
export const callerPasswords = (world: World, own: string): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 3, arbitrary: passwords(world) }, { weight: 2, arbitrary: variantsOf(own) });

/**
 * Display names and bios (users.updateProfile): the same text rules as post bodies, at their own
 * limits, counted in code points after trimming: 1–50 for a display name (or null, to remove it),
 * 0–160 for a bio.
 */
function profileText(max: number): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 2, arbitrary: withBadChar(fc.string({ maxLength: max })) },
    { weight: 3, arbitrary: fc.string({ maxLength: max + 5 }) },
    { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: max }) },
    { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: max + 5 }) },
    {
      weight: 3,
      arbitrary: fc.constantFrom(
        '',
        'a'.repeat(max),
        'a'.repeat(max + 1),
        // Code points, not UTF-16 units: an emoji is one character (two units).
        '😀'.repeat(max),
        '😀'.repeat(max + 1),
        // Trimmed before it is counted: within the limit.
        `  ${'x'.repeat(max)}\t\n `,
        `\u3000${'x'.repeat(max)}\ufeff`,
        // A combining accent is a code point of its own: 2 × (max / 2) fits, one more pair does not.
        'e\u0301'.repeat(Math.floor(max / 2)),
        'e\u0301'.repeat(Math.floor(max / 2) + 1),
        ' '.repeat(max + 10),
        '\t\n',
        '\u200b', // not whitespace: a character
        '\u202eabc',
        'a\u0000b',
        '\u0000',
        '\ud83d',
        'x\udfff',
        '\ud83d\ude00', // a well-formed pair: one emoji
        'Ada Lovelace',
      ),
    },
  );
}

export const displayNames: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: profileText(50) },
  { weight: 1, arbitrary: fc.constant(null) },
);
export const bios: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: profileText(160) },
  // null removes a display name, but a bio is a string (empty for none).
  { weight: 1, arbitrary: fc.constant(null) },
);

export function postBodies(): fc.Arbitrary<unknown> {
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

export const UUID_SHAPES = [
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

export const realPostIds = (world: World) =>
  fc.constantFrom(...world.postIds.own, ...world.postIds.others, ...world.postIds.deleted, FRESH.ownPostId);

/**
 * Posts posts.restore may be given: every real one but self's deleted post of the world, which
 * posts.byId's verify relies on staying deleted (a restore would succeed), and self's posts
 * deleted just now (FRESH), which it can restore.
 */
export const restorablePostIds = (world: World) => [
  ...world.postIds.own,
  ...world.postIds.others,
  ...world.postIds.deleted.slice(1), // [self's, other's] (world.ts)
];

/** Ids of posts (`real`, all of the world's by default) and things that look like them. */
export function postIds(
  world: World,
  real = [...world.postIds.own, ...world.postIds.others, ...world.postIds.deleted],
): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.uuid() },
    { weight: 4, arbitrary: fc.constantFrom(...real) },
    { weight: 2, arbitrary: fc.constantFrom(...real).chain(variantsOf) },
    { weight: 1, arbitrary: fc.constantFrom(...real).map((id) => `{${id}}`) },
    { weight: 1, arbitrary: fc.constantFrom(world.self.id, world.other.id) }, // a user's id, not a post's
    { weight: 2, arbitrary: fc.constantFrom(...UUID_SHAPES) },
  );
}

export const validLimits = fc.integer({ min: 1, max: 100 });

export const limits: fc.Arbitrary<unknown> = fc.oneof(
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

export function refreshTokens(world: World): fc.Arbitrary<unknown> {
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
