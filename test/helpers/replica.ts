// A primary and a streaming replica of it, both embedded PostgreSQL in a temporary folder: tests of
// read replicas need a real standby, and the run's shared server (test/global-setup.ts) has none.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import type pg from 'pg';
import { migrate, ormOptions } from '../../server/db.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../server/embedded-postgres.ts';
import { parseEnv } from '../../server/env.ts';
import { startEmbeddedReplica } from '../../server/replicas/embedded-replica.ts';
import { quoteIdent } from './database-url.ts';
import { freePort } from './free-port.ts';
import { sql as query } from './sessions.ts';

export interface ReplicaPair {
  /** A new database on the primary, migrated (server/db.ts migrate: ours + graphile-worker), and already visible on the replica. */
  createDatabase(): Promise<{ name: string; primaryUrl: string; replicaUrl: string }>;
  /** Waits until the replica has replayed everything the primary had written when called. */
  caughtUp(): Promise<void>;
  /** Replay paused / resumed on the replica (pg_wal_replay_pause/resume): it then lags. */
  pauseReplay(): Promise<void>;
  resumeReplay(): Promise<void>;
  /** Fast stop of the replica server, and a start again on the same data dir (it resumes streaming). */
  stopReplica(): Promise<void>;
  startReplica(): Promise<void>;
  /** Replica then primary stopped, temp dir removed. */
  stop(): Promise<void>;
}

// Bounds on waiting, far above what replay takes (milliseconds): they turn a hang into a failure.
const CATCH_UP_MS = 15_000;
// Durability is worthless for a throwaway pair. synchronous_commit stays on (unlike the shared test
// server): a commit's WAL is then flushed, so sent to the replica, before the commit returns.
const SETTINGS = { fsync: 'off', full_page_writes: 'off', max_connections: '200' };

async function waitFor(what: string, condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + CATCH_UP_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`replica pair: ${what} within ${CATCH_UP_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function startReplicaPair(): Promise<ReplicaPair> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'warble-replica-'));
  // As root, PostgreSQL runs as the `postgres` user, which must be able to pass through.
  await chmod(dir, 0o755);
  const primaryDir = path.join(dir, 'primary');
  const passwordFile = path.join(dir, 'password');
  let primary: EmbeddedPostgres | undefined;
  let replica: EmbeddedPostgres | undefined;
  let replicaPort: number;
  let databases = 0;

  const startReplica = async () => {
    replica = await startEmbeddedReplica({
      primary: { url: primary!.url('postgres'), dataDir: primaryDir, passwordFile },
      dataDir: path.join(dir, 'replica'),
      port: replicaPort,
      settings: SETTINGS,
    });
  };
  const stop = async () => {
    await replica?.stop();
    await primary?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const onReplica = <Row extends pg.QueryResultRow>(sql: string) => {
    if (!replica) throw new Error('replica pair: the replica is stopped');
    return query<Row>(replica.url('postgres'), sql);
  };
  const caughtUp = async () => {
    const [{ lsn }] = (await query<{ lsn: string }>(
      primary!.url('postgres'),
      'select pg_current_wal_lsn()::text as lsn',
    )) as [{ lsn: string }];
    await waitFor('the replica did not replay the primary’s WAL', async () => {
      const [row] = await onReplica<{ done: boolean }>(`select pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn as done`);
      return row?.done === true;
    });
  };

  try {
    primary = await startEmbeddedPostgres({
      dataDir: primaryDir,
      passwordFile,
      port: await freePort(),
      settings: SETTINGS,
    });
    replicaPort = await freePort();
    await startReplica();
  } catch (error) {
    await stop();
    throw error;
  }

  const parsed = parseEnv({});
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  const env = parsed.env;

  return {
    async createDatabase() {
      const name = `replica_test_${++databases}`;
      const primaryUrl = primary.url(name);
      await query(primary.url('postgres'), `create database ${quoteIdent(name)}`);
      const orm = await MikroORM.init(ormOptions(env, primaryUrl));
      try {
        await migrate(orm);
      } finally {
        await orm.close();
      }
      await caughtUp();
      return { name, primaryUrl, replicaUrl: replica!.url(name) };
    },
    caughtUp,
    async pauseReplay() {
      await onReplica('select pg_wal_replay_pause()');
      // Requested, and from then on no further record is replayed ('paused' once one arrives).
      await waitFor('replay did not pause', async () => {
        const [row] = await onReplica<{ state: string }>('select pg_get_wal_replay_pause_state() as state');
        return row?.state !== 'not paused';
      });
    },
    async resumeReplay() {
      await onReplica('select pg_wal_replay_resume()');
    },
    async stopReplica() {
      await replica?.stop();
      replica = undefined;
    },
    startReplica,
    stop,
  };
}
