// The targets of one run, as lists of requests that the load generators cycle through. Requests
// of Warble's targets rotate over the fixture users, each with that user's own token.
import type { BenchUser, LoginUser } from './fixtures.ts';
import { PAGE_SIZE, trpcPath } from './fixtures.ts';
import type { HttpRequest } from './http-request.ts';

export type ServerName = 'ceiling' | 'peer' | 'warble' | 'warbleBeside' | 'warbleDefaults';

export interface Target {
  id: string;
  label: string;
  server: ServerName;
  requests: HttpRequest[];
  connections: number;
  durationSeconds: number;
  /** Also measured open-loop at fixed rates (logins are not: their rate is the login goal's). */
  openLoop: boolean;
}

export interface TargetOptions {
  connections: number;
  durationSeconds: number;
  loginConnections: number;
}

const bearer = (user: BenchUser) => ({ authorization: `Bearer ${user.accessToken}` });
const JSON_BODY = { 'content-type': 'application/json' };
const get = (path: string, headers: Record<string, string> = {}): HttpRequest => ({ method: 'GET', path, headers });

export function timelineRequests(users: BenchUser[]): HttpRequest[] {
  return users.map((user) => get(trpcPath('posts.timeline', { limit: PAGE_SIZE }), bearer(user)));
}

export function loginRequests(users: LoginUser[]): HttpRequest[] {
  return users.map((user) => ({
    method: 'POST',
    path: '/trpc/auth.login',
    headers: JSON_BODY,
    body: JSON.stringify({ username: user.username, password: user.password }),
  }));
}

export function buildTargets(
  users: BenchUser[],
  loginUsers: LoginUser[],
  deepPages: number,
  options: TargetOptions,
): Target[] {
  const common = { connections: options.connections, durationSeconds: options.durationSeconds, openLoop: true };
  const deepUsers = users.filter((user) => user.deepCursor);
  const targets: Target[] = [
    { ...common, id: 'ceiling', label: 'node:http bare (ceiling)', server: 'ceiling', requests: [get('/trpc/hello')] },
    { ...common, id: 'peer', label: 'tRPC + Fastify hello (peer)', server: 'peer', requests: [get('/trpc/hello')] },
    { ...common, id: 'noop', label: 'Warble bench.noop', server: 'warble', requests: [get(trpcPath('bench.noop'))] },
    {
      ...common,
      id: 'noopAuthed',
      label: 'Warble bench.noopAuthed (bearer)',
      server: 'warble',
      requests: users.map((user) => get(trpcPath('bench.noopAuthed'), bearer(user))),
    },
    { ...common, id: 'timeline', label: 'posts.timeline, page 1', server: 'warble', requests: timelineRequests(users) },
    {
      ...common,
      id: 'timelineBeside',
      label: 'posts.timeline, page 1, app beside the load²',
      server: 'warbleBeside',
      requests: timelineRequests(users),
      openLoop: false,
    },
  ];
  if (deepUsers.length) {
    targets.push({
      ...common,
      id: 'timelineDeep',
      label: `posts.timeline, page ${deepPages + 1} (cursor)`,
      server: 'warble',
      requests: deepUsers.map((user) =>
        get(trpcPath('posts.timeline', { limit: PAGE_SIZE, cursor: user.deepCursor }), bearer(user)),
      ),
    });
  }
  targets.push(
    {
      ...common,
      id: 'profile',
      label: 'users.profile (of another user)',
      server: 'warble',
      // Each viewer looks at the next user's profile, so followedByMe is computed too.
      requests: users.map((user, i) =>
        get(trpcPath('users.profile', { username: users[(i + 1) % users.length]!.username }), bearer(user)),
      ),
    },
    {
      ...common,
      id: 'create',
      label: 'posts.create',
      server: 'warble',
      requests: users.map((user, i) => ({
        method: 'POST',
        path: '/trpc/posts.create',
        headers: { ...JSON_BODY, ...bearer(user) },
        body: JSON.stringify({ body: `Benchmark post ${i + 1} by ${user.username}: load test, please ignore.` }),
      })),
    },
    {
      id: 'login',
      label: 'auth.login (bcrypt cost 12)',
      server: 'warble',
      requests: loginRequests(loginUsers),
      connections: options.loginConnections,
      // Few logins per second: a longer run counts enough of them.
      durationSeconds: options.durationSeconds * 2,
      openLoop: false,
    },
  );
  return targets;
}
