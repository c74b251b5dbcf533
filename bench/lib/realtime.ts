// The realtime phase (issue #14): what open posts.onTimeline streams cost a Warble process.
//   1. memory per idle stream: RSS after a full GC at 0, 1,000 and 5,000 streams, beside the same
//      on node:http alone (the ceiling) and on a bare tRPC + Fastify subscription (the peer);
//   2. fan-out latency: an author followed by 1,000 subscribers posts; from posts.create returning
//      to the event arriving at each subscriber;
//   3. posts.create throughput (autocannon, as in the closed loop) with those 1,000 streams open
//      and with none, in interleaved rounds.
// It runs on a Warble process of its own (the app as bench/servers/warble.ts starts it, plus a GC
// hook), started fresh so that its RSS is that of streams, not of the other phases' heap growth.
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { freePort } from '../../test/helpers/free-port.ts';
import { startServer, type ServerChild } from './children.ts';
import { closedLoop } from './closed-loop.ts';
import type { SoloPhaseOptions } from './phases.ts';
import { BENCH_PASSWORD, mutation, typicalUsers, trpcPath } from './fixtures.ts';
import type { HttpRequest } from './http-request.ts';
import {
  logMemory,
  memoryCurve,
  settledMemory,
  yardstick,
  type MemoryCurve,
  type MemoryPoint,
  type YardstickMemory,
} from './realtime-memory.ts';
import {
  FANOUT_WARM_UP,
  fanoutTest,
  throughputRounds,
  type FanoutSummary,
  type ThroughputSummary,
} from './realtime-load.ts';
import { Subscribers } from './subscribers.ts';

export const SUBSCRIBERS = 1000;
/** Streams per subscriber at the memory test's last step: 5,000 streams from 1,000 users. */
export const STREAMS_PER_SUBSCRIBER = 5;
/** The memory test's steps: streams opened before each measurement after the first (0). */
const STREAM_STEPS = [SUBSCRIBERS, SUBSCRIBERS * (STREAMS_PER_SUBSCRIBER - 1)];
const LOGIN_CONCURRENCY = 8;
const TIMELINE_PATH = trpcPath('posts.onTimeline', {});

export interface RealtimeOptions extends SoloPhaseOptions {
  /** Posts of the fan-out test (each reaches every subscriber). */
  fanoutPosts: number;
  /** Users whose posts.create calls the throughput test rotates over, as in the closed loop. */
  posters: number;
}

export interface RealtimeSummary {
  subscribers: number;
  author: { username: string; followers: number };
  posters: number;
  /** What the realtime Warble process runs with beyond the run's Warble configuration. */
  envChanges: Record<string, string>;
  memory: MemoryCurve;
  /** Warble's RSS after every stream was closed again (a leak check). */
  memoryAfterClose: MemoryPoint;
  yardsticks: YardstickMemory[];
  fanout: FanoutSummary;
  throughput: ThroughputSummary;
  /** Streams the server ended during the phase (expected: none), with the first reasons. */
  streamsEnded: number;
  endReasons: string[];
}

/** The bench user with the most followers, and up to `count` of them (bench users, by name). */
async function authorAndFollowers(em: EntityManager, count: number) {
  const connection = em.getConnection();
  const [author] = await connection.execute<{ id: string; username: string; followers: string }[]>(
    `select u.id, u.username, count(*) as followers from follows f join users u on u.id = f.followee_id
     where u.username like 'bench\\_%' group by u.id, u.username order by count(*) desc, u.username limit 1`,
  );
  if (!author) throw new Error('no bench_ user has followers');
  const followers = await connection.execute<{ id: string; username: string }[]>(
    `select u.id, u.username from follows f join users u on u.id = f.follower_id
     where f.followee_id = ? and u.username like 'bench\\_%' order by u.username limit ?`,
    [author.id, count],
  );
  return { author: { ...author, followers: Number(author.followers) }, followers };
}

/** Logs everyone in on `origin`, a few at a time; returns access tokens by username. */
async function logIn(origin: string, usernames: string[]): Promise<Map<string, string>> {
  const tokens = new Map<string, string>();
  const queue = [...new Set(usernames)];
  const worker = async () => {
    for (let username = queue.pop(); username !== undefined; username = queue.pop()) {
      const { accessToken } = await mutation<{ accessToken: string }>(origin, 'auth.login', {
        username,
        password: BENCH_PASSWORD,
      });
      tokens.set(username, accessToken);
    }
  };
  await Promise.all(Array.from({ length: LOGIN_CONCURRENCY }, worker));
  return tokens;
}

export async function realtimePhase(options: RealtimeOptions): Promise<RealtimeSummary> {
  const { log } = options;
  const since = new Date();
  const { author, followers } = await authorAndFollowers(options.em(), SUBSCRIBERS);
  if (followers.length < SUBSCRIBERS) {
    throw new Error(`${author.username} has only ${followers.length} bench followers (${SUBSCRIBERS} needed)`);
  }
  const posters = await typicalUsers(options.em(), options.posters);
  options.defer('realtime data', () =>
    cleanUpRealtime(options.em(), since, {
      authors: [author.id, ...posters.map((user) => user.id)],
      users: [author.id, ...followers.map((user) => user.id), ...posters.map((user) => user.id)],
    }),
  );

  const yardsticks = [
    await yardstick(options.pinning, 'node:http, SSE (ceiling)', 'sse-bare.ts', STREAM_STEPS),
    await yardstick(options.pinning, 'tRPC + Fastify, idle subscription (peer)', 'sse-trpc.ts', STREAM_STEPS),
  ];
  for (const { label, curve } of yardsticks) logMemory(log, label, curve);

  // Logins of 1,000 subscribers at the run's bcrypt cost would take minutes of hashing: this process
  // hashes at the seed's cost, which changes nothing the phase measures. No stream caps get in the way.
  const envChanges = { BCRYPT_COST: '4', STREAMS_MAX_PER_USER: '10000', STREAMS_MAX_PER_PROCESS: '100000' };
  const port = await freePort();
  const server: ServerChild = await startServer(
    {
      name: 'warble realtime',
      script: 'warble-realtime.ts',
      port,
      env: {
        ...options.warbleEnv,
        ...envChanges,
        PORT: String(port),
        DATABASE_URL: options.databaseUrl,
        JWT_SECRET: randomBytes(32).toString('base64url'),
      },
      readyPath: '/readyz',
    },
    options.pinning,
  );
  options.defer('realtime server', () => server.stop());
  const subscribers = new Subscribers({ origin: server.origin, path: TIMELINE_PATH });
  options.defer('realtime subscribers', () => subscribers.stop());
  try {
    log(`realtime  logging in ${followers.length} followers of ${author.username} and ${posters.length} posters`);
    const tokens = await logIn(server.origin, [
      author.username,
      ...followers.map((f) => f.username),
      ...posters.map((p) => p.username),
    ]);
    const followerTokens = followers.map((f) => tokens.get(f.username)!);
    const authorToken = tokens.get(author.username)!;
    const createRequests: HttpRequest[] = posters.map((user, i) => ({
      method: 'POST',
      path: '/trpc/posts.create',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${tokens.get(user.username)!}` },
      body: JSON.stringify({ body: `Benchmark post ${i + 1} by ${user.username}: load test, please ignore.` }),
    }));

    // Warm-up: streams opened and closed, a few posts fanned out, posts.create under load.
    await subscribers.open(followerTokens.slice(0, 100));
    await subscribers.fanout({ token: authorToken, warmUp: FANOUT_WARM_UP, posts: 0, intervalMs: 0, settleMs: 0 });
    await subscribers.close();
    await closedLoop(server.origin, createRequests, { connections: options.connections, durationSeconds: 1 });

    // 1. One stream per subscriber, then four more each; the first 1,000 stay open for 2 and 3.
    const streams = Array.from({ length: STREAMS_PER_SUBSCRIBER }, () => followerTokens).flat();
    const memory = await memoryCurve(server.pid, subscribers, [
      streams.slice(0, SUBSCRIBERS),
      streams.slice(SUBSCRIBERS),
    ]);
    logMemory(log, 'Warble posts.onTimeline', memory);
    await subscribers.close(streams.length - SUBSCRIBERS);

    const fanout = await fanoutTest(server.pid, subscribers, authorToken, options.fanoutPosts, log);
    const throughput = await throughputRounds(
      subscribers,
      followerTokens,
      {
        origin: server.origin,
        requests: createRequests,
        connections: options.connections,
        durationSeconds: options.durationSeconds,
      },
      options.rounds,
      log,
    );
    const { ended, endReasons } = await subscribers.counts();
    await subscribers.close();
    const memoryAfterClose = await settledMemory(server.pid, 0);
    return {
      subscribers: SUBSCRIBERS,
      author: { username: author.username, followers: author.followers },
      posters: posters.length,
      envChanges,
      memory,
      memoryAfterClose,
      yardsticks,
      fanout,
      throughput,
      streamsEnded: ended,
      endReasons,
    };
  } finally {
    await subscribers.stop();
    await server.stop();
  }
}

/**
 * Takes out what the phase wrote (posts, their resume-log rows, the logins' sessions), so the next
 * run measures the same data.
 */
async function cleanUpRealtime(em: EntityManager, since: Date, ids: { authors: string[]; users: string[] }) {
  const connection = em.getConnection();
  const run = (sql: string, params: unknown[]) => connection.execute(sql, params, 'run');
  const removed = await run('delete from posts where author_id in (?) and created_at >= ?', [ids.authors, since]);
  const [log] = await connection.execute<{ exists: boolean }[]>(
    `select to_regclass('timeline_events') is not null as exists`,
  );
  if (log?.exists)
    await run('delete from timeline_events where author_id in (?) and created_at >= ?', [ids.authors, since]);
  await run('delete from sessions where user_id in (?) and created_at >= ?', [ids.users, since]);
  if ((removed as { affectedRows?: number }).affectedRows) await run('vacuum (analyze) posts', []);
}
