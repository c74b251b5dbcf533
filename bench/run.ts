// npm run bench -- [--rounds 3] [--duration 5] [--connections 50] [--quick] [--out bench/results] ...
//
// Throughput and latency of Warble's API against two yardsticks measured in the same run on the
// same machine: a bare node:http server (the ceiling) and a tRPC + Fastify "hello" (the peer).
// Starts what it needs (the embedded PostgreSQL, loaded by bench/seed.ts if empty; the three
// servers, pinned to their own cores), measures closed-loop throughput and open-loop latency in
// interleaved rounds, then a bystander's latency while one address floods (issue #12), home
// timelines against the pull query (issue #17), the hot procedures over REST beside /trpc and what
// their output checks cost (issue #16), open streams (issue #14), read replicas (issue #18, in
// files of their own), checks the goals and writes JSON, Markdown and SVG under --out. Goals that
// are missed are reported, not fatal: the exit code is 1 only on errors.
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import { loadEnv } from '../server/env.ts';
import { createLogger } from '../server/logger.ts';
import { RssSampler, rssBytes } from './lib/children.ts';
import { findExecutable, pinSelf, planPinning } from './lib/cpu.ts';
import { benchDatabaseEnv, dataSize, openBenchDatabase, seedIfEmpty } from './lib/database.ts';
import { snapshotHome } from './lib/home-data.ts';
import {
  busiestAuthor,
  cleanUp,
  prepareUsers,
  signUpLoginUsers,
  typicalUsers,
  type LoginUser,
} from './lib/fixtures.ts';
import { floodPhase } from './lib/flood.ts';
import { homePhase } from './lib/home.ts';
import { writeHomeOnly } from './lib/home-report.ts';
import { collectMeta } from './lib/meta.ts';
import { preparePgbench, type Pgbench } from './lib/pgbench.ts';
import { realtimePhase } from './lib/realtime.ts';
import { writeRealtimeOnly } from './lib/realtime-report.ts';
import { replicasPhase } from './lib/replicas.ts';
import { forgetRemovedReplica } from './lib/replicas-replica.ts';
import { writeReplicasOnly } from './lib/replicas-report.ts';
import { restPhase } from './lib/rest.ts';
import { writeRestOnly } from './lib/rest-report.ts';
import { bcryptHashMs, closedLoopRounds, loginStorm, openLoopRounds, warmUp, type PhaseContext } from './lib/phases.ts';
import { BCRYPT_COST, parseOptions } from './lib/options.ts';
import { Progress } from './lib/progress.ts';
import { evaluateGoals, writeReport } from './lib/report.ts';
import type { Results } from './lib/results.ts';
import { median } from './lib/stats.ts';
import { startServers } from './lib/servers.ts';
import { buildTargets, loginRequests, timelineRequests } from './lib/targets.ts';
import { timelineStatements } from './lib/timeline-sql.ts';

const options = parseOptions();
const log = (line: string) => process.stderr.write(`${line}\n`);

// Run last-in first-out, once, on success, error or Ctrl-C: data clean-up, servers, database.
const cleanups: { name: string; run: () => Promise<unknown> }[] = [];
let cleaning: Promise<void> | undefined;
const cleanUpAll = () =>
  (cleaning ??= (async () => {
    for (const { name, run } of cleanups.reverse()) {
      try {
        await run();
      } catch (error) {
        log(`clean-up (${name}) failed: ${(error as Error).message}`);
      }
    }
  })());
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    log(`\n${signal}: stopping the servers and the database`);
    void cleanUpAll().then(() => process.exit(code));
  });
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const env = benchDatabaseEnv(loadEnv());
  // Our own log lines go to stderr: stdout carries only the results.
  const logger = createLogger({ NODE_ENV: env.NODE_ENV, LOG_LEVEL: 'warn' }, pino.destination({ dest: 2, sync: true }));
  const pinning = planPinning();
  log(pinning.note);
  const notes: string[] = [];

  // Everything started from here on (PostgreSQL, the seeder, the servers) inherits the server cores.
  pinSelf(pinning, pinning.serverCores);
  log(env.DATABASE_URL ? 'database: DATABASE_URL' : `database: embedded PostgreSQL in ${env.DATA_DIR}`);
  const { database, url } = await openBenchDatabase(env, logger);
  cleanups.push({ name: 'database', run: () => database.close() });
  const em = () => database.orm.em.fork() as EntityManager;
  if (!env.DATABASE_URL) await forgetRemovedReplica(em(), env.DATA_DIR, log);
  // The servers' home timelines (off with HOME_TIMELINE_CAP=0): built by the seeding if missing.
  const home = { cap: env.HOME_TIMELINE_CAP, mergeFollowers: env.HOME_TIMELINE_MERGE_FOLLOWERS };
  await seedIfEmpty(em(), url, options.seed, home, log);
  if (home.cap > 0 && options.only !== 'home' && options.only !== 'replicas') {
    // Put back once every server has stopped (the home phase keeps a copy of its own; the replicas
    // phase writes no post).
    cleanups.push({ name: 'home timelines', run: await snapshotHome(em(), 'run', log) });
  }
  const size = await dataSize(em());
  if (env.DATABASE_URL) notes.push('PostgreSQL (from DATABASE_URL) is not pinned: it may share cores with the load');

  log('starting the servers');
  const { servers, warbleEnv, stop } = await startServers(pinning, url, env.DATABASE_POOL_MAX, home);
  const pgbenchPath = findExecutable('pgbench');
  cleanups.push({ name: 'servers', run: () => stop() });
  pinSelf(pinning, pinning.loadCores);
  // Streams (bench/lib/realtime.ts) and REST (bench/lib/rest.ts) each run on a Warble process of
  // their own: after the flood, or alone. The other servers stop first: every Warble process reads
  // each new post from the event log, so idle ones would tax posts.create there.
  const solo = {
    pinning,
    databaseUrl: url,
    warbleEnv,
    em,
    rounds: options.rounds,
    durationSeconds: options.duration,
    connections: options.connections,
    log,
    defer: (name: string, run: () => Promise<unknown>) => void cleanups.push({ name, run }),
  };
  const realtimeRun = async () => {
    await stop();
    return realtimePhase({ ...solo, fanoutPosts: options.quick ? 20 : 50, posters: options.users });
  };
  const restRun = async () => {
    await stop();
    return restPhase({ ...solo, users: options.users });
  };
  const homeRun = async () => {
    await stop();
    if (!pgbenchPath)
      notes.push('pgbench is not installed (postgresql-client): the home phase does not compare with it');
    return homePhase({
      ...solo,
      users: options.users,
      pgbenchPath,
      pgbenchClients: options.pgbenchClients,
      samples: options.quick ? 30 : 100,
    });
  };
  const replicasRun = async () => {
    await stop();
    return replicasPhase({ ...solo, users: options.users, dataDir: env.DATABASE_URL ? null : env.DATA_DIR });
  };
  // Called once a phase has run (finishedAt), for the files of a phase of its own.
  const only = () => ({
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: { ...options },
    meta: collectMeta(size.postgresVersion),
    pinning,
    notes,
  });
  if (options.only) {
    const { markdown, files } =
      options.only === 'realtime'
        ? await writeRealtimeOnly(options.out, { realtime: await realtimeRun(), ...only() })
        : options.only === 'home'
          ? await writeHomeOnly(options.out, { home: await homeRun(), ...only() })
          : options.only === 'replicas'
            ? await writeReplicasOnly(options.out, { replicas: await replicasRun(), ...only() })
            : await writeRestOnly(options.out, { rest: await restRun(), ...only() });
    process.stdout.write(`\n${markdown}\n`);
    log(
      `written: ${files.map((file) => path.relative(process.cwd(), file)).join(', ')} (and latest-${options.only}.*)`,
    );
    return;
  }
  const idleMB = Object.fromEntries(
    Object.entries(servers).map(([name, server]) => [name, (rssBytes(server.pid) ?? NaN) / 1024 ** 2]),
  );
  const rss = new RssSampler(servers.warble.pid);
  cleanups.push({ name: 'rss sampler', run: () => Promise.resolve(rss.stop()) });
  const origins = {
    ceiling: servers.ceiling.origin,
    peer: servers.peer.origin,
    warble: servers.warble.origin,
    warbleBeside: servers.warbleBeside.origin,
    warbleDefaults: servers.warbleDefaults.origin,
  };

  // Fixtures, through the API: tokens, deep cursors, and fresh accounts for logins.
  const picked = await typicalUsers(em(), options.users);
  if (picked.length === 0) throw new Error('no bench_ users to log in as');
  const loginUsers: LoginUser[] = [];
  const runStart = new Date();
  cleanups.push({
    name: 'data',
    run: async () => {
      const removed = await cleanUp(
        em(),
        runStart,
        picked.map((user) => user.id),
      );
      log(
        `removed what the run wrote: ${removed.posts} posts, ${removed.sessions} sessions, ${removed.users} accounts`,
      );
    },
  });
  rss.label = 'fixtures';
  const progress = new Progress('login', picked.length, 'users');
  const users = await prepareUsers(origins.warble, picked, options.pages, (done) => progress.update(done));
  progress.finish();
  log(`signing up ${options.loginUsers} accounts at bcrypt cost ${BCRYPT_COST}`);
  loginUsers.push(...(await signUpLoginUsers(origins.warble, options.loginUsers)));
  const deepUsers = users.filter((user) => user.deepCursor).length;
  if (deepUsers < users.length) {
    notes.push(
      `${users.length - deepUsers} of ${users.length} users have fewer than ${options.pages + 1} timeline pages`,
    );
  }

  let pgbench: Pgbench | null = null;
  if (pgbenchPath) {
    // What posts.timeline sends for these users: the home read (and the pull query after it where
    // the home read cannot answer), or the pull query alone with HOME_TIMELINE_CAP=0.
    const scripts: string[][] = [];
    for (const user of users) scripts.push(await timelineStatements(em(), user.id, home.cap > 0));
    // The home read is a named statement, prepared once per connection (server/timelines/home-read.ts).
    pgbench = await preparePgbench(pgbenchPath, url, scripts, { prepared: home.cap > 0 });
    cleanups.push({ name: 'pgbench scripts', run: () => pgbench!.dispose() });
  } else {
    log('pgbench is not installed: the app-efficiency goal is not measured');
    notes.push('pgbench is not installed (postgresql-client): app efficiency not measured');
  }

  const targets = buildTargets(users, loginUsers, options.pages, {
    connections: options.connections,
    durationSeconds: options.duration,
    loginConnections: options.loginConnections,
  });
  const ctx: PhaseContext = { rounds: options.rounds, origins, rss, log };
  log('warming up');
  await warmUp(ctx, targets);
  const { closed, pgbench: pgSummary } = await closedLoopRounds(
    ctx,
    targets,
    pgbench && {
      bench: pgbench,
      clients: options.pgbenchClients,
      durationSeconds: options.duration,
      after: 'timelineBeside',
    },
  );

  rss.label = 'between phases';
  const hashMs = await bcryptHashMs(BCRYPT_COST, 5);
  const hashMedian = median(hashMs);
  log(`bcrypt cost ${BCRYPT_COST}: ${hashMedian.toFixed(0)} ms per hash (median of ${hashMs.length})`);

  const open = await openLoopRounds(ctx, targets, closed, options.duration);
  const timelineMax = closed.find((summary) => summary.id === 'timeline')?.rps.median ?? 0;
  const storm =
    timelineMax > 0
      ? await loginStorm(
          ctx,
          { requests: timelineRequests(users), rate: timelineMax * 0.5, connections: options.connections },
          loginRequests(loginUsers),
          options.stormRate,
          options.duration,
        )
      : null;
  // Last: the flood leaves the most behind (a grown heap, connections being torn down).
  const author = await busiestAuthor(em(), runStart);
  // Twice: with only the fair share between the flood and the bystander, then with the production
  // defaults (the flood's address also has its call budget), where the bystanders are four users.
  const floodRun = (server: 'warble' | 'warbleDefaults', bystanders: typeof users) =>
    floodPhase(ctx, {
      server,
      bystanders,
      author,
      connections: options.floodConnections,
      durationSeconds: options.duration,
    }).catch((error: unknown) => {
      // The other phases' figures are still worth writing: report the failure, exit 1 afterwards.
      log(`flood phase (${server}) failed: ${(error as Error).stack ?? String(error)}`);
      notes.push(`**the flood phase (${server}) failed: ${(error as Error).message}**`);
      process.exitCode = 1;
      return null;
    });
  const floodFairShare = await floodRun('warble', users.slice(0, 1));
  const flood = await floodRun('warbleDefaults', users.slice(0, 4));
  // Stops the servers above: what follows runs on Warble processes of its own.
  const homeSummary =
    home.cap > 0
      ? await homeRun().catch((error: unknown) => {
          log(`home phase failed: ${(error as Error).stack ?? String(error)}`);
          notes.push(`**the home timelines phase failed: ${(error as Error).message}**`);
          process.exitCode = 1;
          return null;
        })
      : null;
  const rest = await restRun().catch((error: unknown) => {
    log(`rest phase failed: ${(error as Error).stack ?? String(error)}`);
    notes.push(`**the REST phase failed: ${(error as Error).message}**`);
    process.exitCode = 1;
    return null;
  });
  const realtime = await realtimeRun().catch((error: unknown) => {
    log(`realtime phase failed: ${(error as Error).stack ?? String(error)}`);
    notes.push(`**the realtime phase failed: ${(error as Error).message}**`);
    process.exitCode = 1;
    return null;
  });
  // Last: its first run copies the database. Its results go to files of their own (latest-replicas.*).
  const replicas = await replicasRun().catch((error: unknown) => {
    log(`replicas phase failed: ${(error as Error).stack ?? String(error)}`);
    notes.push(`**the replicas phase failed: ${(error as Error).message}**`);
    process.exitCode = 1;
    return null;
  });

  const rssMax = rss.max;
  const results: Omit<Results, 'goals'> = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    options: { ...options },
    meta: collectMeta(size.postgresVersion),
    pinning,
    database: {
      source: env.DATABASE_URL ? 'DATABASE_URL' : `embedded PostgreSQL (${env.DATA_DIR})`,
      users: size.users,
      posts: size.posts,
      follows: size.follows,
      poolMax: env.DATABASE_POOL_MAX,
      pinned: !env.DATABASE_URL && pinning.serverCores !== null,
    },
    warbleEnv,
    fixtures: {
      users: users.length,
      medianFollows: median(users.map((user) => user.follows)),
      deepPages: options.pages,
      deepUsers,
      loginUsers: loginUsers.length,
    },
    closedLoop: closed,
    openLoop: open,
    storm,
    flood,
    floodFairShare,
    home: homeSummary,
    rest,
    realtime,
    bcrypt: {
      cost: BCRYPT_COST,
      hashMs,
      medianMs: hashMedian,
      serverCores: pinning.serverCoreCount,
      expectedLoginsPerSecond: pinning.serverCoreCount / (hashMedian / 1000),
    },
    pgbench: pgSummary,
    rss: {
      idleMB,
      maxMB: rssMax === undefined ? null : rssMax / 1024 ** 2,
      byTargetMB: Object.fromEntries([...rss.maxByLabel].map(([label, bytes]) => [label, bytes / 1024 ** 2])),
    },
    notes,
  };
  const full: Results = { ...results, goals: evaluateGoals(results) };
  const { markdown, files } = await writeReport(options.out, full);
  process.stdout.write(`\n${markdown}\n`);
  const shown = (file: string) =>
    path.relative(process.cwd(), file).startsWith('..') ? file : path.relative(process.cwd(), file);
  log(`written: ${files.map(shown).join(', ')} (and latest.*)`);
  if (!replicas) return;
  const written = await writeReplicasOnly(options.out, { replicas, ...only() });
  process.stdout.write(`\n${written.markdown}\n`);
  log(`written: ${written.files.map(shown).join(', ')} (and latest-replicas.*)`);
}

try {
  await main();
} catch (error) {
  log(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUpAll();
}
