// Operations that race each other leave the state a user would expect.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { testEnv, useTestApp } from './helpers/app.ts';
import { login, signup } from './helpers/auth.ts';
import { createPost, deletePost, follow, idsOf, readAllPages, signedInUser, timeline } from './helpers/social.ts';
import { mutate, query } from './helpers/trpc.ts';

describe('races', () => {
  const t = useTestApp();

  it('logout racing refresh leaves no live token', async () => {
    for (let round = 0; round < 10; round++) {
      const user = await signup(t.url);
      const tokens = await login(t.url, user.username);
      const [refreshed] = await Promise.all([
        mutate<{ accessToken: string; refreshToken: string }>(t.url, 'auth.refresh', {
          refreshToken: tokens.refreshToken,
        }),
        mutate(t.url, 'auth.logout', { refreshToken: tokens.refreshToken }),
      ]);
      // Whichever won, the session is over: nothing issued before or during the race still works.
      expect((await query(t.url, 'auth.me', undefined, { token: tokens.accessToken })).status).toBe(401);
      if (refreshed.data) {
        expect((await query(t.url, 'auth.me', undefined, { token: refreshed.data.accessToken })).status).toBe(401);
        const again = await mutate(t.url, 'auth.refresh', { refreshToken: refreshed.data.refreshToken });
        expect(again.status).toBe(401);
      }
    }
  });

  it('deletes during a paged timeline read never duplicate or skip the posts that stay', async () => {
    const author = await signedInUser(t.url);
    const reader = await signedInUser(t.url);
    await follow(t.url, reader.token, author.username);
    const posts = [];
    for (let i = 0; i < 40; i++) posts.push(await createPost(t.url, author.token, `post ${i}`));

    const doomed = new Set(posts.filter((_, i) => i % 3 === 0).map((post) => post.id));
    let deletes: Promise<unknown> | undefined;
    const pages = await readAllPages(async (cursor) => {
      // Start deleting after the first page, while the rest is being read.
      deletes ??= cursor ? Promise.all([...doomed].map((id) => deletePost(t.url, id, author.token))) : undefined;
      return timeline(t.url, reader.token, { limit: 7, ...(cursor ? { cursor } : {}) });
    });
    await deletes;
    const seen = pages.flatMap((page) => idsOf(page.items));
    expect(new Set(seen).size).toBe(seen.length); // no duplicates
    const kept = posts.filter((post) => !doomed.has(post.id)).map((post) => post.id);
    for (const id of kept) expect(seen).toContain(id); // nothing that stays is skipped
  });
});

describe('slow and silent connections', () => {
  const t = useTestApp({ env: testEnv({ REQUEST_TIMEOUT_MS: '1000' }) });

  /** Opens a raw connection, writes `data`, and resolves when the server closes it (or after 15 s). */
  const closedByServer = (data: string) =>
    new Promise<boolean>((resolve) => {
      const { port } = new URL(t.url);
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(data));
      const giveUp = setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 15_000);
      socket.on('error', () => {});
      socket.on('close', () => {
        clearTimeout(giveUp);
        resolve(true);
      });
      socket.resume();
    });

  it('closes a connection whose headers never finish', async () => {
    expect(await closedByServer('GET /healthz HTTP/1.1\r\nHost: warble\r\nX-Slow: ')).toBe(true);
  });

  it('closes a connection that sends nothing', async () => {
    expect(await closedByServer('')).toBe(true);
  });
});
