// The replicas phase (issue #18): posts.timeline page 1 on Warble with one read replica
// (DATABASE_REPLICA_URLS) beside the same Warble without, closed loop, rounds interleaved, in one
// run; and where each one's reads went (replicas-scans.ts). The replica is a streaming standby of
// the bench's embedded PostgreSQL (replicas-replica.ts), pinned with it to the server cores: on a
// machine with few cores both PostgreSQL servers and Warble share them, so this phase shows that
// reads reach the replica and answer the same, not what a replica's own hardware would add.
import { randomBytes } from 'node:crypto';
import { parseEnv } from '../../server/env.ts';
import { freePort } from '../../test/helpers/free-port.ts';
import { cpuSeconds, postgresCpuSeconds, postmasterOf, startServer, type ServerChild } from './children.ts';
import { closedLoop, type ClosedLoopResult } from './closed-loop.ts';
import { cleanUp, PAGE_SIZE, prepareUsers, query, typicalUsers, type BenchUser } from './fixtures.ts';
import type { SoloPhaseOptions } from './phases.ts';
import { Progress } from './progress.ts';
import { startBenchReplica, type BenchReplica } from './replicas-replica.ts';
import { addScans, noScans, ScanCounter, SETTLE_MS, type Scans } from './replicas-scans.ts';
import { median, num, ratio, spread, type Spread } from './stats.ts';
import { timelineRequests } from './targets.ts';

const WARM_UP_SECONDS = 2;

export interface ReplicasOptions extends SoloPhaseOptions {
  users: number;
  /** The embedded primary's DATA_DIR; null with DATABASE_URL (no replica can be started then). */
  dataDir: string | null;
}

export type Setup = 'none' | 'one';

export interface ReplicaRun extends ClosedLoopResult {
  /** CPU per answer (µs): the Warble process, the primary (postmaster and children), the replica. */
  cpuUs: { warble: number; primary: number; replica: number };
  scans: { primary: Scans; replica: Scans };
}

export interface ReplicaTarget {
  id: Setup;
  label: string;
  rps: Spread;
  /** Medians over the rounds. */
  p50Ms: number;
  p99Ms: number;
  cpuUs: { warble: number; primary: number; replica: number };
  non2xx: number;
  errors: number;
  /** Answers and scans summed over the rounds. */
  responses: number;
  scans: { primary: Scans; replica: Scans };
  rounds: ReplicaRun[];
}

export interface ReplicasSummary {
  replica: Omit<BenchReplica, 'url' | 'stop' | 'postmaster'>;
  /** What the server with a replica has that the other has not (the URL without its password). */
  difference: string;
  maxLagMs: number;
  serverCores: string | null;
  users: number;
  /** Page 1 of every fixture user from both servers, after the warm-up: byte for byte the same? */
  identical: { same: number; users: number };
  targets: ReplicaTarget[];
  /** One replica ÷ none, req/s medians. */
  ratio: number;
  /** The whole phase, from the replica's start until the runs ended. */
  seconds: number;
}

const LABELS: Record<Setup, string> = { none: 'no replica', one: 'one replica' };

export async function replicasPhase(options: ReplicasOptions): Promise<ReplicasSummary> {
  const { log, pinning } = options;
  const phaseStarted = performance.now();
  if (options.dataDir === null) {
    throw new Error('the replicas phase starts a replica of the embedded PostgreSQL: leave DATABASE_URL unset');
  }
  const em = options.em();
  const picked = await typicalUsers(em, options.users);
  if (picked.length === 0) throw new Error('no bench_ users to log in as');
  const since = new Date();
  options.defer('replicas sessions', () =>
    cleanUp(
      options.em(),
      since,
      picked.map((user) => user.id),
    ),
  );
  const replica = await startBenchReplica({ dataDir: options.dataDir, primaryUrl: options.databaseUrl, pinning, log });
  options.defer('replica', () => replica.stop());
  const [backend] = await em.getConnection().execute<{ pid: number }[]>('select pg_backend_pid() as pid');
  const primaryPostmaster = postmasterOf(Number(backend?.pid));

  // One secret for both: a token from a login on one works on the other. No job worker: no fan-out
  // backlog of an earlier phase competes with the reads.
  const secret = randomBytes(32).toString('base64url');
  const started: ServerChild[] = [];
  const stopServers = () => Promise.all(started.splice(0).map((server) => server.stop()));
  options.defer('replicas servers', stopServers);
  const start = async (setup: Setup) => {
    const port = await freePort();
    const env: Record<string, string> = {
      ...options.warbleEnv,
      JOB_WORKER: 'false',
      PORT: String(port),
      DATABASE_URL: options.databaseUrl,
      JWT_SECRET: secret,
      ...(setup === 'one' ? { DATABASE_REPLICA_URLS: replica.url } : {}),
    };
    const server = await startServer(
      { name: `warble, ${LABELS[setup]}`, script: 'warble.ts', port, env, readyPath: '/readyz' },
      pinning,
    );
    started.push(server);
    return server;
  };
  const scans = await ScanCounter.open(options.databaseUrl, replica.url);
  try {
    const servers: Record<Setup, ServerChild> = { none: await start('none'), one: await start('one') };
    const progress = new Progress('replicas', picked.length, 'logins');
    const users = await prepareUsers(servers.none.origin, picked, 0, (done) => progress.update(done));
    progress.finish();
    const requests = timelineRequests(users);
    for (const setup of ['none', 'one'] as const) {
      await closedLoop(servers[setup].origin, requests, {
        connections: options.connections,
        durationSeconds: WARM_UP_SECONDS,
      });
    }
    const identical = await compareAnswers(servers, users);
    log(`replicas  page 1 of ${identical.users} users from both servers: ${identical.same} byte for byte the same`);

    const runs: Record<Setup, ReplicaRun[]> = { none: [], one: [] };
    const postgres = { primary: primaryPostmaster, replica: replica.postmaster };
    log(
      `replicas  table scans are read ${SETTLE_MS / 1000} s after each run: ` +
        'PostgreSQL flushes an idle backend’s counts that late',
    );
    let counted = await scans.read();
    for (let round = 1; round <= options.rounds; round++) {
      for (const setup of ['none', 'one'] as const) {
        const { run, after } = await measure(servers[setup], requests, options, counted, scans, postgres);
        counted = after;
        runs[setup].push(run);
        const problems = run.non2xx || run.errors ? `  !! ${run.non2xx} non-2xx, ${run.errors} errors` : '';
        const perCall = (counts: Scans) => num((counts.posts + counts.home_timeline_entries) / run.responses);
        log(
          `round ${round}/${options.rounds}  replicas  posts.timeline p1, ${LABELS[setup].padEnd(11)} ` +
            `${num(run.rps).padStart(7)} req/s  p50 ${num(run.p50Ms)} ms  p99 ${num(run.p99Ms)} ms  ` +
            `posts+entries scans/call: primary ${perCall(run.scans.primary)}, replica ${perCall(run.scans.replica)}  ` +
            `CPU µs/call: Warble ${num(run.cpuUs.warble)}, primary ${num(run.cpuUs.primary)}, ` +
            `replica ${num(run.cpuUs.replica)}${problems}`,
        );
      }
    }
    const targets = (['none', 'one'] as const).map((setup) => summarize(setup, runs[setup]));
    const seconds = (performance.now() - phaseStarted) / 1000;
    log(`replicas  the phase took ${Math.round(seconds)} s`);
    const where = new URL(replica.url);
    const { dataDir, slot, seeded, startMs, catchUpMs } = replica;
    return {
      replica: { dataDir, slot, seeded, startMs, catchUpMs },
      difference: `DATABASE_REPLICA_URLS=postgresql://…@${where.host}${where.pathname}`,
      maxLagMs: maxLagMs(options.warbleEnv),
      serverCores: pinning.serverCores,
      users: users.length,
      identical,
      targets,
      ratio: ratio(targets[1]!.rps.median, targets[0]!.rps.median),
      seconds,
    };
  } finally {
    await scans.close();
    await stopServers();
    await replica.stop();
  }
}

async function measure(
  server: ServerChild,
  requests: ReturnType<typeof timelineRequests>,
  options: ReplicasOptions,
  before: Awaited<ReturnType<ScanCounter['read']>>,
  scans: ScanCounter,
  postgres: { primary: number | null; replica: number | null },
) {
  const cpu = () => ({
    warble: cpuSeconds(server.pid),
    primary: postgresCpuSeconds(postgres.primary),
    replica: postgresCpuSeconds(postgres.replica),
  });
  const cpuBefore = cpu();
  const answer = await closedLoop(server.origin, requests, {
    connections: options.connections,
    durationSeconds: options.durationSeconds,
  });
  const cpuAfter = cpu();
  const after = await scans.read();
  const us = (key: keyof typeof cpuAfter) => ((cpuAfter[key] - cpuBefore[key]) * 1e6) / answer.responses;
  const run: ReplicaRun = {
    ...answer,
    cpuUs: { warble: us('warble'), primary: us('primary'), replica: us('replica') },
    scans: ScanCounter.delta(after, before),
  };
  return { run, after };
}

function summarize(setup: Setup, rounds: ReplicaRun[]): ReplicaTarget {
  const sum = (pick: (run: ReplicaRun) => number) => rounds.reduce((total, run) => total + pick(run), 0);
  return {
    id: setup,
    label: `posts.timeline, page 1, ${LABELS[setup]}`,
    rps: spread(rounds.map((run) => run.rps)),
    p50Ms: median(rounds.map((run) => run.p50Ms)),
    p99Ms: median(rounds.map((run) => run.p99Ms)),
    cpuUs: {
      warble: median(rounds.map((run) => run.cpuUs.warble)),
      primary: median(rounds.map((run) => run.cpuUs.primary)),
      replica: median(rounds.map((run) => run.cpuUs.replica)),
    },
    non2xx: sum((run) => run.non2xx),
    errors: sum((run) => run.errors),
    responses: sum((run) => run.responses),
    scans: {
      primary: rounds.reduce((total, run) => addScans(total, run.scans.primary), noScans()),
      replica: rounds.reduce((total, run) => addScans(total, run.scans.replica), noScans()),
    },
    rounds,
  };
}

/** Each user's page 1 from both servers; nothing writes meanwhile, so they must be equal. */
async function compareAnswers(servers: Record<Setup, ServerChild>, users: BenchUser[]) {
  let same = 0;
  for (const user of users) {
    const page = (server: ServerChild) =>
      query<unknown>(server.origin, 'posts.timeline', { limit: PAGE_SIZE }, user.accessToken).then((data) =>
        JSON.stringify(data),
      );
    if ((await page(servers.none)) === (await page(servers.one))) same++;
  }
  return { same, users: users.length };
}

/** The lag limit the servers run with: the run's setting, else the default. */
function maxLagMs(warbleEnv: Record<string, string>): number {
  const parsed = parseEnv({ DATABASE_REPLICA_MAX_LAG_MS: warbleEnv.DATABASE_REPLICA_MAX_LAG_MS });
  return parsed.ok ? parsed.env.DATABASE_REPLICA_MAX_LAG_MS : NaN;
}
