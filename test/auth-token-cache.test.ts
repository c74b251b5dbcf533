// Each process remembers verified callers for AUTH_CACHE_SECONDS (server/auth/viewer-cache.ts).
// What users must not notice: a session revoked through one process stops working on every other
// one as well, at once (not after the cache's lifetime), and a process that may have missed a
// revocation does not trust what it remembered. Within a process, concurrent requests with one
// token share one verification, and none of them keeps an answer that a revocation overtook.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ViewerCache, type Verified } from '../server/auth/viewer-cache.ts';
import { startTestApp, testEnv, useTestApp, type TestApp } from './helpers/app.ts';
import { signupAndLogin } from './helpers/auth.ts';
import { sql } from './helpers/sessions.ts';
import { expectAccepted, expectRefused, me, refresh } from './helpers/tokens.ts';
import { mutate } from './helpers/trpc.ts';

// Far longer than any test: only the revocation notice can make the other process forget.
const LONG = { AUTH_CACHE_SECONDS: '300' };
const WAIT_MS = 5000;

/** Polls until `probe` is true; fails after WAIT_MS. Revocation reaches other processes asynchronously. */
async function eventually(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${WAIT_MS} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const refused = async (url: string, token: string) => (await me(url, { token })).status === 401;

/** The backends of the revocation listeners connected to the test database. */
const listeners = async (databaseUrl: string) =>
  (
    await sql<{ pid: number }>(
      databaseUrl,
      `select pid from pg_stat_activity where application_name = 'warble-revocations' and datname = current_database()`,
    )
  ).map((row) => row.pid);

describe('access tokens remembered by several processes', () => {
  const a = useTestApp({ env: testEnv(LONG) });
  let b: TestApp;
  beforeAll(async () => {
    b = await startTestApp({ databaseUrl: a.db.url, env: testEnv({ ...LONG, JWT_SECRET: a.env.JWT_SECRET! }) });
    await eventually(async () => (await listeners(a.db.url)).length === 2, 'both processes listen');
  });
  afterAll(() => b?.close());

  it('stop working on the other process when the session is logged out here', async () => {
    const { user, tokens } = await signupAndLogin(a.url);
    expectAccepted(await me(b.url, { token: tokens.accessToken }), user.id);
    expectAccepted(await me(b.url, { token: tokens.accessToken }), user.id);

    expect((await mutate(a.url, 'auth.logout', { refreshToken: tokens.refreshToken })).status).toBe(200);
    expectRefused(await me(a.url, { token: tokens.accessToken }));
    await eventually(() => refused(b.url, tokens.accessToken), 'process B refuses the logged-out token');
    expectRefused(await me(b.url, { token: tokens.accessToken }));
  });

  it('stop working everywhere after logoutAll, and after refresh-token reuse', async () => {
    const { user, tokens } = await signupAndLogin(a.url);
    const second = (
      await mutate<{ accessToken: string; refreshToken: string }>(a.url, 'auth.login', {
        username: user.username,
        password: 'correct horse battery',
      })
    ).data!;
    for (const token of [tokens.accessToken, second.accessToken]) expectAccepted(await me(b.url, { token }), user.id);

    expect((await mutate(b.url, 'auth.logoutAll', undefined, { token: second.accessToken })).status).toBe(200);
    for (const token of [tokens.accessToken, second.accessToken]) {
      await eventually(() => refused(a.url, token), 'process A refuses tokens of every logged-out session');
    }

    // Reuse detected on A revokes the session; B forgets its token.
    const third = await signupAndLogin(a.url);
    const rotated = (await refresh(a.url, third.tokens.refreshToken)).data!;
    expectAccepted(await me(b.url, { token: rotated.accessToken }), third.user.id);
    expect((await refresh(a.url, rotated.refreshToken)).status).toBe(200);
    expect((await refresh(a.url, third.tokens.refreshToken)).status).toBe(401); // the ancestor: reuse
    await eventually(() => refused(b.url, rotated.accessToken), 'process B refuses tokens of a reused session');
  });

  it('are not trusted after the process may have missed a revocation (its listener was cut off)', async () => {
    const { user, tokens } = await signupAndLogin(b.url);
    expectAccepted(await me(b.url, { token: tokens.accessToken }), user.id);

    const before = await listeners(a.db.url);
    await sql(a.db.url, `select pg_terminate_backend(pid) from pg_stat_activity where pid = any($1)`, [before]);
    // Revoked behind every process's back: no notice is sent.
    await sql(a.db.url, `update sessions set revoked_at = now() where user_id = $1`, [user.id]);
    await eventually(async () => {
      const now = await listeners(a.db.url);
      return now.length === 2 && now.every((pid) => !before.includes(pid));
    }, 'both listeners reconnect');
    expectRefused(await me(b.url, { token: tokens.accessToken }));
    expectRefused(await me(a.url, { token: tokens.accessToken }));
  });
});

describe('one process asked for one token many times at once', () => {
  const t = useTestApp();
  const viewer = {
    id: 'user-1',
    username: 'ada',
    displayName: null,
    sessionId: 'session-1',
    expiresAt: Date.now() + 60_000,
  };

  /** A verification of `viewer`'s token (a stand-in for the session read) that counts its runs and waits for `open()`. */
  function gatedVerification() {
    const waiting: (() => void)[] = [];
    return {
      runs: 0,
      verify(): Promise<Verified> {
        this.runs++;
        return new Promise((resolve) => waiting.push(() => resolve({ viewer, validUntil: Date.now() + 60_000 })));
      },
      open: () => waiting.splice(0).forEach((finish) => finish()),
    };
  }

  it('verifies once for all of them, and never keeps an answer that a revocation overtook', async () => {
    const cache = new ViewerCache(300);
    const stop = cache.listen(t.db.url, { warn: () => {} });
    const check = gatedVerification();
    const lookup = () => cache.lookup('token', () => check.verify());
    const revoke = () => cache.forget({ sessionId: viewer.sessionId });
    try {
      await eventually(() => Promise.resolve(cache.enabled), 'the cache listens for revocations');

      const burst = Promise.all(Array.from({ length: 20 }, lookup));
      check.open();
      expect((await burst).map((answer) => answer?.id)).toEqual(Array(20).fill(viewer.id));
      expect(check.runs).toBe(1);
      await lookup();
      expect(check.runs).toBe(1); // remembered

      // Revoked while a verification reads the (still live) session: its answer goes to the
      // request that asked before, and is not remembered.
      revoke();
      const before = lookup();
      revoke();
      check.open();
      await before;
      const next = lookup();
      expect(check.runs).toBe(3);
      check.open();
      await next;

      // A request that arrives after the revocation does not wait for the verification before it.
      revoke();
      const older = lookup();
      revoke();
      const newer = lookup();
      expect(check.runs).toBe(5);
      check.open();
      await Promise.all([older, newer]);
    } finally {
      await stop();
    }
  });
});
