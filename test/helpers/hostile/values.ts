// Generic hostile values, shaped like no procedure's input in particular: strings that have hurt
// parsers before, numbers at the edges, prototype keys, and nesting deeper than any walker expects.
import fc from 'fast-check';
import { RawJson } from './input-text.ts';

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
export const deepArrayText = (depth: number) => new RawJson(`${'['.repeat(depth)}1${']'.repeat(depth)}`);

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

export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  // NaN and the infinities become null in JSON; RawJson in inputs.ts sends 1e400 and friends.
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

export const scalar: fc.Arbitrary<unknown> = fc.oneof(
  hostileString(200),
  hostileNumber,
  fc.boolean(),
  fc.constant(null),
);

/** Arrays or objects nested `depth` deep (500 and more), with a scalar at the bottom. */
export function deeplyNested(maxDepth = 600): fc.Arbitrary<unknown> {
  return fc
    .tuple(fc.integer({ min: 20, max: maxDepth }), fc.constantFrom('array' as const, 'object' as const), scalar)
    .map(([depth, kind, leaf]) => nested(depth, kind, leaf));
}

export const prototypeKey = fc.constantFrom('__proto__', 'constructor', 'prototype');
/** What a pollution attempt carries; `warblePolluted` showing up on Object.prototype is a failure. */
export const pollution: fc.Arbitrary<unknown> = fc.oneof(
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
