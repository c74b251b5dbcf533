// The example web app (examples/web) in a real Chromium, on its own origin, against the API on
// another: everything a person does with it, and what a browser must keep from scripts (the
// refresh token) and from other origins (the API). Debian's chromium, driven by playwright-core.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { build, preview, type PreviewServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testEnv, type TestApp } from './helpers/app.ts';
import { login, PASSWORD, signup, uniqueUsername } from './helpers/auth.ts';
import { launchChromium } from './helpers/chromium.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';
import { freePort } from './helpers/free-port.ts';
import { mutate } from './helpers/trpc.ts';

const WEB_ROOT = path.join(import.meta.dirname, '..', 'examples', 'web');
const ACCESS_TOKEN_TTL = 3; // seconds: short, so the test can outlive a token
const PAGE_SIZE = 10; // examples/web/src/api.ts
const SLOW = 60_000; // the CPU is shared with the other test files
const WAIT = { timeout: 15_000 };

/**
 * The example app, built for `apiUrl` and served on 127.0.0.1:<port>: the test opens it as
 * http://localhost:<port> (the listed origin) and as http://127.0.0.1:<port> (an unlisted one).
 * A build, not the dev server: nothing is optimised or reloaded while the test clicks.
 */
async function serveExampleWeb(apiUrl: string, port: number, outDir: string) {
  const common = { root: WEB_ROOT, configFile: path.join(WEB_ROOT, 'vite.config.ts'), logLevel: 'warn' as const };
  const built = await build({
    ...common,
    // Under vitest NODE_ENV is "test", so React's development build goes in (its fuller errors help
    // when this test fails): larger than Vite's 500 kB warning, which is not a concern here.
    build: { outDir, emptyOutDir: true, chunkSizeWarningLimit: 2000 },
    define: { 'import.meta.env.VITE_WARBLE_API': JSON.stringify(apiUrl) },
  });
  const bundled = (Array.isArray(built) ? built : [built]).flatMap((result) =>
    'output' in result ? result.output.flatMap((file) => (file.type === 'chunk' ? file.moduleIds : [])) : [],
  );
  const server = await preview({
    ...common,
    build: { outDir },
    preview: { port, strictPort: true, host: '127.0.0.1' },
  });
  return { server, bundled };
}

let db: TestDatabase;
let api: TestApp;
let outDir: string;
let web: PreviewServer | undefined;
/** Every module in the app's bundle, by path. */
let bundled: string[];
let browser: Browser | undefined;
let context: BrowserContext;
let page: Page;
let webOrigin: string;
let apiOrigin: string;
// What the page asked the API for, procedure by procedure (a batch counts each of its calls).
const calls: { path: string; status: number }[] = [];
const refreshes = () => calls.filter((call) => call.path === 'auth.refresh').length;

const ada = uniqueUsername('ada');
const bob = uniqueUsername('bob');

/** Posts for `username` through the API (a fresh login per few posts: tokens live 3 s here). */
async function seedPosts(username: string, bodies: string[]): Promise<void> {
  for (let start = 0; start < bodies.length; start += 5) {
    const { accessToken } = await login(api.url, username);
    for (const body of bodies.slice(start, start + 5)) {
      const result = await mutate(api.url, 'posts.create', { body }, { token: accessToken });
      expect(result.error).toBeUndefined();
    }
  }
}

const posts = () => page.getByTestId('post');
const alerts = () => page.getByRole('alert');
const signedInAs = () => page.getByTestId('signed-in-as');
const count = (testId: string) => page.getByTestId(testId).textContent();

beforeAll(async () => {
  db = await createTestDatabase();
  const webPort = await freePort();
  webOrigin = `http://localhost:${webPort}`;
  api = await startTestApp({
    databaseUrl: db.url,
    env: testEnv({ CORS_ORIGINS: webOrigin, ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL) }),
  });
  // localhost, like the page: the same site (ports do not count), so the SameSite=Strict cookie travels.
  apiOrigin = `http://localhost:${new URL(api.url).port}`;
  outDir = await mkdtemp(path.join(os.tmpdir(), 'warble-web-'));
  ({ server: web, bundled } = await serveExampleWeb(`${apiOrigin}/trpc`, webPort, outDir));
  browser = await launchChromium();
  context = await browser.newContext();
  page = await context.newPage();
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.origin !== apiOrigin || !url.pathname.startsWith('/trpc/')) return;
    for (const procedure of url.pathname.slice('/trpc/'.length).split(',')) {
      calls.push({ path: procedure, status: response.status() });
    }
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await web?.close();
  await api?.close();
  await db?.drop();
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

describe('the example web app in Chromium', () => {
  it('bundles the SDK from source, with one copy of tRPC, React and TanStack Query', () => {
    // The SDK's source sits beside the server's newer @trpc/*: without Vite's dedupe, the page
    // would carry two @trpc/client copies (and two TRPCClientError classes).
    const copies = (name: string) =>
      new Set(
        bundled
          .filter((id) => id.includes(`/node_modules/${name}/`))
          .map((id) => id.split(`/node_modules/${name}/`)[0]),
      );
    for (const name of ['@trpc/client', '@trpc/server', 'react', 'react-dom', '@tanstack/react-query']) {
      expect([...copies(name)], name).toHaveLength(1);
    }
    expect(bundled.some((id) => id.includes('/client-sdk/src/'))).toBe(true);
  });

  it('signs up and logs in, and the refresh token never reaches JavaScript', { timeout: SLOW }, async () => {
    await page.goto(webOrigin);
    await page.getByLabel('Username').fill(ada);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign up' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: `Account @${ada} created` })
      .waitFor(WAIT);

    // Enough posts for three pages, made before the timeline is first read.
    await seedPosts(
      ada,
      Array.from({ length: 2 * PAGE_SIZE + 4 }, (_, i) => `Seeded post ${i + 1}`),
    );

    const answered = page.waitForResponse((response) => response.url().startsWith(`${apiOrigin}/trpc/auth.login`));
    await page.getByRole('button', { name: 'Log in' }).click();
    const body = (await (await answered).json()) as [
      { result: { data: { accessToken: string; refreshToken: unknown } } },
    ];
    expect(body[0].result.data.refreshToken).toBeNull();
    expect(body[0].result.data.accessToken).toEqual(expect.any(String));
    await signedInAs()
      .filter({ hasText: `@${ada}` })
      .waitFor(WAIT);

    const cookie = (await context.cookies(apiOrigin)).find((candidate) => candidate.name === 'warble_refresh');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    // Cookies are per host, not per port: without HttpOnly, this page would read the API's cookie.
    // Run in the page (a string: this project's types have no DOM).
    const visible = await page.evaluate<{ cookies: string; storage: string }>(
      '({ cookies: document.cookie, storage: JSON.stringify([{ ...localStorage }, { ...sessionStorage }]) })',
    );
    expect(visible.cookies).not.toContain('warble_refresh');
    expect(visible.cookies).not.toContain(cookie!.value);
    expect(visible.storage).not.toContain(cookie!.value);
    expect(visible.storage.toLowerCase()).not.toContain('refresh');
  });

  it('posts, and pages the timeline with "Load more"', { timeout: SLOW }, async () => {
    await page.getByLabel("What's happening?").fill('Hello from Chromium');
    await page.getByRole('button', { name: 'Post', exact: true }).click();
    await expect.poll(() => posts().first().textContent(), WAIT).toContain('Hello from Chromium');

    await expect.poll(() => posts().count(), WAIT).toBe(PAGE_SIZE);
    const more = page.getByRole('button', { name: 'Load more' });
    await more.click();
    await expect.poll(() => posts().count(), WAIT).toBe(2 * PAGE_SIZE);
    await more.click();
    await expect.poll(() => posts().count(), WAIT).toBe(2 * PAGE_SIZE + 5);
    expect(await more.count()).toBe(0); // the last page has no cursor after it
    expect(await posts().last().textContent()).toContain('Seeded post 1');
  });

  it('follows and unfollows a user, whose posts come and go; profiles show counts', { timeout: SLOW }, async () => {
    await signup(api.url, bob);
    await seedPosts(bob, ['Bob was here']);

    await page.getByLabel('Find a user').fill(bob);
    await page.getByLabel('Find a user').press('Enter');
    await page.getByRole('region', { name: `Profile of @${bob}` }).waitFor(WAIT);
    expect(await count('posts-count')).toBe('1');
    expect(await count('followers-count')).toBe('0');
    await page.getByRole('button', { name: 'Follow', exact: true }).click();
    await expect.poll(() => count('followers-count'), WAIT).toBe('1');

    await page.getByRole('link', { name: 'Warble' }).click();
    await expect.poll(() => posts().first().textContent(), WAIT).toContain('Bob was here');

    await signedInAs().click();
    await page.getByRole('region', { name: `Profile of @${ada}` }).waitFor(WAIT);
    expect(await count('posts-count')).toBe(String(2 * PAGE_SIZE + 5));
    expect(await count('following-count')).toBe('1');
    expect(await page.getByRole('button', { name: 'Follow', exact: true }).count()).toBe(0); // not oneself

    await page.getByLabel('Find a user').fill(bob);
    await page.getByLabel('Find a user').press('Enter');
    await page.getByRole('button', { name: 'Unfollow' }).click();
    await expect.poll(() => count('followers-count'), WAIT).toBe('0');
    await page.getByRole('link', { name: 'Warble' }).click();
    await expect.poll(() => posts().first().textContent(), WAIT).toContain('Hello from Chromium');
    expect(await page.getByText('Bob was here').count()).toBe(0);
  });

  it('deletes its own post', { timeout: SLOW }, async () => {
    await page.getByRole('button', { name: 'Delete post: Hello from Chromium' }).click();
    await expect.poll(() => page.getByText('Hello from Chromium').count(), WAIT).toBe(0);
    await expect.poll(() => posts().first().textContent(), WAIT).toContain(`Seeded post ${2 * PAGE_SIZE + 4}`);
    expect(await alerts().count()).toBe(0);
  });

  it(
    'shows a followed user’s new post live, and takes it away when deleted, without a reload',
    { timeout: SLOW },
    async () => {
      await expect.poll(() => page.getByTestId('live-status').textContent(), WAIT).toBe('Live');
      // Ada follows Bob again, from another device: the open stream counts it at once.
      const adaElsewhere = await login(api.url, ada);
      expect(
        (await mutate(api.url, 'users.follow', { username: bob }, { token: adaElsewhere.accessToken })).error,
      ).toBeUndefined();
      await page.evaluate('window.sameDocument = true'); // gone if the page reloads
      // The refetches of the steps before (a delete refetches every page) have all been answered.
      const timelineReads = () => calls.filter((call) => call.path === 'posts.timeline').length;
      for (let seen = -1; seen !== timelineReads(); await sleep(500)) seen = timelineReads();
      const before = timelineReads();

      const created = await mutate<{ id: string }>(
        api.url,
        'posts.create',
        { body: 'Bob, live' },
        { token: (await login(api.url, bob)).accessToken },
      );
      expect(created.error).toBeUndefined();
      await expect.poll(() => posts().first().textContent(), WAIT).toContain('Bob, live');
      const removed = await mutate(
        api.url,
        'posts.delete',
        { id: created.data!.id },
        { token: (await login(api.url, bob)).accessToken },
      );
      expect(removed.error).toBeUndefined();
      await expect.poll(() => page.getByText('Bob, live').count(), WAIT).toBe(0);

      expect(await page.evaluate('window.sameDocument')).toBe(true);
      // Through the stream: the page did not read its timeline again.
      expect(timelineReads()).toBe(before);
      expect(await alerts().count()).toBe(0);
    },
  );

  it('is still signed in after a reload: the cookie brings the session back', { timeout: SLOW }, async () => {
    const before = refreshes();
    await page.reload();
    await signedInAs()
      .filter({ hasText: `@${ada}` })
      .waitFor(WAIT);
    await expect.poll(() => posts().count(), WAIT).toBe(PAGE_SIZE);
    // The page kept no token: it asked the API for a new one, with the cookie.
    expect(refreshes()).toBeGreaterThan(before);
    expect(await page.getByRole('button', { name: 'Log in' }).count()).toBe(0);
  });

  it('refreshes an expired access token without the user noticing', { timeout: SLOW }, async () => {
    const before = calls.length;
    await sleep((ACCESS_TOKEN_TTL + 1.5) * 1000);
    await page.getByLabel("What's happening?").fill('Written after the token expired');
    await page.getByRole('button', { name: 'Post', exact: true }).click();
    await expect.poll(() => posts().first().textContent(), WAIT).toContain('Written after the token expired');
    expect(await alerts().count()).toBe(0);
    const since = calls.slice(before);
    // The token ran out during the wait and was renewed with the cookie: by the live timeline's
    // stream, which the server ends at expiry (then the post went through at once), or by the
    // post's own first try, refused and retried once.
    expect([[200], [401, 200]]).toContainEqual(
      since.filter((call) => call.path === 'posts.create').map((call) => call.status),
    );
    const refreshStatuses = since.filter((call) => call.path === 'auth.refresh').map((call) => call.status);
    expect(refreshStatuses.length).toBeGreaterThan(0);
    expect(refreshStatuses.every((status) => status === 200)).toBe(true);
    expect(since.some((call) => call.path === 'auth.login')).toBe(false);
  });

  it('logs out, and a reload stays logged out', { timeout: SLOW }, async () => {
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByRole('button', { name: 'Log in' }).waitFor(WAIT);
    expect((await context.cookies(apiOrigin)).map((cookie) => cookie.name)).not.toContain('warble_refresh');

    const before = calls.length;
    await page.reload();
    await page.getByRole('button', { name: 'Log in' }).waitFor(WAIT);
    expect(await signedInAs().count()).toBe(0);
    expect(await alerts().count()).toBe(0); // signed out is not an error
    // The reload did try the cookie, and was refused.
    expect(calls.slice(before).filter((call) => call.path === 'auth.refresh')).toEqual([
      { path: 'auth.refresh', status: 401 },
    ]);
  });

  it('is refused from an origin that CORS_ORIGINS does not list', { timeout: SLOW }, async () => {
    const stranger = await browser!.newContext();
    try {
      const other = await stranger.newPage();
      const messages: string[] = [];
      other.on('console', (message) => messages.push(message.text()));
      // The same app, from http://127.0.0.1:<port>: another origin, and not a listed one.
      await other.goto(webOrigin.replace('localhost', '127.0.0.1'));
      await other.getByLabel('Username').fill(ada);
      await other.getByLabel('Password').fill(PASSWORD);
      await other.getByRole('button', { name: 'Log in' }).click();
      // The form's own error, not only the page's note that the API cannot be reached.
      const form = other.getByRole('form', { name: 'Account' });
      await form.getByRole('alert').filter({ hasText: 'Cannot reach the Warble API' }).waitFor(WAIT);
      expect(await other.getByTestId('signed-in-as').count()).toBe(0);
      expect(messages.join('\n')).toMatch(/blocked by CORS policy/);
      expect(await stranger.cookies(apiOrigin)).toEqual([]);
    } finally {
      await stranger.close();
    }
  });
});
