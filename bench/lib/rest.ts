// The REST phase (issue #16): what REST under /api and the procedures' output checks cost.
//   1. The hot procedures over /trpc and over /api on one Warble process, closed loop (autocannon,
//      the run's connections, duration and rounds), each pair run back to back in every round,
//      alternating which transport goes first: req/s, p50/p99, Warble's CPU per call, REST ÷ tRPC.
//   2. The output checks (rest-checks.ts): µs per `schema.parse()` of each procedure's answer inside
//      the server during step 1's runs, and of a real answer in a loop in this process beside µs of
//      `JSON.stringify` of it; and their share of the call's own cost from step 1.
// On a Warble process of its own (bench/servers/warble-checks.ts: the app, its hot output checks
// timed), started fresh with the run's configuration: the run's other servers are stopped first
// (every Warble process that listens reads each new post from the event log, so idle ones would
// tax posts.create), and its heap is not that of the earlier phases.
import { randomBytes } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { freePort } from '../../test/helpers/free-port.ts';
import { startServer, cpuSeconds } from './children.ts';
import { closedLoop, type ClosedLoopResult } from './closed-loop.ts';
import type { SoloPhaseOptions } from './phases.ts';
import { prepareUsers, typicalUsers } from './fixtures.ts';
import { Progress } from './progress.ts';
import { measureChecks, readCheckTimes, type CheckCost } from './rest-checks.ts';
import { buildPairs, newestPosts, sampleAnswers, type Pair, type Transport } from './rest-targets.ts';
import { median, num, ratio, spread, type Spread } from './stats.ts';

const WARM_UP_SECONDS = 1;

export interface RestOptions extends SoloPhaseOptions {
  /** Typical users whose tokens the requests rotate over, as in the main closed loop. */
  users: number;
}

export interface RestRun extends ClosedLoopResult {
  /** Warble's CPU time (all threads, /proc) over the run ÷ responses. */
  cpuUsPerCall: number;
  /** The procedure's output check inside Warble over the run: µs per `schema.parse()`, and how many. */
  checkUs: number;
  checks: number;
}

export interface TransportSummary {
  route: string;
  rps: Spread;
  /** Medians over the rounds. */
  p50Ms: number;
  p99Ms: number;
  cpuUsPerCall: number;
  checkUs: number;
  non2xx: number;
  errors: number;
  rounds: RestRun[];
}

export interface RestPairSummary {
  id: string;
  label: string;
  trpc: TransportSummary;
  rest: TransportSummary;
  /** REST ÷ tRPC, medians of req/s (the goal's). */
  ratio: number;
  /** REST ÷ tRPC req/s of each round's two runs, which ran back to back: the noise of the ratio. */
  roundRatios: number[];
  /** REST ÷ tRPC, medians of Warble's CPU per call. */
  cpuRatio: number;
}

export interface RestSummary {
  users: number;
  /** posts.byId's requests rotate over this many posts (the newest of each user's timeline). */
  posts: number;
  pairs: RestPairSummary[];
  checks: CheckCost[];
}

async function run(origin: string, pid: number, pair: Pair, transport: Transport, options: RestOptions) {
  await readCheckTimes(pid); // starts the count afresh
  const before = cpuSeconds(pid);
  const result = await closedLoop(origin, pair.requests[transport], {
    connections: options.connections,
    durationSeconds: options.durationSeconds,
  });
  const cpu = cpuSeconds(pid) - before;
  const check = (await readCheckTimes(pid))[pair.schema] ?? { calls: 0, ms: NaN };
  return {
    ...result,
    cpuUsPerCall: result.responses > 0 ? (cpu * 1e6) / result.responses : NaN,
    checkUs: (check.ms * 1000) / check.calls,
    checks: check.calls,
  } satisfies RestRun;
}

function summarise(route: string, rounds: RestRun[]): TransportSummary {
  return {
    route,
    rps: spread(rounds.map((r) => r.rps)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    cpuUsPerCall: median(rounds.map((r) => r.cpuUsPerCall)),
    checkUs: median(rounds.map((r) => r.checkUs)),
    non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
    errors: rounds.reduce((sum, r) => sum + r.errors, 0),
    rounds,
  };
}

export async function restPhase(options: RestOptions): Promise<RestSummary> {
  const { log } = options;
  const since = new Date();
  const picked = await typicalUsers(options.em(), options.users);
  if (picked.length === 0) throw new Error('no bench_ users to log in as');
  options.defer('rest data', () =>
    cleanUpRest(
      options.em(),
      since,
      picked.map((user) => user.id),
    ),
  );
  const port = await freePort();
  const server = await startServer(
    {
      name: 'warble rest',
      script: 'warble-checks.ts',
      port,
      env: {
        ...options.warbleEnv,
        PORT: String(port),
        DATABASE_URL: options.databaseUrl,
        JWT_SECRET: randomBytes(32).toString('base64url'),
      },
      readyPath: '/readyz',
    },
    options.pinning,
  );
  options.defer('rest server', () => server.stop());
  try {
    const progress = new Progress('rest', picked.length, 'logins');
    const users = await prepareUsers(server.origin, picked, 0, (done) => progress.update(done));
    progress.finish();
    const postIds = await newestPosts(server.origin, users);
    const pairs = buildPairs(users, postIds);
    const answers = await sampleAnswers(server.origin, pairs);

    for (const pair of pairs) {
      for (const transport of ['trpc', 'rest'] as const) {
        await closedLoop(server.origin, pair.requests[transport], {
          connections: options.connections,
          durationSeconds: WARM_UP_SECONDS,
        });
      }
    }
    const results = new Map(pairs.map((pair) => [pair.id, { trpc: [] as RestRun[], rest: [] as RestRun[] }]));
    for (let round = 1; round <= options.rounds; round++) {
      for (const pair of pairs) {
        const order: Transport[] = round % 2 ? ['trpc', 'rest'] : ['rest', 'trpc'];
        for (const transport of order) {
          const result = await run(server.origin, server.pid, pair, transport, options);
          results.get(pair.id)![transport].push(result);
          const problems =
            result.non2xx || result.errors ? `  !! ${result.non2xx} non-2xx, ${result.errors} errors` : '';
          log(
            `round ${round}/${options.rounds}  rest         ${`${pair.label}, ${transport === 'rest' ? 'REST' : 'tRPC'}`.padEnd(42)}` +
              ` ${num(result.rps).padStart(7)} req/s  p50 ${num(result.p50Ms)} ms  p99 ${num(result.p99Ms)} ms` +
              `  CPU ${num(result.cpuUsPerCall)} µs/call, output check ${num(result.checkUs)} µs${problems}`,
          );
        }
      }
    }
    const summaries = pairs.map((pair): RestPairSummary => {
      const { trpc, rest } = results.get(pair.id)!;
      const trpcSummary = summarise(pair.routes.trpc, trpc);
      const restSummary = summarise(pair.routes.rest, rest);
      return {
        id: pair.id,
        label: pair.label,
        trpc: trpcSummary,
        rest: restSummary,
        ratio: ratio(restSummary.rps.median, trpcSummary.rps.median),
        roundRatios: rest.map((run, i) => ratio(run.rps, trpc[i]!.rps)),
        cpuRatio: ratio(restSummary.cpuUsPerCall, trpcSummary.cpuUsPerCall),
      };
    });
    log('rest  timing the output checks in this process');
    const checks = measureChecks(answers, summaries);
    for (const check of checks) {
      log(
        `rest  ${check.label.padEnd(34)} parse ${num(check.serverUs)} µs in the server, ${num(check.loopUs)} µs in a ` +
          `loop (JSON.stringify ${num(check.stringifyUs)} µs): ${(check.shareOfCpu * 100).toFixed(2)}% of Warble's CPU per call`,
      );
    }
    return { users: users.length, posts: postIds.length, pairs: summaries, checks };
  } finally {
    await server.stop();
  }
}

/**
 * Takes out what the phase wrote (posts.create's posts and their event-log rows, the logins'
 * sessions), so that the next run measures the same data.
 */
async function cleanUpRest(em: EntityManager, since: Date, userIds: string[]) {
  const connection = em.getConnection();
  const run = (sql: string, params: unknown[]) => connection.execute(sql, params, 'run');
  const removed = await run('delete from posts where author_id in (?) and created_at >= ?', [userIds, since]);
  const [log] = await connection.execute<{ exists: boolean }[]>(
    `select to_regclass('timeline_events') is not null as exists`,
  );
  if (log?.exists)
    await run('delete from timeline_events where author_id in (?) and created_at >= ?', [userIds, since]);
  await run('delete from sessions where user_id in (?) and created_at >= ?', [userIds, since]);
  if ((removed as { affectedRows?: number }).affectedRows) await run('vacuum (analyze) posts', []);
}
