// The home phase's reads: posts.timeline page 1 served from home timelines beside the same Warble
// with HOME_TIMELINE_CAP=0 (the pull query, as before issue #17), each also on the load generator's
// cores ("beside the load", leaving PostgreSQL its core, as pgbench has it), the ceiling and the peer
// of the main table, and pgbench replaying each path's own statements for the same users. Closed
// loop, every target once per round, rounds interleaved.
import type { EntityManager } from '@mikro-orm/postgresql';
import { cpuSeconds, type ServerChild } from './children.ts';
import { closedLoop, type ClosedLoopResult } from './closed-loop.ts';
import type { BenchUser } from './fixtures.ts';
import type { HttpRequest } from './http-request.ts';
import type { HomeServers } from './home-servers.ts';
import { preparePgbench, type PgbenchResult } from './pgbench.ts';
import { median, num, ratio, spread, type Spread } from './stats.ts';
import { timelineRequests } from './targets.ts';
import { timelineStatements } from './timeline-sql.ts';

const WARM_UP_SECONDS = 1;

export interface ReadTarget {
  id: string;
  label: string;
  rps: Spread;
  /** Medians over the rounds. */
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  ratioCeiling: number;
  ratioPeer: number;
  /** CPU per answer (µs), medians over the rounds: the server's process, and PostgreSQL's. */
  serverCpuUs: number;
  postgresCpuUs: number;
  rounds: ClosedLoopResult[];
}

export interface PgbenchRuns {
  tps: Spread;
  /** PostgreSQL's CPU per transaction (µs), median over the rounds. */
  postgresCpuUs: number;
  rounds: PgbenchResult[];
}

export interface HomeReads {
  targets: ReadTarget[];
  /** PostgreSQL alone, each path's statements for the same users (null: pgbench not installed). */
  pgbench: { clients: number; version: string; home: PgbenchRuns; pull: PgbenchRuns } | null;
}

export interface ReadsOptions {
  servers: HomeServers;
  /** PostgreSQL's CPU seconds so far (children.ts postgresCpuSeconds). */
  postgresCpu: () => number;
  loadCores: string | null;
  em: () => EntityManager;
  databaseUrl: string;
  pgbenchPath: string | null;
  pgbenchClients: number;
  rounds: number;
  durationSeconds: number;
  connections: number;
  log: (line: string) => void;
}

interface Spec {
  id: string;
  label: string;
  server: ServerChild;
  requests: HttpRequest[];
  pgbench?: 'home' | 'pull';
}

/** `home` is the phase's Warble with home timelines, where `users` logged in; the others start here. */
export async function homeReads(options: ReadsOptions, users: BenchUser[], home: ServerChild): Promise<HomeReads> {
  const started: ServerChild[] = [];
  const track = async (server: Promise<ServerChild>) => {
    const child = await server;
    started.push(child);
    return child;
  };
  try {
    return await measure(options, users, home, track);
  } finally {
    await Promise.all(started.map((server) => server.stop()));
  }
}

async function measure(
  options: ReadsOptions,
  users: BenchUser[],
  home: ServerChild,
  track: (server: Promise<ServerChild>) => Promise<ServerChild>,
): Promise<HomeReads> {
  const { servers, log } = options;
  const ceiling = await track(servers.yardstick('ceiling'));
  const peer = await track(servers.yardstick('peer'));
  const pull = await track(servers.warble('pull', 'warble pull'));
  const homeBeside = await track(servers.warble('home', 'warble home beside the load', options.loadCores));
  const pullBeside = await track(servers.warble('pull', 'warble pull beside the load', options.loadCores));
  const timeline = timelineRequests(users);
  const specs: Spec[] = [
    { id: 'ceiling', label: 'node:http bare (ceiling)', server: ceiling, requests: [get('/trpc/hello')] },
    { id: 'peer', label: 'tRPC + Fastify hello (peer)', server: peer, requests: [get('/trpc/hello')] },
    { id: 'home', label: 'posts.timeline, page 1, home timelines', server: home, requests: timeline },
    { id: 'pull', label: 'posts.timeline, page 1, pull (HOME_TIMELINE_CAP=0)', server: pull, requests: timeline },
    {
      id: 'homeBeside',
      label: 'posts.timeline, page 1, home, app beside the load²',
      server: homeBeside,
      requests: timeline,
      pgbench: 'home',
    },
    {
      id: 'pullBeside',
      label: 'posts.timeline, page 1, pull, app beside the load²',
      server: pullBeside,
      requests: timeline,
      pgbench: 'pull',
    },
  ];

  const bench = options.pgbenchPath
    ? {
        home: await scripts(options, users, true),
        pull: await scripts(options, users, false),
      }
    : null;
  try {
    for (const spec of specs) {
      await closedLoop(spec.server.origin, spec.requests, {
        connections: options.connections,
        durationSeconds: WARM_UP_SECONDS,
      });
    }
    type Run = ClosedLoopResult & { serverCpuUs: number; postgresCpuUs: number };
    const results = new Map<string, Run[]>(specs.map((spec) => [spec.id, []]));
    const pgRounds = {
      home: [] as (PgbenchResult & { postgresCpuUs: number })[],
      pull: [] as (PgbenchResult & { postgresCpuUs: number })[],
    };
    for (let round = 1; round <= options.rounds; round++) {
      for (const spec of specs) {
        const before = { server: cpuSeconds(spec.server.pid), postgres: options.postgresCpu() };
        const answer = await closedLoop(spec.server.origin, spec.requests, {
          connections: options.connections,
          durationSeconds: options.durationSeconds,
        });
        const result: Run = {
          ...answer,
          serverCpuUs: ((cpuSeconds(spec.server.pid) - before.server) * 1e6) / answer.responses,
          postgresCpuUs: ((options.postgresCpu() - before.postgres) * 1e6) / answer.responses,
        };
        results.get(spec.id)!.push(result);
        const problems = result.non2xx || result.errors ? `  !! ${result.non2xx} non-2xx, ${result.errors} errors` : '';
        log(
          `round ${round}/${options.rounds}  home reads   ${spec.label.padEnd(52)} ${num(result.rps).padStart(7)} req/s` +
            `  p50 ${num(result.p50Ms)} ms  p99 ${num(result.p99Ms)} ms  CPU µs/call: server ` +
            `${num(result.serverCpuUs)}, PostgreSQL ${num(result.postgresCpuUs)}${problems}`,
        );
        const path = spec.pgbench;
        if (bench && path) {
          const postgres = options.postgresCpu();
          const run = await bench[path].run(options.pgbenchClients, options.durationSeconds);
          const pg = { ...run, postgresCpuUs: ((options.postgresCpu() - postgres) * 1e6) / run.transactions };
          pgRounds[path].push(pg);
          log(
            `round ${round}/${options.rounds}  pgbench      ${`the ${path} path's statements, same users`.padEnd(52)} ` +
              `${num(pg.tps).padStart(7)} tps  avg ${num(pg.latencyAvgMs)} ms  PostgreSQL CPU µs/tx ` +
              `${num(pg.postgresCpuUs)}${pg.failed ? `  !! ${pg.failed} failed` : ''}`,
          );
        }
      }
    }
    const rps = (id: string) => median(results.get(id)!.map((r) => r.rps));
    const targets = specs.map((spec): ReadTarget => {
      const rounds = results.get(spec.id)!;
      const summary = spread(rounds.map((r) => r.rps));
      return {
        id: spec.id,
        label: spec.label,
        rps: summary,
        p50Ms: median(rounds.map((r) => r.p50Ms)),
        p99Ms: median(rounds.map((r) => r.p99Ms)),
        non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
        errors: rounds.reduce((sum, r) => sum + r.errors, 0),
        ratioCeiling: ratio(summary.median, rps('ceiling')),
        ratioPeer: ratio(summary.median, rps('peer')),
        serverCpuUs: median(rounds.map((r) => r.serverCpuUs)),
        postgresCpuUs: median(rounds.map((r) => r.postgresCpuUs)),
        rounds,
      };
    });
    const runs = (list: (PgbenchResult & { postgresCpuUs: number })[]): PgbenchRuns => ({
      tps: spread(list.map((r) => r.tps)),
      postgresCpuUs: median(list.map((r) => r.postgresCpuUs)),
      rounds: list,
    });
    return {
      targets,
      pgbench: bench
        ? {
            clients: options.pgbenchClients,
            version: bench.home.version,
            home: runs(pgRounds.home),
            pull: runs(pgRounds.pull),
          }
        : null,
    };
  } finally {
    await Promise.all([bench?.home.dispose(), bench?.pull.dispose()]);
  }
}

/** pgbench with each user's page-1 statements of one path, recorded from the server's code. */
async function scripts(options: ReadsOptions, users: BenchUser[], home: boolean) {
  const statements: string[][] = [];
  for (const user of users) statements.push(await timelineStatements(options.em(), user.id, home));
  // The home read is a named statement, prepared once per connection; the ORM's are planned each time.
  return preparePgbench(options.pgbenchPath!, options.databaseUrl, statements, { prepared: home });
}

const get = (path: string): HttpRequest => ({ method: 'GET', path, headers: {} });
