// The requests of the REST phase (bench/lib/rest.ts): each hot procedure as a pair, the same calls
// over /trpc and over /api, rotating over the fixture users' tokens as the main targets do
// (targets.ts); and one call of each pair both ways before any load, to check that both transports
// give the same answer (else the comparison would not be of the same work).
import { PAGE_SIZE, trpcPath, type BenchUser } from './fixtures.ts';
import type { HttpRequest } from './http-request.ts';
import type { CheckedSchema } from './rest-checks.ts';

/** The largest page a list procedure gives (pagination/cursor.ts): the heaviest answer to check. */
export const BIG_PAGE = 100;

export type Transport = 'trpc' | 'rest';

export interface Pair {
  id: string;
  label: string;
  /** What each transport sends, for the report (`/trpc/posts.timeline?input=…`, `GET /api/timeline?limit=20`). */
  routes: Record<Transport, string>;
  requests: Record<Transport, HttpRequest[]>;
  /** The output schema of the procedure (timed in the server). */
  schema: CheckedSchema;
}

const bearer = (user: BenchUser) => ({ authorization: `Bearer ${user.accessToken}` });
const JSON_BODY = { 'content-type': 'application/json' };
const get = (path: string, headers: Record<string, string> = {}): HttpRequest => ({ method: 'GET', path, headers });
const post = (path: string, body: unknown, headers: Record<string, string>): HttpRequest => ({
  method: 'POST',
  path,
  headers: { ...JSON_BODY, ...headers },
  body: JSON.stringify(body),
});

export function buildPairs(users: BenchUser[], postIds: string[]): Pair[] {
  const timeline = (limit: number): Pair => ({
    id: limit === PAGE_SIZE ? 'timeline' : `timeline${limit}`,
    schema: 'PostPage',
    label: `posts.timeline, limit ${limit}`,
    routes: { trpc: `GET /trpc/posts.timeline?input={"limit":${limit}}`, rest: `GET /api/timeline?limit=${limit}` },
    requests: {
      trpc: users.map((user) => get(trpcPath('posts.timeline', { limit }), bearer(user))),
      rest: users.map((user) => get(`/api/timeline?limit=${limit}`, bearer(user))),
    },
  });
  // Each viewer looks at the next user's profile, so followedByMe is computed too (as in the main table).
  const profileOf = (i: number) => users[(i + 1) % users.length]!.username;
  const createBody = (user: BenchUser, i: number) => ({
    body: `Benchmark post ${i + 1} by ${user.username}: load test, please ignore.`,
  });
  return [
    timeline(PAGE_SIZE),
    timeline(BIG_PAGE),
    {
      id: 'profile',
      schema: 'Profile',
      label: 'users.profile (of another user)',
      routes: { trpc: 'GET /trpc/users.profile?input=…', rest: 'GET /api/users/{username}' },
      requests: {
        trpc: users.map((user, i) => get(trpcPath('users.profile', { username: profileOf(i) }), bearer(user))),
        rest: users.map((user, i) => get(`/api/users/${encodeURIComponent(profileOf(i))}`, bearer(user))),
      },
    },
    {
      id: 'byId',
      schema: 'Post',
      label: 'posts.byId (anonymous)',
      routes: { trpc: 'GET /trpc/posts.byId?input=…', rest: 'GET /api/posts/{id}' },
      requests: {
        trpc: postIds.map((id) => get(trpcPath('posts.byId', { id }))),
        rest: postIds.map((id) => get(`/api/posts/${id}`)),
      },
    },
    {
      id: 'create',
      schema: 'Post',
      label: 'posts.create',
      routes: { trpc: 'POST /trpc/posts.create', rest: 'POST /api/posts' },
      requests: {
        trpc: users.map((user, i) => post('/trpc/posts.create', createBody(user, i), bearer(user))),
        rest: users.map((user, i) => post('/api/posts', createBody(user, i), bearer(user))),
      },
    },
  ];
}

/** Sends `request` once; the answer's JSON (tRPC's `result.data` unwrapped), or an error naming the route. */
async function send(origin: string, request: HttpRequest): Promise<unknown> {
  const response = await fetch(`${origin}${request.path}`, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  const payload = (await response.json()) as { result?: { data: unknown } };
  if (!response.ok) throw new Error(`${request.method} ${request.path} answered ${response.status}`);
  return request.path.startsWith('/trpc/') ? payload.result?.data : payload;
}

/** What a post-like answer looks like without the values that differ per call (a new post's id, time). */
const shapeOf = (value: unknown): unknown =>
  value && typeof value === 'object' && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, shapeOf(inner)]))
    : typeof value;

/**
 * One call of each pair both ways, before any load: the two transports must give the same answer
 * (else the comparison would not be of the same work). These answers are the ones step 2 checks.
 */
export async function sampleAnswers(origin: string, pairs: Pair[]): Promise<Map<string, unknown>> {
  const answers = new Map<string, unknown>();
  for (const pair of pairs) {
    const trpc = await send(origin, pair.requests.trpc[0]!);
    const rest = await send(origin, pair.requests.rest[0]!);
    const same =
      pair.id === 'create'
        ? JSON.stringify(shapeOf(trpc)) === JSON.stringify(shapeOf(rest))
        : JSON.stringify(trpc) === JSON.stringify(rest);
    if (!same) throw new Error(`${pair.label}: REST and tRPC answered differently`);
    answers.set(pair.id, trpc);
  }
  return answers;
}

/** The newest post of each user's timeline: real posts, by real authors, for posts.byId. */
export async function newestPosts(origin: string, users: BenchUser[]): Promise<string[]> {
  const ids: string[] = [];
  for (const user of users) {
    const page = (await send(origin, get(trpcPath('posts.timeline', { limit: 1 }), bearer(user)))) as {
      items: { id: string }[];
    };
    if (page.items[0]) ids.push(page.items[0].id);
  }
  if (ids.length === 0) throw new Error('no posts in the fixture users’ timelines');
  return ids;
}
