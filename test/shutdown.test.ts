// Graceful shutdown of a real server process: SIGTERM while CPU-heavy logins are in flight. Every
// one of them must finish normally, new connections must be turned away, and the process must
// exit 0 after saying it stopped.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { PASSWORD, signup, uniqueUsername } from './helpers/auth.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { startServerProcess } from './helpers/server-process.ts';
import { mutate } from './helpers/trpc.ts';
import { freshGet } from './helpers/fresh-get.ts';
import { startTestApp, UNLIMITED } from './helpers/app.ts';

const LOGINS = 12;
// Bounds on waiting, far above what any of this takes: they only turn a hang into a clear failure.
const WAIT_MS = 30_000;

function countLines(output: string, pattern: RegExp): number {
  return output.split('\n').filter((line) => pattern.test(line)).length;
}

async function until(what: string, condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('graceful shutdown of the server process', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
  });

  it(
    'finishes every login in flight at SIGTERM, refuses new connections, and exits 0',
    async () => {
      const server = startServerProcess({
        DATABASE_URL: db.url,
        PORT: '0',
        NODE_ENV: 'production',
        JWT_SECRET: randomBytes(32).toString('hex'),
        // The production cost: each login is a quarter of a second of CPU, so they queue up.
        BCRYPT_COST: '12',
        ...UNLIMITED,
      });
      // However the test ends (a timeout included), the process does not outlive it.
      onTestFinished(() => {
        if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
      });
      const url = await server.serving;
      const users = [uniqueUsername(), uniqueUsername(), uniqueUsername()];
      for (const username of users) await signup(url, username);

      const loginArrived = /"url":"\/trpc\/auth\.login".*"msg":"incoming request"/;
      const arrived = () => countLines(server.output(), loginArrived);
      const logins = Array.from({ length: LOGINS }, (_, i) =>
        mutate<{ accessToken: string }>(url, 'auth.login', { username: users[i % users.length], password: PASSWORD }),
      );
      // Awaited below; if the test fails before that, a refused login is not a second, unhandled error.
      for (const login of logins) login.catch(() => {});
      // Signal as soon as the server has every login in hand (its request log says so).
      await until(`${LOGINS} logins to reach the server`, () => arrived() === LOGINS);
      const completedAtSignal = countLines(server.output(), /"msg":"request completed"/) - users.length;
      server.child.kill('SIGTERM');
      // The work the test is about was really in flight when the signal came.
      expect(completedAtSignal).toBeLessThan(LOGINS);

      await until('the server to start shutting down', () => server.output().includes('"msg":"shutting down"'));
      // A new connection is turned away: refused once the listener is closed; reset if it reached the
      // listen queue just before (the kernel drops the queue with the listener); 503 if Fastify saw it.
      expect(['ECONNREFUSED', 'ECONNRESET', 503]).toContain(await freshGet(`${url}/readyz`));

      const results = await Promise.all(logins);
      for (const result of results) {
        expect(result.status, result.text).toBe(200);
        expect(result.data?.accessToken).toEqual(expect.any(String));
      }
      expect(await server.exited).toBe(0);
      expect(server.output()).toContain('"msg":"stopped"');
      expect(server.output()).not.toContain('requests still running after the grace period');
    },
    2 * WAIT_MS,
  );
});

describe('graceful shutdown with connections that never sent a request', () => {
  it('ends them at once instead of waiting for them (Node does not count them as idle)', async () => {
    const db = await createTestDatabase();
    const t = await startTestApp({ databaseUrl: db.url });
    try {
      const { port } = new URL(t.url);
      // (Ended by the server, a socket may see a reset: that is the point, not a failure.)
      const silent = Array.from({ length: 3 }, () => net.connect(Number(port), '127.0.0.1').on('error', () => {}));
      await Promise.all(silent.map((socket) => once(socket, 'connect')));
      const closedSockets = Promise.all(silent.map((socket) => new Promise((resolve) => socket.on('close', resolve))));
      const closing = t.app.close().then(() => 'closed' as const);
      const outcome = await Promise.race([closing, sleep(5000).then(() => 'still waiting' as const)]);
      expect(outcome).toBe('closed');
      await closedSockets;
    } finally {
      await t.orm.close();
      await db.drop();
    }
  });
});
