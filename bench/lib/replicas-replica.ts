// The bench's read replica (issue #18): a streaming replica of the bench's embedded PostgreSQL,
// started with server/replicas/embedded-replica.ts. Its folder and its replication slot are kept
// between runs: only the first run copies the primary's tables (~1.5 GB at the bench scale, a few
// minutes here); later runs start the copy again and it fetches what it missed from its slot.
// A kept slot makes the primary keep WAL for the replica, bounded by max_slot_wal_keep_size (1 GB,
// server/db.ts); beyond it the slot is lost and the next run seeds the replica again. When the
// folder is removed, the next bench run drops the slot (forgetRemovedReplica).
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import pg from 'pg';
import { embeddedPaths } from '../../server/db.ts';
import { startEmbeddedReplica } from '../../server/replicas/embedded-replica.ts';
import { freePort } from '../../test/helpers/free-port.ts';
import { postmasterOf } from './children.ts';
import { pinSelf, type Pinning } from './cpu.ts';
import { Progress } from './progress.ts';

const MB = 1024 ** 2;
// The copy counts into the helper's start-up time; a first copy of the bench data takes minutes.
const START_TIMEOUT_MS = 60 * 60_000;
const CATCH_UP_TIMEOUT_MS = 30 * 60_000;
const MAX_FORWARDED_LINES = 20;

/** The folder and slot `EMBEDDED_REPLICAS=1` gives its replica (server/db.ts): one copy serves both. */
export function benchReplicaPaths(dataDir: string) {
  return { dataDir: path.resolve(dataDir, 'postgres-replica-1'), slot: 'warble_replica_1' };
}

export interface BenchReplica {
  dataDir: string;
  slot: string;
  /** The bench database (`warble`) on the replica: DATABASE_REPLICA_URLS. Holds the password. */
  url: string;
  /** The replica's postmaster, for its CPU time (null: not readable). */
  postmaster: number | null;
  /** Whether this run copied the primary (first run, or the slot was lost). */
  seeded: boolean;
  startMs: number;
  /** From streaming until it had replayed everything the primary had written when it started. */
  catchUpMs: number;
  stop(): Promise<void>;
}

async function bytesUnder(dir: string, skipTop: string[] = []): Promise<number> {
  const names = await readdir(dir, { recursive: true }).catch(() => []);
  let total = 0;
  for (const name of names) {
    if (skipTop.some((top) => name === top || name.startsWith(`${top}${path.sep}`))) continue;
    const info = await stat(path.join(dir, name)).catch(() => undefined);
    if (info?.isFile()) total += info.size;
  }
  return total;
}

/** A progress bar on stderr while the helper copies the primary into `<dataDir>.partial`. */
function watchCopy(partial: string, totalBytes: number) {
  let progress: Progress | undefined;
  let busy = false;
  // Only forward: a walk that meets the finished copy being renamed counts less.
  let copied = 0;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void bytesUnder(partial)
      .then((bytes) => {
        if (bytes <= copied) return;
        copied = bytes;
        (progress ??= new Progress('replica', totalBytes / MB, 'MB copied')).update(bytes / MB);
      })
      .finally(() => (busy = false));
  }, 1000);
  return () => {
    clearInterval(timer);
    progress?.finish();
  };
}

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {});
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Waits until the replica has replayed what the primary had written when called; a bar when it takes a while. */
async function catchUp(primaryUrl: string, replicaUrl: string): Promise<void> {
  const target = await withClient(primaryUrl, async (client) => {
    const { rows } = await client.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    return rows[0]!.lsn;
  });
  const deadline = Date.now() + CATCH_UP_TIMEOUT_MS;
  await withClient(replicaUrl, async (client) => {
    let progress: Progress | undefined;
    let first: number | undefined;
    for (;;) {
      const { rows } = await client.query<{ behind: string }>(
        'select greatest(pg_wal_lsn_diff($1::pg_lsn, pg_last_wal_replay_lsn()), 0)::text as behind',
        [target],
      );
      const behind = Number(rows[0]!.behind) / MB;
      first ??= behind;
      if (behind === 0) {
        progress?.finish();
        return;
      }
      if (Date.now() > deadline)
        throw new Error(`the replica did not catch up within ${CATCH_UP_TIMEOUT_MS / 60_000} min`);
      if (first > 16) (progress ??= new Progress('catch-up', first, 'MB of WAL replayed')).update(first - behind);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
}

/**
 * Starts the bench's replica of the primary at `primaryUrl` (seeding it when its folder holds no
 * copy), pinned with PostgreSQL to the server cores, and waits until it has caught up.
 */
export async function startBenchReplica(options: {
  dataDir: string;
  primaryUrl: string;
  pinning: Pinning;
  log: (line: string) => void;
}): Promise<BenchReplica> {
  const { log, pinning } = options;
  const primary = embeddedPaths({ DATA_DIR: options.dataDir });
  const { dataDir, slot } = benchReplicaPaths(options.dataDir);
  const seeding = (await stat(path.join(dataDir, 'PG_VERSION')).catch(() => undefined)) === undefined;
  let seeded = seeding;
  const primaryBytes = await bytesUnder(primary.dataDir, ['pg_wal']);
  log(
    seeding
      ? `replicas  seeding a replica in ${dataDir}: a copy of ${Math.round(primaryBytes / MB)} MB, ` +
          'kept for later runs (delete the folder to remove it)'
      : `replicas  starting the replica in ${dataDir} (seeded by an earlier run; it resumes from slot ${slot})`,
  );
  const stopWatching = watchCopy(`${dataDir}.partial`, primaryBytes);
  const started = performance.now();
  let forwarded = 0;
  let stopping = false;
  // Its processes inherit our cores: PostgreSQL's, like the primary's.
  pinSelf(pinning, pinning.serverCores);
  let replica;
  try {
    replica = await startEmbeddedReplica({
      primary: { url: options.primaryUrl, ...primary },
      dataDir,
      port: await freePort(),
      slotName: slot,
      timeoutMs: START_TIMEOUT_MS,
      settings: { jit: 'off' },
      onWarn: (message) => {
        if (message.startsWith('seeding the replica')) seeded = true;
        log(`replicas  ${message}`);
      },
      onLog: (line) => {
        // Its walreceiver's FATAL at a fast shutdown is no news.
        if (stopping || !/FATAL|PANIC|ERROR/.test(line) || forwarded++ >= MAX_FORWARDED_LINES) return;
        log(`[replica] ${line.slice(0, 500)}`);
      },
    });
  } finally {
    stopWatching();
    pinSelf(pinning, pinning.loadCores);
  }
  const startMs = performance.now() - started;
  try {
    const database = decodeURIComponent(new URL(options.primaryUrl).pathname.slice(1));
    const url = replica.url(database);
    const caught = performance.now();
    await catchUp(options.primaryUrl, url);
    const catchUpMs = performance.now() - caught;
    // Read while the backend lives: its parent is the replica's postmaster.
    const postmaster = await withClient(url, async (client) => {
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
      return postmasterOf(rows[0]!.pid);
    });
    log(
      `replicas  replica streaming on port ${replica.port} after ${(startMs / 1000).toFixed(1)} s, ` +
        `caught up ${(catchUpMs / 1000).toFixed(1)} s later`,
    );
    return {
      dataDir,
      slot,
      url,
      postmaster,
      seeded,
      startMs,
      catchUpMs,
      stop: () => {
        stopping = true;
        return replica.stop();
      },
    };
  } catch (error) {
    await replica.stop();
    throw error;
  }
}

/**
 * The bench replica's slot, once its folder is gone (deleted by hand): dropped, or the primary
 * would keep WAL for a replica that no longer exists (up to max_slot_wal_keep_size).
 */
export async function forgetRemovedReplica(em: EntityManager, dataDir: string, log: (line: string) => void) {
  const replica = benchReplicaPaths(dataDir);
  if (await stat(path.join(replica.dataDir, 'PG_VERSION')).catch(() => undefined)) return;
  const [slot] = await em
    .getConnection()
    .execute<{ active: boolean }[]>(
      'select active_pid is not null as active from pg_replication_slots where slot_name = ?',
      [replica.slot],
    );
  if (!slot || slot.active) return;
  await em.getConnection().execute('select pg_drop_replication_slot(?)', [replica.slot]);
  log(`replicas  dropped the replication slot ${replica.slot}: its replica (${replica.dataDir}) was removed`);
}
