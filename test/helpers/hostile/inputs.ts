// A procedure's whole input: shaped like its schema from plausible and hostile field values (or of
// the wrong shape entirely), for procedures with an object input and for those without input.
import fc from 'fast-check';
import { NO_INPUT, RawJson, withOwn } from './input-text.ts';
import { deeplyNested, hostileString, hostileValue, pollution, prototypeKey, scalar } from './values.ts';

/** How inputs are generated. */
export interface Generation {
  /** Longest strings, in UTF-16 units (a GET carries its input in the URL, so queries get less). */
  maxLength: number;
  /** Leave out inputs that hit the server bugs listed in FIXED_BUGS (for `npm test`; the fuzz script never does). */
  avoidKnownBugs: boolean;
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
export function objectInputs(
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
export function anyInput(maxLength: number): fc.Arbitrary<unknown> {
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
