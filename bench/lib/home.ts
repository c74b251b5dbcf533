// The home phase (issue #17): what home timelines (fan-out on write, server/timelines/) give the
// timeline's reads and cost its writes, each side by side with the same Warble without them
// (HOME_TIMELINE_CAP=0: the pull query; JOB_WORKER=false: no fan-out), in one run:
//   1. database time per page of both paths over many viewers (home-sample.ts, as bench:timeline);
//   2. posts.timeline page 1, closed loop, beside the ceiling, the peer and pgbench (home-reads.ts);
//   3. posts.create with the fan-out's worker against without, queue depth and fan-out lag
//      (home-create.ts, home-probe-worker.ts);
//   4. the home timelines' rows and size on disk.
// Its Warble processes are its own (home-servers.ts), started after the run's other servers stopped.
import type { EntityManager } from '@mikro-orm/postgresql';
import { prepareUsers, typicalUsers, BENCH_PASSWORD, mutation } from './fixtures.ts';
import { drain, homeWrites, type HomeWrites } from './home-create.ts';
import {
  describeHomeSize,
  homeReadiness,
  homeSize,
  removeRunPosts,
  snapshotHome,
  unbounded,
  type HomeSize,
} from './home-data.ts';
import { HomeProbe } from './home-probe.ts';
import { homeReads, type HomeReads } from './home-reads.ts';
import { sampleHomeTimelines, HOME_DEEP_PAGES, homeGroupGoal, type HomeSampleGroup } from './home-sample.ts';
import { HomeServers, MODE_ENV } from './home-servers.ts';
import { postgresCpuSeconds, postmasterOf } from './children.ts';
import type { SoloPhaseOptions } from './phases.ts';
import { Progress } from './progress.ts';
import { ms } from './timeline-sample.ts';
import { pageStatements } from './timeline-sql.ts';

/**
 * The probe polls this many of its author's followers, this often (ms); the queue is sampled every
 * SAMPLE_MS. The fan-out writes a post's entries for all followers in one transaction, so a few
 * followers say when it committed; polling more of them, or more often, costs PostgreSQL CPU that
 * only the runs with home timelines would pay (20 followers every 10 ms: ~15% more at 40 posts/s).
 */
const PROBE_FOLLOWERS = 5;
export const POLL_MS = 25;
const SAMPLE_MS = 250;

export interface HomeOptions extends SoloPhaseOptions {
  /** Typical users whose tokens the requests rotate over, as in the main closed loop. */
  users: number;
  pgbenchPath: string | null;
  pgbenchClients: number;
  /** Pages per group of viewers for the database time (both paths, page 1 and deeper). */
  samples: number;
}

export interface HomeSummary {
  settings: { cap: number; mergeFollowers: number };
  /** What the Warble processes without home timelines change (the others run with the run's settings). */
  modeEnv: typeof MODE_ENV;
  users: number;
  /** Which path the fixture users' first pages take with home timelines on (readHomePage's answer). */
  answeredBy: Record<string, number>;
  database: HomeSampleGroup[];
  deepPages: number;
  reads: HomeReads;
  writes: HomeWrites;
  probe: { author: string; followers: number; sampled: number; pollMs: number; sampleMs: number };
  size: HomeSize;
  /** Home timelines whose floor the run's posts raised (trims): fewer pages from the home table until rebuilt. */
  floorsRaised: number;
}

async function floors(em: EntityManager): Promise<Map<string, string>> {
  const rows = await em
    .getConnection()
    .execute<{ user_id: string; floor: string | null }[]>(
      `select user_id, floor_created_at::text || ' ' || floor_id::text as floor from home_timelines`,
    );
  return new Map(rows.map((row) => [row.user_id, row.floor ?? '']));
}

/**
 * The probe author: not merged, with about as many followers as the posters have on average (its
 * posts are fanned out like theirs; one with the most followers would add a load of its own), and
 * some of those followers.
 */
async function probeAuthor(em: EntityManager, posters: string[]) {
  const pool = await em.getConnection().getNativeClient();
  const [author] = (
    await pool.query<{ id: string; username: string; followers: string }>(
      `with counts as (
         select f.followee_id as id, count(*) as followers from follows f group by f.followee_id
       ), target as (
         select coalesce(avg(c.followers), 0) as n from unnest($1::uuid[]) p(id) left join counts c using (id)
       )
       select u.id, u.username, c.followers
       from counts c join users u using (id), target t
       where u.username like 'bench\\_%' and u.deleted_at is null and u.id <> all($1::uuid[])
         and not exists (select from home_merged_authors m where m.author_id = u.id)
       order by abs(c.followers - t.n), u.username limit 1`,
      [posters],
    )
  ).rows;
  if (!author) throw new Error('no bench_ author below the merge threshold has followers');
  const followers = (
    await pool.query<{ id: string }>(
      `select f.follower_id as id from follows f join home_timelines h on h.user_id = f.follower_id
       where f.followee_id = $1 and h.built_at is not null order by random() limit $2`,
      [author.id, PROBE_FOLLOWERS],
    )
  ).rows;
  return { ...author, followers: Number(author.followers), sample: followers.map((row) => row.id) };
}

export async function homePhase(options: HomeOptions): Promise<HomeSummary> {
  const { log } = options;
  const em = options.em();
  const settings = {
    cap: Number(options.warbleEnv.HOME_TIMELINE_CAP),
    mergeFollowers: Number(options.warbleEnv.HOME_TIMELINE_MERGE_FOLLOWERS),
  };
  const pool = await em.getConnection().getNativeClient();
  const ready = await homeReadiness(em, settings.mergeFollowers);
  if (!(settings.cap > 0) || ready.built === 0) {
    throw new Error(
      'no home timelines to measure (HOME_TIMELINE_CAP=0, or none built: npm run bench:seed -- --timelines)',
    );
  }
  const picked = await typicalUsers(em, options.users);
  if (picked.length === 0) throw new Error('no bench_ users to log in as');
  const author = await probeAuthor(
    em,
    picked.map((user) => user.id),
  );
  const authorIds = [...picked.map((user) => user.id), author.id];
  const since = new Date();
  // Each run takes its posts out again; this catches a run that failed half-way.
  options.defer('home data', async () => {
    await removeRunPosts(options.em(), authorIds, since);
    await unbounded(pool, (client) => client.query('vacuum (analyze) posts'));
  });
  const [backend] = await em.getConnection().execute<{ pid: number }[]>('select pg_backend_pid() as pid');
  const postmaster = postmasterOf(Number(backend?.pid));
  if (postmaster === null) log('home  PostgreSQL runs elsewhere: its CPU per call is not measured');
  const postgresCpu = () => postgresCpuSeconds(postmaster);
  const servers = new HomeServers(options);
  // Set once the copy is made. Registered first, so it runs after the servers have stopped
  // (clean-ups run last-in first-out).
  const copy: { restore?: () => Promise<void> } = {};
  options.defer('home timelines', () => copy.restore?.() ?? Promise.resolve());
  options.defer('home servers', () => servers.stopAll());
  // The run's other processes have stopped: a job one of them left locked would hold the fan-out up.
  await servers.unlockJobs();

  const home = await servers.warble('home', 'warble home');
  // A fan-out still catching up (posts of an earlier phase) would share the cores with what follows.
  const backlog = await drain(em, performance.now());
  if (backlog === null) throw new Error('the fan-out did not catch up with the post log within 120 s');
  if (backlog > 100) log(`home  the fan-out caught up with the post log in ${Math.round(backlog)} ms`);
  // The home timelines as they are now (nothing writes them: no post is being written), put back at
  // the end of the phase, or on Ctrl-C.
  const before = await floors(em);
  const restore = await snapshotHome(em, 'phase', log);
  let restored: Promise<void> | undefined;
  copy.restore = () => (restored ??= restore());
  log(`home  ${describeHomeSize(await homeSize(em))}`);

  log(`home  database time per page, both paths: ${options.samples} pages per group of viewers`);
  const database = await sampleHomeTimelines(em, options.samples, HOME_DEEP_PAGES);
  for (const group of database) {
    const { p99 } = homeGroupGoal(group);
    log(
      `home  database time, ${group.name.padEnd(8)} home p50 ${ms(group.first.home.p50)} ms, p99 ${ms(p99)} ms ` +
        `(pull p50 ${ms(group.first.pull.p50)} ms, p99 ${ms(group.first.pull.p99)} ms)`,
    );
  }

  let reads: HomeReads;
  let probeToken: string;
  const answeredBy: Record<string, number> = {};
  let users;
  try {
    const progress = new Progress('home', picked.length, 'logins');
    users = await prepareUsers(home.origin, picked, 0, (done) => progress.update(done));
    progress.finish();
    ({ accessToken: probeToken } = await mutation<{ accessToken: string }>(home.origin, 'auth.login', {
      username: author.username,
      password: BENCH_PASSWORD,
    }));
    for (const user of users) {
      const { answeredBy: by } = await pageStatements(em, user.id, undefined, true);
      answeredBy[by] = (answeredBy[by] ?? 0) + 1;
    }
    reads = await homeReads(
      {
        servers,
        postgresCpu,
        loadCores: options.pinning.loadCores,
        em: options.em,
        databaseUrl: options.databaseUrl,
        pgbenchPath: options.pgbenchPath,
        pgbenchClients: options.pgbenchClients,
        rounds: options.rounds,
        durationSeconds: options.durationSeconds,
        connections: options.connections,
        log,
      },
      users,
      home,
    );
  } finally {
    await home.stop();
  }

  const probe = new HomeProbe({
    databaseUrl: options.databaseUrl,
    followerIds: author.sample,
    pollMs: POLL_MS,
    sampleMs: SAMPLE_MS,
  });
  let writes: HomeWrites;
  try {
    log(
      `home  posts.create: ${users.length} posters; fan-out probe ${author.username} (${author.followers} followers), ` +
        `${author.sample.length} of them polled every ${POLL_MS} ms`,
    );
    writes = await homeWrites(
      {
        servers,
        postgresCpu,
        em: options.em,
        probe,
        probeToken,
        authorIds,
        rounds: options.rounds,
        durationSeconds: options.durationSeconds,
        connections: options.connections,
        log,
      },
      users.map((user, i) => ({
        method: 'POST',
        path: '/trpc/posts.create',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${user.accessToken}` },
        body: JSON.stringify({ body: `Benchmark post ${i + 1} by ${user.username}: load test, please ignore.` }),
      })),
    );
  } finally {
    await probe.dispose();
  }
  const after = await floors(em);
  let floorsRaised = 0;
  for (const [user, floor] of after) if (before.has(user) && before.get(user) !== floor) floorsRaised++;
  log(`home  the runs' trims raised the floor of ${floorsRaised} home timelines; putting the copy back`);
  await copy.restore();
  log('home  vacuum (analyze) of posts after the runs');
  await unbounded(pool, (client) => client.query('vacuum (analyze) posts'));
  const size = await homeSize(em);
  log(`home  ${describeHomeSize(size)}`);
  return {
    settings,
    modeEnv: MODE_ENV,
    users: users.length,
    answeredBy,
    database,
    deepPages: HOME_DEEP_PAGES,
    reads,
    writes,
    probe: {
      author: author.username,
      followers: author.followers,
      sampled: author.sample.length,
      pollMs: POLL_MS,
      sampleMs: SAMPLE_MS,
    },
    size,
    floorsRaised,
  };
}
