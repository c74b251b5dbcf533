// The command line of bench/run.ts.
import path from 'node:path';
import { flags, intOption, parseOrExit, UsageError } from './args.ts';

export const BCRYPT_COST = 12;
export const ACCESS_TOKEN_TTL = 3600;
const RESULTS_DIR = path.join(import.meta.dirname, '..', 'results');

const HELP = `Usage: npm run bench -- [options]

  --rounds N             interleaved rounds of every measurement (default 3)
  --duration S           seconds per closed-loop and per open-loop run (default 5; logins run twice as long)
  --connections N        concurrent connections of the load generators (default 50)
  --quick                a smoke test: --rounds 1 --duration 2 unless given
  --out DIR              where results go (default bench/results): <UTC time>.{json,md,svg} and latest.*
  --users N              typical users whose tokens the requests rotate over (default 50)
  --pages N              the deep timeline page is the one after N pages (default 20)
  --login-users N        accounts signed up for the login runs, at bcrypt cost ${BCRYPT_COST} (default 10)
  --login-connections N  connections of the closed-loop login run (default 4)
  --storm-rate N         logins per second during the login storm (default 5)
  --pgbench-clients N    pgbench connections for the timeline's SQL (default 8)
  --flood-connections N  connections of the one address that floods Warble beside a bystander (default 100)
  --seed-users N, --seed-posts N, --seed-follows N
                         passed to bench/seed.ts when the database holds no benchmark data yet
                         (default 10,000 users and 1,000,000 posts: about a minute)
  --reseed               empty the benchmark database and seed it again first
  --only PHASE           run one phase alone: realtime (streams' memory, fan-out, posts.create with
                         streams open), rest (the hot procedures over /api beside /trpc, and what
                         their output checks cost), home (home timelines against the pull query:
                         database time, posts.timeline, posts.create with the fan-out, its lag and
                         queue, disk), or replicas (posts.timeline with one read replica beside none,
                         and which server each one's reads went to; the replica is kept in
                         DATA_DIR/postgres-replica-1: delete that folder to remove it); its results
                         go to <UTC time>-PHASE.* and latest-PHASE.*
  --help                 show this text

Database: DATABASE_URL if set, else the embedded PostgreSQL in DATA_DIR (default here: .data/bench)
on EMBEDDED_PG_PORT (default here: 54610), so that development data is never touched.
`;

export type Options = ReturnType<typeof parseOptions>;

export function parseOptions() {
  return parseOrExit(() => {
    const values = flags(
      {
        rounds: { type: 'string' },
        duration: { type: 'string' },
        connections: { type: 'string' },
        quick: { type: 'boolean', default: false },
        out: { type: 'string', default: RESULTS_DIR },
        users: { type: 'string' },
        pages: { type: 'string' },
        'login-users': { type: 'string' },
        'login-connections': { type: 'string' },
        'storm-rate': { type: 'string' },
        'pgbench-clients': { type: 'string' },
        'flood-connections': { type: 'string' },
        'seed-users': { type: 'string' },
        'seed-posts': { type: 'string' },
        'seed-follows': { type: 'string' },
        reseed: { type: 'boolean', default: false },
        only: { type: 'string' },
      },
      HELP,
    );
    const only = values.only;
    if (only !== undefined && only !== 'realtime' && only !== 'rest' && only !== 'home' && only !== 'replicas') {
      throw new UsageError(`--only takes: realtime, rest, home, replicas (got "${only}")`);
    }
    const optional = (name: string, value: string | undefined, min: number, max: number) =>
      value === undefined ? undefined : intOption(name, value, 0, min, max);
    return {
      rounds: intOption('rounds', values.rounds, values.quick ? 1 : 3, 1, 100),
      duration: intOption('duration', values.duration, values.quick ? 2 : 5, 1, 3600),
      connections: intOption('connections', values.connections, 50, 1, 10_000),
      quick: values.quick,
      out: values.out,
      users: intOption('users', values.users, 50, 1, 100),
      pages: intOption('pages', values.pages, 20, 1, 1000),
      loginUsers: intOption('login-users', values['login-users'], 10, 1, 1000),
      loginConnections: intOption('login-connections', values['login-connections'], 4, 1, 1000),
      stormRate: intOption('storm-rate', values['storm-rate'], 5, 1, 1000),
      pgbenchClients: intOption('pgbench-clients', values['pgbench-clients'], 8, 1, 1000),
      floodConnections: intOption('flood-connections', values['flood-connections'], 100, 1, 1000),
      only,
      seed: {
        users: optional('seed-users', values['seed-users'], 100, 10_000_000),
        posts: optional('seed-posts', values['seed-posts'], 0, 1_000_000_000),
        follows: optional('seed-follows', values['seed-follows'], 1, 100_000),
        reset: values.reseed,
      },
    };
  }, HELP);
}
