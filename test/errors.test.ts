import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseEnv, type Env } from '../server/env.ts';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { testRouter } from './helpers/test-router.ts';

interface ErrorBody {
  error: { message: string; data: { code: string; httpStatus: number; stack?: string } };
}

const call = async (url: string, path: string, init?: RequestInit) => {
  const response = await fetch(`${url}/trpc/${path}`, init);
  const text = await response.text();
  return { status: response.status, text, body: JSON.parse(text) as ErrorBody };
};

const mutate = (url: string, path: string, input: unknown) =>
  call(url, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) });

/** An environment without NODE_ENV at all (as a shell that never set it), or with `nodeEnv`. */
function envWith(nodeEnv?: 'test'): Env {
  const result = parseEnv({
    JWT_SECRET: randomBytes(32).toString('base64url'),
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    ...(nodeEnv ? { NODE_ENV: nodeEnv } : {}),
  });
  if (!result.ok) throw new Error(result.problems.join('; '));
  return result.env;
}

describe('errors in production', () => {
  const t = useTestApp({ router: testRouter });

  it('masks an unexpected failure as INTERNAL_SERVER_ERROR "Internal server error", without a stack', async () => {
    const { status, body, text } = await call(t.url, 'test.crash');
    expect(status).toBe(500);
    expect(body.error.message).toBe('Internal server error');
    expect(body.error.data.code).toBe('INTERNAL_SERVER_ERROR');
    expect(body.error.data.stack).toBeUndefined();
    expect(text).not.toMatch(/secret_table|\/srv\/|\.ts:/);
  });

  it('never shows SQL text or the database message', async () => {
    const { status, text } = await call(t.url, 'test.badSql');
    expect(status).toBe(500);
    expect(text).not.toMatch(/secret_table|select|relation/i);
  });

  it('turns a unique violation into CONFLICT (409) without naming the constraint', async () => {
    expect((await mutate(t.url, 'test.addUser', { username: 'Ada' })).status).toBe(200);
    const { status, body, text } = await mutate(t.url, 'test.addUser', { username: 'ada' });
    expect(status).toBe(409);
    expect(body.error.data.code).toBe('CONFLICT');
    expect(text).not.toMatch(/users_username_lower_unique|duplicate key|insert/i);
  });

  it('answers SERVICE_UNAVAILABLE while the database refuses connections, and recovers', async () => {
    await t.db.admin(`alter database "${t.db.name}" allow_connections false`);
    await t.db.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${t.db.name}'`);
    try {
      const { status, body } = await call(t.url, 'test.ping');
      expect(status).toBe(503);
      expect(body.error.data.code).toBe('SERVICE_UNAVAILABLE');
    } finally {
      await t.db.admin(`alter database "${t.db.name}" allow_connections true`);
    }
    expect((await call(t.url, 'test.ping')).status).toBe(200);
  });
});

describe.each([
  ['unset', undefined],
  ['test', 'test' as const],
])('errors with NODE_ENV %s: masked as in production', (_name, nodeEnv) => {
  const t = useTestApp({ router: testRouter, env: envWith(nodeEnv) });

  it('answers a crash with "Internal server error", without the message or a stack', async () => {
    expect(t.env.NODE_ENV).toBe(nodeEnv);
    const { status, body, text } = await call(t.url, 'test.crash');
    expect(status).toBe(500);
    expect(body.error.message).toBe('Internal server error');
    expect(body.error.data.code).toBe('INTERNAL_SERVER_ERROR');
    expect(body.error.data.stack).toBeUndefined();
    expect(text).not.toMatch(/secret_table|\/srv\/|\.ts:|node_modules/);
  });

  it('never shows SQL text or the database message', async () => {
    const { status, body, text } = await call(t.url, 'test.badSql');
    expect(status).toBe(500);
    expect(body.error.message).toBe('Internal server error');
    expect(body.error.data.stack).toBeUndefined();
    expect(text).not.toMatch(/secret_table|select|relation|node_modules/i);
  });
});

describe('errors in development', () => {
  const t = useTestApp({ router: testRouter, env: testEnv({ NODE_ENV: 'development' }) });

  it('shows the message and the stack, to help the developer', async () => {
    const { status, body } = await call(t.url, 'test.crash');
    expect(status).toBe(500);
    expect(body.error.message).toContain('secret_table');
    expect(body.error.data.stack).toContain('Error');
  });
});

describe('a database that does not answer', () => {
  it('gives SERVICE_UNAVAILABLE (503) quickly, not a hang or a 500', async () => {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const app = await startTestApp({ databaseUrl: 'postgresql://nobody:nothing@127.0.0.1:1/none', router: testRouter });
    try {
      const { status, body, text } = await call(app.url, 'test.ping');
      expect(status).toBe(503);
      expect(body.error.data.code).toBe('SERVICE_UNAVAILABLE');
      expect(text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/);
      expect((await fetch(`${app.url}/readyz`)).status).toBe(503);
    } finally {
      await app.close();
    }
  });
});
