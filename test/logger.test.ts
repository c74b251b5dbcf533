import { setTimeout as sleep } from 'node:timers/promises';
import { MikroORM } from '@mikro-orm/postgresql';
import { describe, expect, it } from 'vitest';
import { ormOptions } from '../server/db.ts';
import { createLogger } from '../server/logger.ts';
import { testEnv } from './helpers/app.ts';
import { createTestDatabase } from './helpers/database.ts';

describe('logs', () => {
  it('never contain credentials, wherever they appear', () => {
    let written = '';
    const logger = createLogger(
      { NODE_ENV: 'production', LOG_LEVEL: 'info' },
      { write: (line: string) => (written += line) },
    );
    logger.info({ req: { headers: { authorization: 'Bearer eyJ.secret.jwt', cookie: 'sid=abc' } } }, 'request');
    logger.info({ input: { username: 'ada', password: 'hunter2hunter2' } }, 'login');
    logger.info({ result: { accessToken: 'at-secret', refreshToken: 'rt-secret' } }, 'tokens');
    expect(written).not.toMatch(/eyJ\.secret|sid=abc|hunter2|at-secret|rt-secret/);
    expect(written).toContain('ada');
    // Production logs are JSON lines.
    for (const line of written.trim().split('\n')) expect(JSON.parse(line)).toHaveProperty('msg');
  });
});

describe('a lost database connection', () => {
  it('is logged as one short warning (no client internals), and not at all while the pool shuts down', async () => {
    const db = await createTestDatabase();
    const lines: string[] = [];
    const logger = createLogger({ NODE_ENV: 'production', LOG_LEVEL: 'info' }, { write: (line) => lines.push(line) });
    const orm = await MikroORM.init(ormOptions(testEnv(), db.url, logger));
    try {
      await orm.em.getConnection().execute('select 1');
      // What a database restart does to an idle pooled connection.
      await db.admin(`select pg_terminate_backend(pid) from pg_stat_activity where datname = '${db.name}'`);
      for (let waited = 0; lines.length === 0 && waited < 5000; waited += 20) await sleep(20);
      expect(lines).toHaveLength(1);
      const entry = JSON.parse(lines[0]!) as { msg: string; err: Record<string, unknown> };
      expect(entry.msg).toBe('database connection lost; the pool will reconnect');
      expect(entry.err).toMatchObject({ message: expect.stringContaining('terminating connection'), code: '57P01' });
      expect(entry.err).not.toHaveProperty('client');
      expect(lines[0]).not.toMatch(/connectionParameters|password/);
      // The pool reconnects by itself.
      await expect(orm.em.getConnection().execute('select 1 as one')).resolves.toEqual([{ one: 1 }]);
    } finally {
      await orm.close();
      await db.drop(); // ends the connections the pool is still closing, which is expected: no warning
    }
    expect(lines).toHaveLength(1);
  });
});
