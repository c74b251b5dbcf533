// The account procedures (issue #15): auth.changePassword, auth.deleteAccount, users.updateProfile
// and posts.restore, with what their successes must be. Each verify states the contract on its own
// terms and reads the result back over HTTP, as a client would see it.
import fc from 'fast-check';
import { z } from 'zod';
import type { ProcedureSpec } from './catalogue.ts';
import { bios, callerPasswords, displayNames, passwords, postIds, restorablePostIds } from './fields.ts';
import { abbreviate, fieldOf } from './input-text.ts';
import { objectInputs } from './inputs.ts';
import { postDto, profile } from './outputs.ts';
import { FRESH, plainCall, type Caller, type World } from './world.ts';

/**
 * The contract's password rule (signup, and a new password), stated independently: 8–72 bytes of
 * well-formed UTF-8 (after NFC) without NUL (bcrypt would silently cut or stop early). Returns
 * what is wrong with `password`, if anything.
 */
export function passwordRuleProblem(password: unknown): string | undefined {
  if (typeof password !== 'string') return 'a password that is not a string';
  const bytes = Buffer.byteLength(password.normalize('NFC'));
  return !password.isWellFormed() || password.includes('\u0000') || bytes < 8 || bytes > 72
    ? `a password the contract refuses (${bytes} bytes)`
    : undefined;
}

/** Whether `input[field]` is the caller's password (compared after NFC, as the server does). */
const isCallersPassword = (input: unknown, field: string, caller: Caller) => {
  const given = fieldOf(input, field);
  return typeof given === 'string' && given.normalize('NFC') === caller.account.password;
};

const codeOf = (result: Awaited<ReturnType<typeof plainCall>>) => result.body?.error?.data?.code ?? result.status;

/**
 * A changed password: the caller's session stays, the new password logs in and the old one no
 * longer does, and the change revokes every other session at once. The keyholder's password is
 * changed back from the caller's session, which is itself the check of the last rule: the session
 * of the login with the new password must go.
 */
async function verifyPasswordChange(input: unknown, _data: unknown, world: World, caller: Caller | undefined) {
  if (!caller) return 'changed a password without a caller';
  if (!isCallersPassword(input, 'currentPassword', caller)) return 'changed the password with a wrong current password';
  const newPassword = fieldOf(input, 'newPassword') as string;
  const refused = passwordRuleProblem(newPassword);
  if (refused) return `changed the password to ${refused}`;

  const withNew = await plainCall(world.url, 'auth.login', 'mutation', {
    username: caller.account.username,
    password: newPassword,
  });
  // Without it the keyholder's password is unknown: later calls will fail to log it in.
  if (withNew.status !== 200) return `the new password does not log in (${codeOf(withNew)})`;
  const problems: string[] = [];
  const callerMe = await plainCall(world.url, 'auth.me', 'query', undefined, caller.accessToken);
  if (callerMe.status !== 200) problems.push(`the caller's own session was revoked (${codeOf(callerMe)})`);
  if (newPassword.normalize('NFC') !== caller.account.password) {
    const withOld = await plainCall(world.url, 'auth.login', 'mutation', {
      username: caller.account.username,
      password: caller.account.password,
    });
    if (withOld.status !== 401) problems.push(`the old password still logs in (${codeOf(withOld)})`);
  }

  // Back to the keyholder's password, from whichever session still works.
  const newToken = (withNew.body?.result?.data as { accessToken: string }).accessToken;
  const back = { currentPassword: newPassword, newPassword: caller.account.password };
  const changedBack = await plainCall(world.url, 'auth.changePassword', 'mutation', back, caller.accessToken);
  if (changedBack.status !== 200) {
    problems.push(`changing the password back failed (${codeOf(changedBack)})`);
    await plainCall(world.url, 'auth.changePassword', 'mutation', back, newToken);
  } else {
    const revoked = (changedBack.body?.result?.data as { revokedSessions: number }).revokedSessions;
    if (revoked < 1) problems.push(`a change revoked ${revoked} sessions, though another one was live`);
    const stale = await plainCall(world.url, 'auth.me', 'query', undefined, newToken);
    if (stale.status !== 401) problems.push(`another session still works after a change (${codeOf(stale)})`);
  }
  return problems[0];
}

/**
 * A deleted account: its token stops working, logging in fails exactly as for an unknown user,
 * its profile is not found, and its username stays taken.
 */
async function verifyAccountDeleted(input: unknown, _data: unknown, world: World, caller: Caller | undefined) {
  if (!caller) return 'deleted an account without a caller';
  if (!isCallersPassword(input, 'password', caller)) return 'deleted the account with a wrong password';
  const me = await plainCall(world.url, 'auth.me', 'query', undefined, caller.accessToken);
  if (me.status !== 401) return `the deleted account's token still works (${codeOf(me)})`;
  const { username, password } = caller.account;
  const login = await plainCall(world.url, 'auth.login', 'mutation', { username, password });
  const unknown = await plainCall(world.url, 'auth.login', 'mutation', { username: `${username}_x`, password });
  if (login.status !== 401 || login.body?.error?.message !== unknown.body?.error?.message)
    return `a deleted account's login answers unlike an unknown user's: ${abbreviate(login.text, 200)}`;
  const profileRead = await plainCall(world.url, 'users.profile', 'query', { username });
  if (profileRead.status !== 404) return `the deleted account's profile answers ${codeOf(profileRead)}`;
  const signup = await plainCall(world.url, 'auth.signup', 'mutation', { username: username.toUpperCase(), password });
  return codeOf(signup) === 'CONFLICT' ? undefined : `the deleted account's username is free (${codeOf(signup)})`;
}

/** Self's display name and bio after the last successful update (null and '' at signup). */
const lastProfile = new WeakMap<World, { displayName: string | null; bio: string }>();

/**
 * An updated profile: each field given is answered trimmed, within its limits in code points
 * (display name 1–50 or null, bio 0–160), and stored exactly; a field not given is unchanged.
 */
async function verifyProfileUpdate(input: unknown, data: unknown, world: World) {
  const answer = data as { id: string; displayName: string | null; bio: string };
  if (answer.id !== world.self.id) return "updated another profile than the caller's";
  const before = lastProfile.get(world) ?? { displayName: null, bio: '' };
  lastProfile.set(world, { displayName: answer.displayName, bio: answer.bio });
  const rules = { displayName: { min: 1, max: 50, nullable: true }, bio: { min: 0, max: 160, nullable: false } };
  for (const [name, rule] of Object.entries(rules) as [keyof typeof rules, (typeof rules)[keyof typeof rules]][]) {
    const given = fieldOf(input, name);
    const answered = answer[name];
    if (given === undefined) {
      if (answered !== before[name]) return `${name} was not given, but changed`;
      continue;
    }
    if (given === null) {
      if (!rule.nullable) return `accepted a null ${name}`;
      if (answered !== null) return `${name}: null was answered as ${JSON.stringify(answered)}`;
      continue;
    }
    if (typeof given !== 'string') return `accepted a ${name} that is not a string`;
    if (!given.isWellFormed() || given.includes('\u0000')) return `accepted a ${name} with a NUL or a lone surrogate`;
    const characters = [...given.trim()].length;
    if (characters < rule.min || characters > rule.max) return `accepted a ${name} of ${characters} characters`;
    if (answered !== given.trim()) return `${name}: answered ${abbreviate(JSON.stringify(answered), 100)}`;
  }
  // Stored exactly (read back from the database): no NUL dropped, nothing cut or replaced.
  const read = await plainCall(world.url, 'users.profile', 'query', { username: world.self.username });
  const stored = read.body?.result?.data as { displayName?: unknown; bio?: unknown } | undefined;
  return stored?.displayName === answer.displayName && stored.bio === answer.bio
    ? undefined
    : `the stored profile differs from the answer: ${abbreviate(read.text, 200)}`;
}

/** A restored post: the one asked for, the caller's, and served to everyone again, as it was. */
async function verifyRestored(input: unknown, data: unknown, world: World) {
  const post = data as { id: string; body: string; createdAt: string; author: { id: string; username: string } };
  const given = fieldOf(input, 'id');
  // Post ids are UUIDs, which PostgreSQL reads in either case; the answer has the canonical one.
  if (typeof given !== 'string' || post.id !== given.toLowerCase())
    return `restored ${post.id} when asked for ${abbreviate(JSON.stringify(given), 100)}`;
  if (post.author.id !== world.self.id) return "restored someone else's post";
  const read = await plainCall(world.url, 'posts.byId', 'query', { id: post.id });
  const served = read.body?.result?.data as typeof post | undefined;
  // The author's display name is left out: users.updateProfile may change it meanwhile (npm run fuzz
  // runs procedures side by side).
  const same =
    served?.body === post.body &&
    served.createdAt === post.createdAt &&
    served.author.id === post.author.id &&
    served.author.username === post.author.username;
  return read.status === 200 && same ? undefined : `the restored post reads back as ${abbreviate(read.text, 300)}`;
}

export const ACCOUNT_PROCEDURES: readonly ProcedureSpec[] = [
  {
    path: 'auth.changePassword',
    kind: 'mutation',
    access: 'protected',
    // A wrong current password counts as a failed login, so the login limits apply.
    errors: ['BAD_REQUEST', 'TOO_MANY_REQUESTS'],
    output: z.strictObject({ revokedSessions: z.number().int().min(0) }),
    input: (world, gen) =>
      objectInputs(
        { currentPassword: callerPasswords(world, world.keyholder.password), newPassword: passwords(world) },
        gen,
        // The right current password, so that the new password's rules decide.
        [fc.record({ currentPassword: fc.constant(world.keyholder.password), newPassword: passwords(world) })],
      ),
    verify: verifyPasswordChange,
    caller: 'keyholder',
    passwordField: 'currentPassword',
    testRuns: 150,
  },
  {
    path: 'auth.deleteAccount',
    kind: 'mutation',
    access: 'protected',
    errors: ['BAD_REQUEST', 'TOO_MANY_REQUESTS'],
    output: z.strictObject({ deleted: z.literal(true) }),
    input: (world, gen) =>
      objectInputs({ password: callerPasswords(world, world.newcomerPassword) }, gen, [
        fc.record({ password: fc.constant(world.newcomerPassword) }),
      ]),
    verify: verifyAccountDeleted,
    caller: 'newcomer',
    passwordField: 'password',
    testRuns: 100,
  },
  {
    path: 'users.updateProfile',
    kind: 'mutation',
    access: 'protected',
    errors: ['BAD_REQUEST'],
    output: profile,
    input: (_world, gen) =>
      objectInputs({ displayName: displayNames, bio: bios }, gen, [
        fc.record({ displayName: displayNames, bio: bios }, { requiredKeys: [] }),
      ]),
    verify: verifyProfileUpdate,
    testRuns: 300,
  },
  {
    path: 'posts.restore',
    kind: 'mutation',
    access: 'protected',
    errors: ['BAD_REQUEST', 'NOT_FOUND', 'FORBIDDEN'],
    output: postDto,
    input: (world, gen) =>
      objectInputs({ id: postIds(world, restorablePostIds(world)) }, gen, [
        fc.record({ id: fc.oneof(fc.constant(FRESH.deletedOwnPostId), fc.constantFrom(...restorablePostIds(world))) }),
      ]),
    verify: verifyRestored,
    testRuns: 300,
  },
];
