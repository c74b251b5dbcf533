import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { MikroORM } from '@mikro-orm/postgresql';
import type { AnyRouter } from '@trpc/server';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { buildApp } from '../../server/app.ts';
import { ormOptions } from '../../server/db.ts';
import { parseEnv, type Env } from '../../server/env.ts';
import { createLogger } from '../../server/logger.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

/** Every abuse limit off (0), for servers that tests and benchmarks drive at machine speed. */
export const UNLIMITED = {
  RATE_LIMIT_CALLS_PER_MINUTE: '0',
  SIGNUP_MAX_PER_ADDRESS: '0',
  POSTS_PER_HOUR: '0',
  BCRYPT_QUEUE_MAX: '100000',
} as const;

/** Production settings (so errors are masked as clients will see them), fast bcrypt, no logs. */
export function testEnv(overrides: Record<string, string> = {}): Env {
  const result = parseEnv({
    NODE_ENV: 'production',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    BCRYPT_COST: '4',
    LOG_LEVEL: 'silent',
    // Tests call far faster than a person: the abuse limits are off unless a test sets them.
    ...UNLIMITED,
    ...overrides,
  });
  if (!result.ok) throw new Error(`bad test environment: ${result.problems.join('; ')}`);
  return result.env;
}

export interface TestApp {
  app: FastifyInstance;
  orm: MikroORM;
  env: Env;
  /** http://127.0.0.1:<port> of the listening app. */
  url: string;
  close: () => Promise<void>;
}

/** Builds the real app on `databaseUrl` and listens on a free port. */
export async function startTestApp(options: { databaseUrl: string; env?: Env; router?: AnyRouter }): Promise<TestApp> {
  const env = options.env ?? testEnv();
  const orm = await MikroORM.init(ormOptions(env, options.databaseUrl));
  const app = await buildApp({ orm, env, logger: createLogger(env), router: options.router });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    app,
    orm,
    env,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await app.close();
      await orm.close();
    },
  };
}

/**
 * For a test file: a database of its own and an app on it, started before the first test and
 * removed after the last. Read the fields inside tests, not at module level.
 */
export function useTestApp(options: { env?: Env; router?: AnyRouter } = {}): TestApp & { db: TestDatabase } {
  let started: (TestApp & { db: TestDatabase }) | undefined;
  beforeAll(async () => {
    const db = await createTestDatabase();
    started = { ...(await startTestApp({ ...options, databaseUrl: db.url })), db };
  });
  afterAll(async () => {
    await started?.close();
    await started?.db.drop();
  });
  return new Proxy({} as TestApp & { db: TestDatabase }, {
    get(_target, key: keyof (TestApp & { db: TestDatabase })) {
      if (!started) throw new Error('useTestApp: used before beforeAll ran');
      return started[key];
    },
  });
}
