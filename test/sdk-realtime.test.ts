// The SDK's live timeline against a real server, with 2 s access tokens: a subscription that
// outlives several tokens without its caller noticing (each expiry: one refresh, then a resume from
// the last event id), and the ways it must end instead of looping: a refused refresh, a token
// refused again right after a refresh, an unknown lastEventId, and the caller unsubscribing.
import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  createWarbleClient,
  isWarbleError,
  memoryTokenStore,
  warbleErrorCode,
  type RouterOutputs,
  type TokenStore,
  type Tokens,
  type WarbleClient,
} from '../client-sdk/src/index.ts';
import { startTestApp, testEnv, useTestApp } from './helpers/app.ts';
import { login, PASSWORD, signup } from './helpers/auth.ts';
import { createPost, deletePost, succeeded } from './helpers/social.ts';
import { isIncreasing } from './helpers/sse.ts';

type TimelineEvent = RouterOutputs['posts']['onTimeline'] extends AsyncIterable<infer E> ? E : never;

const WAIT_MS = 10_000;
// Time to see that something which must not happen (a reconnect, a refresh) does not.
const QUIET_MS = 1_500;

/** Polls `condition` until it holds; fails with `what` after WAIT_MS. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface SentRequest {
  path: string;
  input: unknown;
  headers: Headers;
  credentials: RequestInit['credentials'];
}

/** The real fetch, recording every request the SDK makes: calls, refreshes and SSE connections. */
function recordingFetch() {
  const requests: SentRequest[] = [];
  const record: typeof fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const raw = url.searchParams.get('input');
    for (const path of decodeURIComponent(url.pathname.split('/trpc/')[1] ?? '').split(',')) {
      const headers = new Headers(init?.headers);
      requests.push({ path, input: raw ? JSON.parse(raw) : undefined, headers, credentials: init?.credentials });
    }
    return fetch(input, init);
  };
  return { fetch: record, requests, count: (path: string) => requests.filter((r) => r.path === path).length };
}

/** A new user, logged in through the SDK (with a recording fetch). */
async function sdkUser(url: string, tokens: TokenStore = memoryTokenStore(), refreshCookie = false) {
  const user = await signup(url);
  const recorder = recordingFetch();
  const client = createWarbleClient({ url: `${url}/trpc`, tokens, fetch: recorder.fetch, refreshCookie });
  await client.auth.login.mutate({ username: user.username, password: PASSWORD });
  return { user, client, tokens, ...recorder };
}

/** Another user who posts over plain HTTP, logging in again before each 2 s token runs out. */
async function poster(url: string) {
  const user = await signup(url);
  let token = '';
  let since = 0;
  const fresh = async () => {
    if (Date.now() - since > 1000) [token, since] = [(await login(url, user.username)).accessToken, Date.now()];
    return token;
  };
  return {
    user,
    post: async (body: string) => createPost(url, await fresh(), body),
    remove: async (id: string) => succeeded(await deletePost(url, id, await fresh())),
  };
}

/**
 * A TCP relay on a port of its own, in front of one of two servers: the client keeps one URL while
 * the process behind it changes, as behind a load balancer. Closed when the test ends.
 */
async function relay(targetUrl: string) {
  let target = Number(new URL(targetUrl).port);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.once('error', () => {}); // a reset on one side closes the other: nothing to report
    }
    client.pipe(upstream).pipe(client);
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** New connections go to `url`'s server; open ones stay where they are. */
    switchTo: (url: string) => void (target = Number(new URL(url).port)),
  };
}

/** Subscribes to the live timeline; unsubscribed when the test ends. */
function live(client: WarbleClient) {
  const events: TimelineEvent[] = [];
  const errors: unknown[] = [];
  let started = 0;
  const subscription = client.posts.onTimeline.subscribe(
    {},
    {
      onStarted: () => started++,
      onData: (event) => events.push(event),
      onError: (error) => errors.push(error),
    },
  );
  onTestFinished(() => subscription.unsubscribe());
  const postIds = () => events.flatMap((event) => (event.data.type === 'post' ? [event.data.post.id] : []));
  return { events, errors, postIds, started: () => started, unsubscribe: () => subscription.unsubscribe() };
}

describe('client.posts.onTimeline with 2 s access tokens', () => {
  // JWT times are whole seconds, so a token lives 1 to 2 s here: a 10 s stream outlives several.
  const t = useTestApp({ env: testEnv({ ACCESS_TOKEN_TTL: '2' }) });

  it('receives every event once, in order, for 10 s, through several refreshes and resumes', async () => {
    const author = await poster(t.url);
    const reader = await sdkUser(t.url);
    await reader.client.users.follow.mutate({ username: author.user.username });
    const stream = live(reader.client);
    await waitFor('the stream to start', () => stream.started() > 0);
    const warmUp = await author.post('warm-up');
    await waitFor('the warm-up post', () => stream.postIds().includes(warmUp.id));

    // A post every 300 ms for 10 s, through plain HTTP, while the reader's tokens expire.
    const created = [warmUp.id];
    for (const end = Date.now() + 10_000; Date.now() < end; await sleep(300)) {
      created.push((await author.post(`post ${created.length}`)).id);
    }
    const deleted = await author.remove(created[1]!);
    await waitFor('every post and the delete', () =>
      stream.events.some((event) => event.data.type === 'delete' && event.data.id === deleted.id),
    );

    expect(stream.errors).toEqual([]);
    expect(stream.postIds()).toEqual(created); // each once, in the order they were written
    expect(stream.events.at(-1)?.data).toEqual({ type: 'delete', id: created[1] });
    const ids = stream.events.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(isIncreasing(ids)).toBe(true);

    // The stream outlived its tokens: a refresh each time, and a new connection that resumed.
    expect(reader.count('auth.refresh')).toBeGreaterThanOrEqual(2);
    const connections = reader.requests.filter((request) => request.path === 'posts.onTimeline');
    expect(connections.length).toBeGreaterThanOrEqual(3);
    for (const connection of connections) expect(connection.headers.get('authorization')).toMatch(/^Bearer \S+$/);
    // Each reconnection asked for the events after one it had delivered (a reconnection before
    // the first event, if the first token ran out that soon, has none to give).
    const resumedFrom = connections.flatMap(
      (connection) => (connection.input as { lastEventId?: string }).lastEventId ?? [],
    );
    expect(resumedFrom.length).toBeGreaterThanOrEqual(2);
    for (const id of resumedFrom) expect(ids).toContain(id);
    expect(new Set(connections.map((connection) => connection.headers.get('authorization'))).size).toBe(
      connections.length,
    );
  }, 30_000);

  it('resumes on another process, missing and repeating nothing, when its server shuts down', async () => {
    // A second process on the same database; the client reaches it through the relay.
    const other = await startTestApp({ databaseUrl: t.db.url, env: t.env });
    let otherClosed = false;
    onTestFinished(async () => void (otherClosed || (await other.close())));
    const front = await relay(other.url);
    const author = await poster(t.url);
    const reader = await sdkUser(front.url);
    await reader.client.users.follow.mutate({ username: author.user.username });
    const stream = live(reader.client);
    await waitFor('the stream to start', () => stream.started() > 0);
    const before = await author.post('before the shutdown');
    await waitFor('the first post', () => stream.postIds().includes(before.id));

    // The process goes away (its streams end with SERVICE_UNAVAILABLE); the relay now leads to the
    // other one, and posts keep coming meanwhile.
    front.switchTo(t.url);
    await other.close();
    otherClosed = true;
    const during = [await author.post('while reconnecting'), await author.post('still reconnecting')];
    await waitFor('the posts made meanwhile', () => during.every((post) => stream.postIds().includes(post.id)));

    expect(stream.errors).toEqual([]);
    expect(stream.postIds()).toEqual([before.id, ...during.map((post) => post.id)]);
    // The new connection asked for what came after the last event it had (as the EventSource's
    // Last-Event-ID, or as input after a refresh, if the token expired in between).
    const lastBefore = stream.events[0]!.id;
    const resumed = reader.requests
      .filter((request) => request.path === 'posts.onTimeline')
      .slice(1)
      .map(
        (request) => request.headers.get('last-event-id') ?? (request.input as { lastEventId?: string }).lastEventId,
      );
    expect(resumed).toContain(lastBefore);
  }, 20_000);

  it('stops when unsubscribed: the server sees the connection close, and nothing more arrives', async () => {
    const reader = await sdkUser(t.url);
    // The server's own view of the stream's HTTP requests: opened, and closed.
    let [opened, closed] = [0, 0];
    const watch = (request: IncomingMessage, response: ServerResponse) => {
      if (!request.url?.startsWith('/trpc/posts.onTimeline')) return;
      opened++;
      response.once('close', () => closed++);
    };
    t.app.server.on('request', watch);
    onTestFinished(() => void t.app.server.off('request', watch));

    const stream = live(reader.client);
    await waitFor('the stream to start', () => stream.started() > 0);
    const first = await reader.client.posts.create.mutate({ body: 'seen live' });
    await waitFor('the first post', () => stream.postIds().includes(first.id));
    expect([opened, closed]).toEqual([1, 0]);

    stream.unsubscribe();
    await waitFor('the server to see the stream close', () => closed === 1);
    await reader.client.posts.create.mutate({ body: 'after unsubscribing' });
    await sleep(QUIET_MS);
    expect(stream.postIds()).toEqual([first.id]);
    expect([opened, closed]).toEqual([1, 1]);
    expect(reader.count('posts.onTimeline')).toBe(1);
    expect(stream.errors).toEqual([]);
  });

  it('ends with UNAUTHORIZED, once, when the session is revoked and the refresh refused', async () => {
    const reader = await sdkUser(t.url);
    const stream = live(reader.client);
    await waitFor('the stream to start', () => stream.started() > 0);

    // Another device ends every session of this user: the refresh token dies with them.
    const other = createWarbleClient({ url: `${t.url}/trpc` });
    await other.auth.login.mutate({ username: reader.user.username, password: PASSWORD });
    await other.auth.logoutAll.mutate();

    await waitFor('the stream to fail', () => stream.errors.length > 0);
    expect(stream.errors.map(warbleErrorCode)).toEqual(['UNAUTHORIZED']);
    expect(await reader.tokens.get()).toBeNull();
    await sleep(QUIET_MS);
    expect(stream.errors).toHaveLength(1);
    expect(reader.count('auth.refresh')).toBe(1);
    expect(reader.count('posts.onTimeline')).toBe(1);
  });

  it('does not loop when the server refuses the token again right after a refresh', async () => {
    // A store that always hands out a token the server refuses, whatever the refresh brings: the
    // refresh succeeds, and the new connection is refused at once all the same.
    let held: Tokens | null = null;
    const stuck: TokenStore = {
      get: () => held && { ...held, accessToken: 'refused-every-time' },
      set: (tokens) => void (held = tokens),
    };
    const reader = await sdkUser(t.url, stuck);
    const stream = live(reader.client);

    await waitFor('the stream to fail', () => stream.errors.length > 0);
    expect(stream.errors.map(warbleErrorCode)).toEqual(['UNAUTHORIZED']);
    await sleep(QUIET_MS);
    expect(stream.errors).toHaveLength(1);
    expect(reader.count('auth.refresh')).toBe(1);
    expect(reader.count('posts.onTimeline')).toBe(2); // the first try and the one after the refresh
    expect(held).not.toBeNull(); // the refresh itself was fine: the session lives on
  });

  it('passes BAD_REQUEST on for an unknown lastEventId (reload the timeline), without retrying', async () => {
    const reader = await sdkUser(t.url);
    const errors: unknown[] = [];
    const subscription = reader.client.posts.onTimeline.subscribe(
      { lastEventId: 'no-such-event' },
      { onError: (error) => errors.push(error) },
    );
    onTestFinished(() => subscription.unsubscribe());
    await waitFor('the refusal', () => errors.length > 0);
    expect(errors.map(warbleErrorCode)).toEqual(['BAD_REQUEST']);
    expect(reader.count('posts.onTimeline')).toBe(1);
    expect(reader.count('auth.refresh')).toBe(0);
  });

  it('in cookie mode, connects with credentials included, like every other call of a browser page', async () => {
    const reader = await sdkUser(t.url, memoryTokenStore(), true);
    const stream = live(reader.client);
    await waitFor('the stream to start', () => stream.started() > 0);
    const [connection] = reader.requests.filter((request) => request.path === 'posts.onTimeline');
    expect(connection?.credentials).toBe('include');
    expect(connection?.headers.get('authorization')).toBe(`Bearer ${(await reader.tokens.get())?.accessToken}`);
    expect(stream.errors).toEqual([]);
  });
});

describe('client.posts.onTimeline refused before tRPC runs', () => {
  // A budget of a few calls a minute: the API's rate limit answers a plain JSON 429, not an event stream.
  const t = useTestApp({ env: testEnv({ RATE_LIMIT_CALLS_PER_MINUTE: '4' }) });

  it('reaches onError as a typed TOO_MANY_REQUESTS with retryAfter, and is not retried', async () => {
    const reader = await sdkUser(t.url);
    const streams: ReturnType<typeof live>[] = [];
    while (!streams.some((stream) => stream.errors.length > 0)) {
      expect(streams.length).toBeLessThan(5);
      const stream = live(reader.client);
      streams.push(stream);
      await waitFor('the stream to start or fail', () => stream.started() > 0 || stream.errors.length > 0);
    }
    const [refused] = streams.flatMap((stream) => stream.errors);
    expect(warbleErrorCode(refused)).toBe('TOO_MANY_REQUESTS');
    expect(isWarbleError(refused) && refused.data?.retryAfter).toBeGreaterThan(0);
    const connections = reader.count('posts.onTimeline');
    await sleep(QUIET_MS);
    expect(reader.count('posts.onTimeline')).toBe(connections);
  });
});
