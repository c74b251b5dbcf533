import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HashQueue } from '../server/auth/hash-queue.ts';
import { ClientGoneError, RetryLaterError } from '../server/limits/retry-later.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { gate } from './helpers/gate.ts';
import { PASSWORD, signup, uniqueUsername } from './helpers/auth.ts';
import { sql } from './helpers/sessions.ts';
import { mutate } from './helpers/trpc.ts';

const from = (address: string) => ({ headers: { 'x-forwarded-for': address } });

describe('the bcrypt line (BCRYPT_QUEUE_MAX)', () => {
  // Unknown users: all ten wait for the one dummy hash (cost 11, a tenth of a second or far more
  // while other test files keep the cores busy), then reach the line together.
  const t = useTestApp({ env: testEnv({ BCRYPT_QUEUE_MAX: '2', BCRYPT_COST: '11', TRUST_PROXY: '127.0.0.1' }) });

  it('lets BCRYPT_QUEUE_MAX hashes wait beyond the busy threads; the rest get SERVICE_UNAVAILABLE with Retry-After', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        mutate(t.url, 'auth.login', { username: uniqueUsername(), password: PASSWORD }, from(`198.51.100.${i + 1}`)),
      ),
    );
    const refused = results.filter((result) => result.status === 503);
    expect(refused).toHaveLength(10 - availableParallelism() - 2);
    for (const result of refused) {
      expect(result.error?.data.code).toBe('SERVICE_UNAVAILABLE');
      expect(Number(result.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    expect(results.filter((result) => result.status === 401)).toHaveLength(availableParallelism() + 2);
  }, 60_000);
});

describe('signups whose caller gives up', () => {
  // Cost 10: about 60 ms a hash on an idle core, far more while other test files run (the bcrypt
  // threads run at nice 19): the line is long when the callers leave either way.
  const t = useTestApp({
    env: testEnv({ BCRYPT_COST: '10', BCRYPT_QUEUE_MAX: '500', SIGNUP_MAX_PER_ADDRESS: '5', TRUST_PROXY: '127.0.0.1' }),
  });
  const users = async () => Number((await sql<{ n: string }>(t.db.url, 'select count(*) n from users'))[0]!.n);

  async function abortedSignups(count: number, address: (i: number) => string) {
    const controller = new AbortController();
    const calls = Array.from({ length: count }, (_, i) =>
      fetch(`${t.url}/trpc/auth.signup`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': address(i) },
        body: JSON.stringify({ username: uniqueUsername(), password: PASSWORD }),
        signal: controller.signal,
      }).catch(() => undefined),
    );
    await sleep(300);
    controller.abort();
    await Promise.all(calls);
    // Give hashes already running time to end (and not be stored).
    await sleep(1500);
  }

  it('from one address create no more accounts than SIGNUP_MAX_PER_ADDRESS allows', async () => {
    const before = await users();
    await abortedSignups(40, () => '203.0.113.80');
    expect((await users()) - before).toBeLessThanOrEqual(5);
  });

  it('from many addresses are dropped from the line, and the next login is served at once', async () => {
    const before = await users();
    await abortedSignups(40, (i) => `2001:db8:${i}::1`);
    // Only hashes that finished while their caller still waited made accounts: a few, not 40.
    expect((await users()) - before).toBeLessThanOrEqual(20);
    const ada = await signup(t.url);
    const login = await mutate(t.url, 'auth.login', { username: ada.username, password: PASSWORD });
    expect(login.status).toBe(200);
  }, 60_000);
});

describe('HashQueue', () => {
  it('drops a waiting hash whose caller has gone: it never runs', async () => {
    const queue = new HashQueue(1, 5);
    const hold = gate();
    const running = queue.run('login', undefined, () => hold.opened);
    const controller = new AbortController();
    let ran = false;
    const gone = queue.run('signup', controller.signal, () => {
      ran = true;
      return Promise.resolve();
    });
    controller.abort();
    await expect(gone).rejects.toBeInstanceOf(ClientGoneError);
    expect(queue.waiting).toBe(0);
    hold.open();
    await running;
    expect(ran).toBe(false);
  });

  it('shares a full line fairly: a login takes the place of the newest signup, and the kinds take turns', async () => {
    const queue = new HashQueue(1, 2);
    const order: string[] = [];
    const hold = gate();
    const hash = (label: string) => async () => {
      order.push(label);
      await hold.opened;
    };
    const first = queue.run('signup', undefined, hash('signup1'));
    const s2 = queue.run('signup', undefined, hash('signup2'));
    const s3 = queue.run('signup', undefined, hash('signup3'));
    // The line is full of signups: one more signup is refused...
    await expect(queue.run('signup', undefined, hash('signup4'))).rejects.toMatchObject({
      code: 'SERVICE_UNAVAILABLE',
    });
    // ...but a login gets a place, and the newest signup is told to come back.
    const login = queue.run('login', undefined, hash('login1'));
    await expect(s3).rejects.toBeInstanceOf(RetryLaterError);
    hold.open();
    await Promise.all([first, s2, login]);
    expect(order).toEqual(['signup1', 'login1', 'signup2']);
  });
});
