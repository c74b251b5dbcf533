// Everything about reaching PostgreSQL: the ORM's options, the embedded server used when no
// DATABASE_URL is given, migrations, and the readiness ping.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Migrator } from '@mikro-orm/migrations';
import { Logger as WorkerLogger, runMigrations } from 'graphile-worker';
import { MikroORM, type Options } from '@mikro-orm/postgresql';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded-postgres.ts';
import { startEmbeddedReplica } from './replicas/embedded-replica.ts';
import type { Env } from './env.ts';
import { LoginAttemptSchema } from './auth/login-attempt.entity.ts';
import { RefreshToken } from './auth/refresh-token.entity.ts';
import { Session } from './auth/session.entity.ts';
import { Post } from './posts/post.entity.ts';
import { TimelineEvent } from './realtime/timeline-event.entity.ts';
import { FanoutCursor, HomeTimeline, HomeTimelineEntry, MergedAuthor } from './timelines/home.entity.ts';
import { WriteMark } from './replicas/write-marks.ts';
import { Follow } from './users/follow.entity.ts';
import { User } from './users/user.entity.ts';

export const MIGRATIONS_DIR = path.join(import.meta.dirname, 'migrations');
const EMBEDDED_DATABASE = 'warble';
// Any constant works; it only has to be the same in every Warble process sharing a database.
const MIGRATION_LOCK_KEY = 0x7761_7262; // "warb"

export type DatabaseEnv = Pick<
  Env,
  'DATABASE_POOL_MAX' | 'DATABASE_CONNECT_TIMEOUT_MS' | 'DATABASE_STATEMENT_TIMEOUT_MS'
>;

export function ormOptions(env: DatabaseEnv, clientUrl: string, log?: Pick<Logger, 'warn' | 'debug'>): Options {
  return {
    clientUrl,
    entities: [
      User,
      Session,
      RefreshToken,
      LoginAttemptSchema,
      Post,
      Follow,
      TimelineEvent,
      HomeTimeline,
      HomeTimelineEntry,
      MergedAuthor,
      FanoutCursor,
      WriteMark,
    ],
    extensions: [Migrator],
    // The job queue's tables are graphile-worker's, migrated by it (migrate() below).
    schemaGenerator: { ignoreSchema: ['graphile_worker'] },
    // Off on purpose: every request forks its own EntityManager, and a stray use of the global one
    // would share an identity map between users.
    allowGlobalContext: false,
    // Operators create their database; only the embedded server creates its own.
    ensureDatabase: false,
    migrations: {
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      glob: '!(*.d).{js,ts}',
      // The snapshot is written when a migration is created, reviewed and committed with it;
      // applying migrations must not rewrite files in the source tree.
      snapshotOnMigrate: false,
      // One name whatever the database is called, so every checkout diffs against the committed file.
      snapshotName: '.snapshot',
      silent: true,
    },
    pool: { max: env.DATABASE_POOL_MAX, idleTimeoutMillis: 30_000 },
    driverOptions: {
      // Without these a dead or overloaded database makes requests hang instead of failing fast
      // with SERVICE_UNAVAILABLE.
      connectionTimeoutMillis: env.DATABASE_CONNECT_TIMEOUT_MS,
      statement_timeout: env.DATABASE_STATEMENT_TIMEOUT_MS,
      keepAlive: true,
      application_name: 'warble',
      onPoolCreated: (pool: Pool) => {
        // MikroORM already keeps pool errors from crashing the process, but only reports them in
        // debug mode; a database restart is worth a line in the log.
        // While the pool ends (shutdown), connections still closing may be cut by the server: expected.
        // pg attaches the whole client to the error; the log needs only what happened.
        pool.on('error', (error) => {
          if (pool.ending) return;
          const { code } = error as Error & { code?: string };
          log?.warn({ err: { message: error.message, code } }, 'database connection lost; the pool will reconnect');
        });
      },
    },
    logger: (message) => log?.debug({ component: 'orm' }, message),
  };
}

export function embeddedPaths(env: Pick<Env, 'DATA_DIR'>) {
  return {
    dataDir: path.resolve(env.DATA_DIR, 'postgres'),
    passwordFile: path.resolve(env.DATA_DIR, 'postgres-password'),
  };
}

/** The URL of an embedded PostgreSQL that `npm start` (or a db: script) runs, for tools such as the MikroORM CLI. */
export function embeddedUrl(env: Pick<Env, 'DATA_DIR' | 'EMBEDDED_PG_PORT'>): string {
  const { passwordFile } = embeddedPaths(env);
  let password: string;
  try {
    password = readFileSync(passwordFile, 'utf8').trim();
  } catch {
    throw new Error(`no DATABASE_URL, and no embedded PostgreSQL in ${env.DATA_DIR} yet: run \`npm start\` once`);
  }
  return `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${env.EMBEDDED_PG_PORT}/${EMBEDDED_DATABASE}`;
}

export interface Database {
  orm: MikroORM;
  /** Where the data lives, for the start-up message (never includes a password). */
  description: string;
  /** The `warble` database on each embedded replica (EMBEDDED_REPLICAS); empty otherwise. */
  replicaUrls: string[];
  /** Closes the ORM, then stops the embedded servers (replicas first) if this process started them. */
  close(): Promise<void>;
}

/** Connects to DATABASE_URL, or starts the embedded PostgreSQL under DATA_DIR when it is unset. */
export async function openDatabase(env: Env, log: Logger): Promise<Database> {
  let embedded: EmbeddedPostgres | undefined;
  const replicas: EmbeddedPostgres[] = [];
  const stopEmbedded = async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await embedded?.stop();
  };
  let clientUrl = env.DATABASE_URL;
  let description: string;
  if (clientUrl) {
    const url = new URL(clientUrl);
    description = `PostgreSQL at ${url.hostname}:${url.port || 5432}${url.pathname}`;
  } else {
    const { dataDir, passwordFile } = embeddedPaths(env);
    const started = Date.now();
    embedded = await startEmbeddedPostgres({
      dataDir,
      passwordFile,
      port: env.EMBEDDED_PG_PORT,
      onLog: (line) => log.debug({ component: 'postgres' }, line),
      onWarn: (message) => log.warn({ component: 'postgres' }, message),
      settings: {
        // Short OLTP queries: JIT compilation only ever adds latency to them (docs/benchmarks.md).
        jit: 'off',
        // A replica's slot keeps WAL until the replica has it; a replica that is not started any
        // more (EMBEDDED_REPLICAS lowered, npm start after start:replica) must not fill the disk.
        // Beyond this its slot is lost and it is seeded again on its next start.
        max_slot_wal_keep_size: '1GB',
      },
    });
    log.info({ dataDir, port: embedded.port, ms: Date.now() - started }, 'embedded PostgreSQL started');
    // Replicas start before the `warble` database exists (MikroORM creates it below): its creation
    // and the migrations reach them by streaming.
    try {
      for (let n = 1; n <= env.EMBEDDED_REPLICAS; n++) {
        const replicaStarted = Date.now();
        const replicaDir = path.resolve(env.DATA_DIR, `postgres-replica-${n}`);
        const replica = await startEmbeddedReplica({
          primary: { url: embedded.url('postgres'), dataDir, passwordFile },
          dataDir: replicaDir,
          port: env.EMBEDDED_PG_PORT + n,
          slotName: `warble_replica_${n}`,
          onLog: (line) => log.debug({ component: 'postgres', replica: n }, line),
          onWarn: (message) => log.warn({ component: 'postgres', replica: n }, message),
          settings: { jit: 'off' },
        });
        replicas.push(replica);
        const ms = Date.now() - replicaStarted;
        log.info({ replica: n, dataDir: replicaDir, port: replica.port, ms }, 'embedded PostgreSQL replica streaming');
      }
    } catch (error) {
      await stopEmbedded();
      throw error;
    }
    clientUrl = embedded.url(EMBEDDED_DATABASE);
    description = `embedded PostgreSQL in ${dataDir}`;
    if (replicas.length) description += ` with ${replicas.length} streaming replica(s)`;
  }

  let orm: MikroORM;
  try {
    orm = await MikroORM.init({ ...ormOptions(env, clientUrl, log), ensureDatabase: embedded !== undefined });
    // Connect now, so a wrong URL or password stops start-up instead of failing the first request.
    await orm.connect();
  } catch (error) {
    await stopEmbedded();
    throw error;
  }
  return {
    orm,
    description,
    replicaUrls: replicas.map((replica) => replica.url(EMBEDDED_DATABASE)),
    async close() {
      await orm.close();
      await stopEmbedded();
    },
  };
}

// graphile-worker logs each of its own migrations at info level; ours are summed up by migrateAndLog.
const quietLogger = new WorkerLogger(() => () => {});

/**
 * Applies pending migrations (ours, then the job queue's). Several processes may start at once against one database: a
 * session-level advisory lock lets exactly one of them migrate while the others wait, then find
 * nothing pending.
 */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const pool = await orm.em.getConnection().getNativeClient();
  const client = await pool.connect();
  try {
    // Waiting for another process's migration may take longer than a request may.
    await client.query('set statement_timeout = 0');
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    try {
      const applied = await orm.migrator.up();
      // The job queue's schema (graphile_worker), under the same lock; a no-op when up to date.
      await runMigrations({ pgPool: pool, logger: quietLogger });
      return applied.map((migration) => migration.name);
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    // Destroyed rather than returned to the pool: it carries a changed statement_timeout, and
    // after an error possibly the lock, which ending the session releases.
    client.release(true);
  }
}

/** migrate(), with one log line saying what it did (start-up of a server or of a cluster). */
export async function migrateAndLog(orm: MikroORM, log: Logger): Promise<void> {
  const applied = await migrate(orm);
  log.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'database schema is up to date');
}

/** True when the database answers a trivial query within `timeoutMs`. */
export async function pingDatabase(orm: MikroORM, timeoutMs = 1000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ping = orm.em
    .getConnection()
    .execute('select 1')
    .then(
      () => true,
      () => false,
    );
  try {
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
