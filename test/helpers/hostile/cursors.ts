// Cursors: real ones, damaged ones, ones of other lists, and forged ones in the server's own format
// (signed correctly) carrying any time and id a JSON number or string can be.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { UUID_SHAPES } from './fields.ts';
import type { Generation } from './inputs.ts';
import { hostileNumber, hostileString, hostileValue, scalar } from './values.ts';
import type { World } from './world.ts';

const checksum = (payload: string) =>
  createHash('sha256').update(`warble-cursor:${payload}`).digest('base64url').slice(0, 16);

/** A cursor in the server's format, signed correctly but carrying whatever parts it is given. */
export function forgeCursor(parts: unknown, signed = true): string {
  const payload = Buffer.from(JSON.stringify(parts) ?? '', 'utf8').toString('base64url');
  return `${payload}.${signed ? checksum(payload) : 'AAAAAAAAAAAAAAAA'}`;
}

// The first and last millisecond cursor lists survive (see FIXED_BUGS.cursorTimeOutOfRange).
const FIRST_SAFE_CURSOR_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_SAFE_CURSOR_TIME = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * Whether a cursor time would hit FIXED_BUGS.cursorTimeOutOfRange (kept here rather than in
 * fixed-bugs.ts, which forges its reproductions with forgeCursor, so the two need not import each other).
 */
export function hitsKnownCursorBug(time: unknown): boolean {
  return (
    typeof time === 'number' &&
    Number.isSafeInteger(time) &&
    (time < FIRST_SAFE_CURSOR_TIME || time > LAST_SAFE_CURSOR_TIME)
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
export function cursorsOf(world: World, which: keyof World['cursors'], gen: Generation): fc.Arbitrary<unknown> {
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
export function cursors(world: World, gen: Generation): fc.Arbitrary<unknown> {
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
