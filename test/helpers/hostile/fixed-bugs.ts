// Server bugs hostile inputs have found: what they were, the exact calls that reproduced them (kept
// as regression tests), and how to tell an outcome one of them explains.
import type { Outcome } from './checks.ts';
import { forgeCursor, hitsKnownCursorBug } from './cursors.ts';
import { fieldOf, inputText, RawJson } from './input-text.ts';
import type { World } from './world.ts';

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

/** Which known bug, if any, explains a failed outcome of this call. */
export function knownBugOf(input: unknown, outcome: Outcome): keyof typeof FIXED_BUGS | undefined {
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
