import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FairShare } from '../server/limits/fair-share.ts';
import { RetryLaterError } from '../server/limits/retry-later.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import { gate } from './helpers/gate.ts';
import { signupAndLogin } from './helpers/auth.ts';
import { sql } from './helpers/sessions.ts';
import { query } from './helpers/trpc.ts';

describe('one client flooding heavy reads', () => {
  // The budget is off, so only the fair share stands between the flood and the pool. A short pool
  // wait makes starvation show quickly as 503s (it did: 5 of 10 bystander calls before this fix).
  const t = useTestApp({
    env: testEnv({ TRUST_PROXY: '127.0.0.1', DATABASE_POOL_MAX: '10', DATABASE_CONNECT_TIMEOUT_MS: '1000' }),
  });

  it('sheds the flood, and other clients’ calls keep answering 200', async () => {
    const author = await signupAndLogin(t.url);
    await sql(
      t.db.url,
      `insert into posts (id, author_id, body, created_at)
       select gen_random_uuid(), $1, 'post ' || n, now() - n * interval '1 second' from generate_series(1, 150) n`,
      [author.user.id],
    );
    const reader = await signupAndLogin(t.url);

    // 100 parallel GETs from one address, each a batch of 50 pages of 100 posts.
    const paths = Array.from({ length: 50 }, () => 'posts.byUser').join(',');
    const input = Object.fromEntries(
      Array.from({ length: 50 }, (_, i) => [i, { username: author.user.username, limit: 100 }]),
    );
    const url = `${t.url}/trpc/${paths}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`;
    const flood = Promise.all(
      Array.from({ length: 100 }, () =>
        fetch(url, { headers: { 'x-forwarded-for': '203.0.113.66' } }).then(async (response) => ({
          status: response.status,
          retryAfter: response.headers.get('retry-after'),
          body: await response.text(),
        })),
      ),
    );

    // Meanwhile: a signed-in reader and an anonymous visitor from another address.
    await sleep(50);
    const bystanders: number[] = [];
    for (let i = 0; i < 10; i++) {
      const [timeline, profile] = await Promise.all([
        query(t.url, 'posts.timeline', { limit: 20 }, { token: reader.tokens.accessToken }),
        query(
          t.url,
          'users.profile',
          { username: author.user.username },
          { headers: { 'x-forwarded-for': '198.51.100.7' } },
        ),
      ]);
      bystanders.push(timeline.status, profile.status);
    }
    const flooded = await flood;

    expect(bystanders).toEqual(Array(20).fill(200));
    // The flood itself was shed, with Retry-After, not served into everyone else's timeouts.
    const shed = flooded.filter((response) => response.body.includes('SERVICE_UNAVAILABLE'));
    expect(shed.length).toBeGreaterThan(0);
    expect(shed.every((response) => Number(response.retryAfter) >= 1)).toBe(true);
    expect(flooded.some((response) => response.status === 200)).toBe(true);
  });
});

describe('FairShare', () => {
  it('gives a lone client the whole capacity, then makes it take turns with a newcomer', async () => {
    const share = new FairShare({ capacity: 4, perClient: 1, maxWaiting: 10 });
    const started: string[] = [];
    const hold = gate();
    const call = (key: string, label: string) =>
      share.run(key, undefined, async () => {
        started.push(label);
        await hold.opened;
      });
    const calls = [1, 2, 3, 4, 5, 6].map((n) => call('flood', `flood${n}`));
    await sleep(0);
    expect(started).toEqual(['flood1', 'flood2', 'flood3', 'flood4']);
    // Over capacity, a newcomer still gets its guaranteed share at once, ahead of the waiting flood.
    const newcomer = call('bystander', 'bystander1');
    await sleep(0);
    expect(started.at(-1)).toBe('bystander1');
    hold.open();
    await Promise.all([...calls, newcomer]);
    expect(started).toHaveLength(7);
    expect(share.clients).toBe(0);
  });

  it('refuses a client beyond its waiting calls with SERVICE_UNAVAILABLE and Retry-After', async () => {
    const share = new FairShare({ capacity: 1, perClient: 1, maxWaiting: 2 });
    const hold = gate();
    const running = [1, 2, 3].map(() => share.run('flood', undefined, () => hold.opened));
    const refused = share.run('flood', undefined, () => hold.opened);
    await expect(refused).rejects.toBeInstanceOf(RetryLaterError);
    await expect(refused).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 });
    hold.open();
    await Promise.all(running);
  });

  it('turns a whole request away at the door when its calls would overflow the client’s line', async () => {
    const share = new FairShare({ capacity: 1, perClient: 1, maxWaiting: 3 });
    const hold = gate();
    expect(share.refusal('flood', 50)).toBeUndefined(); // nothing waits yet: let it in
    const calls = [1, 2, 3].map(() => share.run('flood', undefined, () => hold.opened));
    await sleep(0);
    expect(share.refusal('flood', 2)).toMatchObject({ code: 'SERVICE_UNAVAILABLE', retryAfterSeconds: 1 });
    expect(share.refusal('flood', 1)).toBeUndefined();
    expect(share.refusal('someone else', 50)).toBeUndefined();
    hold.open();
    await Promise.all(calls);
  });

  it('drops a waiting call whose caller has gone, without running it', async () => {
    const share = new FairShare({ capacity: 1, perClient: 1, maxWaiting: 5 });
    const hold = gate();
    const first = share.run('client', undefined, () => hold.opened);
    const controller = new AbortController();
    let ran = false;
    const gone = share.run('client', controller.signal, () => {
      ran = true;
      return Promise.resolve();
    });
    controller.abort();
    hold.open();
    await first;
    await expect(gone).rejects.toThrow('disconnected');
    expect(ran).toBe(false);
  });
});
