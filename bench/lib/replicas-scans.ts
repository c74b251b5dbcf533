// Proof of routing for the replicas phase: how often each server scanned the tables a timeline page
// reads (pg_stat_user_tables: seq_scan + idx_scan), on the primary and on the replica. A standby
// counts the scans of the queries it answers itself. A backend flushes its counts at the end of a
// transaction at most once a second; what is left when it goes idle it flushes
// PGSTAT_IDLE_INTERVAL (10 s, src/backend/utils/activity/pgstat.c) later. Read sooner, a run's last
// second lands in the next run's counts (seen: 3-4 scans per call of one server counted for the
// other), so the counts are read SETTLE_MS after the load stops, each read also the next run's start.
import pg from 'pg';

/** What a timeline page reads (home read and pull query), and what the routing itself reads on the primary. */
export const SCANNED_TABLES = [
  'posts',
  'users',
  'follows',
  'home_timeline_entries',
  'home_timelines',
  'write_marks',
  'sessions',
] as const;
export type ScannedTable = (typeof SCANNED_TABLES)[number];
export type Scans = Record<ScannedTable, number>;

/** The tables of the page itself: those a server with a replica should leave to the replica. */
export const PAGE_TABLES: ScannedTable[] = ['posts', 'users', 'follows', 'home_timeline_entries', 'home_timelines'];

export const SETTLE_MS = 11_000;

export const noScans = (): Scans => Object.fromEntries(SCANNED_TABLES.map((table) => [table, 0])) as Scans;

export const addScans = (a: Scans, b: Scans): Scans =>
  Object.fromEntries(SCANNED_TABLES.map((table) => [table, a[table] + b[table]])) as Scans;

const minus = (a: Scans, b: Scans): Scans =>
  Object.fromEntries(SCANNED_TABLES.map((table) => [table, a[table] - b[table]])) as Scans;

/** One connection each to the primary and the replica, reading their scan counts. */
export class ScanCounter {
  readonly #clients: { primary: pg.Client; replica: pg.Client };

  private constructor(primary: pg.Client, replica: pg.Client) {
    this.#clients = { primary, replica };
  }

  static async open(primaryUrl: string, replicaUrl: string): Promise<ScanCounter> {
    const connect = async (url: string) => {
      const client = new pg.Client({ connectionString: url, application_name: 'warble bench scans' });
      client.on('error', () => {});
      await client.connect();
      return client;
    };
    const primary = await connect(primaryUrl);
    try {
      return new ScanCounter(primary, await connect(replicaUrl));
    } catch (error) {
      await primary.end();
      throw error;
    }
  }

  /** Both servers' counts, after the backends of the last load have flushed theirs. */
  async read(): Promise<{ primary: Scans; replica: Scans }> {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    const [primary, replica] = await Promise.all([
      this.#read(this.#clients.primary),
      this.#read(this.#clients.replica),
    ]);
    return { primary, replica };
  }

  /** What happened between two reads. */
  static delta(after: { primary: Scans; replica: Scans }, before: { primary: Scans; replica: Scans }) {
    return { primary: minus(after.primary, before.primary), replica: minus(after.replica, before.replica) };
  }

  async close(): Promise<void> {
    await Promise.all([this.#clients.primary.end(), this.#clients.replica.end()].map((p) => p.catch(() => {})));
  }

  async #read(client: pg.Client): Promise<Scans> {
    // Outside a transaction each statement sees fresh counts (stats_fetch_consistency caches per transaction).
    const { rows } = await client.query<{ relname: ScannedTable; scans: string }>(
      `select relname, coalesce(seq_scan, 0) + coalesce(idx_scan, 0) as scans
       from pg_stat_user_tables where schemaname = current_schema() and relname = any($1)`,
      [SCANNED_TABLES],
    );
    const scans = noScans();
    for (const row of rows) scans[row.relname] = Number(row.scans);
    return scans;
  }
}
