// A real database outage: a PostgreSQL server of this file's own is stopped under a running app
// and started again on the same data. Calls must fail with 503 without hanging while it is down,
// and the same process must serve again, with nothing lost, once it is back.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate, ormOptions } from '../server/db.ts';
import {
  startEmbeddedPostgres,
  type EmbeddedPostgres,
  type EmbeddedPostgresOptions,
} from '../server/embedded-postgres.ts';
import { startTestApp, testEnv, type TestApp } from './helpers/app.ts';
import { PASSWORD, signupAndLogin } from './helpers/auth.ts';
import { freePort } from './helpers/free-port.ts';
import { createPost, createPostCall, postById, timeline } from './helpers/social.ts';
import { mutate, query, type TrpcResult } from './helpers/trpc.ts';

const DATABASE = 'warble_outage';
// Not a speed requirement: a bound far above any real answer, so that a call that hangs fails
// this test with a clear message instead of the test's timeout.
const HANG_BOUND_MS = 10_000;
const RECOVERY_BOUND_MS = 10_000;

async function answersWithoutHanging<T>(what: string, call: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${HANG_BOUND_MS} ms`)), HANG_BOUND_MS);
  });
  try {
    return await Promise.race([call, hung]);
  } finally {
    clearTimeout(timer);
  }
}

function expectUnavailable(result: TrpcResult<unknown>) {
  expect(result.status).toBe(503);
  expect(result.error?.data.code).toBe('SERVICE_UNAVAILABLE');
}

async function status(url: string): Promise<number> {
  return (await fetch(url)).status;
}

describe('database outage', () => {
  let dir: string;
  let options: EmbeddedPostgresOptions;
  let postgres: EmbeddedPostgres | undefined;
  let t: TestApp | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'warble-outage-'));
    // As root, PostgreSQL runs as the `postgres` user, which must be able to pass through.
    await chmod(dir, 0o755);
    options = { dataDir: path.join(dir, 'data'), passwordFile: path.join(dir, 'password'), port: await freePort() };
    postgres = await startEmbeddedPostgres(options);
    const admin = new pg.Client({ connectionString: postgres.url('postgres') });
    await admin.connect();
    await admin.query(`create database ${DATABASE}`);
    await admin.end();
    const orm = await MikroORM.init(ormOptions(testEnv(), postgres.url(DATABASE)));
    await migrate(orm);
    await orm.close();
    t = await startTestApp({ databaseUrl: postgres.url(DATABASE) });
  });

  afterAll(async () => {
    await t?.close();
    await postgres?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 while PostgreSQL is down, and serves again with nothing lost once it is back', async () => {
    const { url } = t!;
    const { user, tokens } = await signupAndLogin(url);
    const before = await createPost(url, tokens.accessToken, 'written before the outage');

    await postgres!.stop();
    postgres = undefined;

    const down = {
      create: await answersWithoutHanging('posts.create', createPostCall(url, { body: 'lost?' }, tokens.accessToken)),
      byId: await answersWithoutHanging('posts.byId', postById(url, before.id)),
      me: await answersWithoutHanging('auth.me', query(url, 'auth.me', undefined, { token: tokens.accessToken })),
      login: await answersWithoutHanging(
        'auth.login',
        mutate(url, 'auth.login', { username: user.username, password: PASSWORD }),
      ),
    };
    for (const result of Object.values(down)) expectUnavailable(result);
    expect(await answersWithoutHanging('/readyz', status(`${url}/readyz`))).toBe(503);
    expect(await answersWithoutHanging('/healthz', status(`${url}/healthz`))).toBe(200);

    // The same data directory and port: the database comes back as it was.
    postgres = await startEmbeddedPostgres(options);

    // The app recovers by itself; no restart, no reconnect call.
    const deadline = Date.now() + RECOVERY_BOUND_MS;
    while ((await status(`${url}/readyz`)) !== 200) {
      if (Date.now() > deadline) throw new Error(`/readyz not 200 within ${RECOVERY_BOUND_MS} ms of the restart`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const kept = await postById(url, before.id);
    expect(kept.status).toBe(200);
    expect(kept.data).toEqual(before);
    const me = await query<{ id: string }>(url, 'auth.me', undefined, { token: tokens.accessToken });
    expect(me.status).toBe(200);
    expect(me.data?.id).toBe(user.id);
    const after = await createPost(url, tokens.accessToken, 'written after the outage');
    const page = await timeline(url, tokens.accessToken);
    expect(page.status).toBe(200);
    // The post refused during the outage was not half-written either.
    expect(page.data?.items.map((post) => post.id)).toEqual([after.id, before.id]);
  });
});
