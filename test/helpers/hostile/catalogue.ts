// The catalogue: every procedure of the router, with what it accepts (as arbitraries for inputs
// shaped like its schema), who may call it, the errors it may end in, and what its success must be.
import fc from 'fast-check';
import { z } from 'zod';
import type { ErrorCode } from './contract.ts';
import { cursors, cursorsOf } from './cursors.ts';
import {
  caseVariants,
  knownNames,
  limits,
  passwords,
  postBodies,
  postIds,
  realPostIds,
  refreshTokens,
  usernames,
  validLimits,
  validUsernames,
  variantsOf,
} from './fields.ts';
import { abbreviate, fieldOf, NO_INPUT } from './input-text.ts';
import { anyInput, objectInputs, type Generation } from './inputs.ts';
import { id, isoDate, page, pageWithin, postDto, profile, tokenPair, userRef } from './outputs.ts';
import { ACCOUNT_PROCEDURES, passwordRuleProblem } from './accounts.ts';
import { FRESH, plainCall, type Caller, type World } from './world.ts';

export interface ProcedureSpec {
  path: string;
  kind: 'query' | 'mutation';
  /** `optional`: public, but a token that is sent must be valid. */
  access: 'public' | 'protected' | 'optional';
  /** Errors a call that reaches the procedure may end in (besides the transport's, added in `checkAnswer`). */
  errors: readonly ErrorCode[];
  output: z.ZodType;
  input: (world: World, gen: Generation) => fc.Arbitrary<unknown>;
  /**
   * More about a success than its shape; returns a problem, if any. `caller`: who the call was made
   * as (a success needs a valid token wherever access is `protected`).
   */
  verify?: (
    input: unknown,
    data: unknown,
    world: World,
    caller: Caller | undefined,
  ) => string | undefined | Promise<string | undefined>;
  /** Runs inside `npm test` (the fuzz script runs far more of every procedure). */
  testRuns: number;
  /**
   * Who `auth: valid` is: `self` with its standing token (the default), or, for a call that spends
   * something of its caller's, a fresh login each time of
   *  - `sacrificial`, whose sessions the call may revoke (auth.logoutAll);
   *  - `keyholder`, whose password the call may change (auth.changePassword; its verify changes it back);
   *  - `newcomer`: an account signed up for this call alone, which the call may delete (auth.deleteAccount).
   */
  caller?: 'self' | 'sacrificial' | 'keyholder' | 'newcomer';
  /**
   * The input field with the caller's password, for a procedure that checks it: an UNAUTHORIZED
   * with `reason: 'WRONG_PASSWORD'` to a valid token is then a fair answer, unless that field held
   * the caller's password (checks.ts).
   */
  passwordField?: string;
}

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
      const refused = passwordRuleProblem(fieldOf(input, 'password'));
      return refused && `signed up with ${refused}`;
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
    // It was just logged in (see `caller`): at least that session goes.
    verify: (_input, data) => ((data as { revoked: number }).revoked >= 1 ? undefined : 'revoked no session'),
    caller: 'sacrificial',
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
  ...ACCOUNT_PROCEDURES,
];
