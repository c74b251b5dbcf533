// The server as operators run it: a separate process, started and stopped with signals.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { embeddedUrl } from '../server/db.ts';
import { startTestApp } from './helpers/app.ts';
import { createTestDatabase } from './helpers/database.ts';
import { freePort } from './helpers/free-port.ts';
import { startServerProcess } from './helpers/server-process.ts';
import { testRouter } from './helpers/test-router.ts';

describe('server process', () => {
  it('migrates an empty database, serves, and exits 0 on SIGTERM', async () => {
    const db = await createTestDatabase({ empty: true });
    try {
      const server = startServerProcess({
        DATABASE_URL: db.url,
        PORT: '0',
        NODE_ENV: 'production',
        JWT_SECRET: randomBytes(32).toString('hex'),
      });
      const url = await server.serving;
      expect(server.output()).toMatch(/applied [1-9]\d* migration\(s\)/);
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      // Production logs are JSON lines, one object each.
      for (const line of server.output().trim().split('\n')) expect(() => JSON.parse(line) as unknown).not.toThrow();
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(server.output()).toContain('"msg":"stopped"');
    } finally {
      await db.drop();
    }
  });

  describe('without DATABASE_URL', () => {
    let dataDir: string;
    afterAll(async () => {
      if (dataDir) await rm(dataDir, { recursive: true, force: true });
    });

    it('runs an embedded PostgreSQL whose data survives a restart, and stops it on SIGINT', async () => {
      dataDir = await mkdtemp(path.join(os.tmpdir(), 'warble-start-'));
      await chmod(dataDir, 0o755);
      const env = { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), PORT: '0', LOG_LEVEL: 'info' };

      const first = startServerProcess(env);
      const url = await first.serving;
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      const client = new pg.Client({
        connectionString: embeddedUrl({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: Number(env.EMBEDDED_PG_PORT) }),
      });
      await client.connect();
      await client.query(`insert into users (id, username, password_hash) values (gen_random_uuid(), 'kept', 'x')`);
      await client.end();
      first.child.kill('SIGINT');
      expect(await first.exited).toBe(0);

      const second = startServerProcess(env);
      await second.serving;
      const again = new pg.Client({
        connectionString: embeddedUrl({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: Number(env.EMBEDDED_PG_PORT) }),
      });
      await again.connect();
      const { rows } = await again.query<{ username: string }>('select username from users');
      await again.end();
      expect(rows.map((row) => row.username)).toEqual(['kept']);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
      // The embedded server stopped with us: nothing answers on its port any more.
      await expect(
        new pg.Client({
          connectionString: embeddedUrl({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: Number(env.EMBEDDED_PG_PORT) }),
        }).connect(),
      ).rejects.toThrow();
    });
  });
});

describe('graceful shutdown', () => {
  it('lets a call in flight finish while readiness fails and new work is refused', async () => {
    const db = await createTestDatabase();
    const app = await startTestApp({ databaseUrl: db.url, router: testRouter });
    try {
      const input = encodeURIComponent(JSON.stringify({ ms: 800 }));
      const inFlight = fetch(`${app.url}/trpc/test.slow?input=${input}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const closing = app.app.close();
      const ready = await fetch(`${app.url}/readyz`).then(
        (response) => response.status,
        () => 'refused',
      );
      expect([503, 'refused']).toContain(ready);
      const response = await inFlight;
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ result: { data: { waited: 800 } } });
      await closing;
    } finally {
      await app.orm.close();
      await db.drop();
    }
  });
});
