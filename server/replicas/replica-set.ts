// Read replicas (DATABASE_REPLICA_URLS): which one, if any, may answer a list read.
//
// Every 100 ms the process notes the primary's WAL position (flushed) and asks each replica how far it has
// replayed. A replica is used when it is up and at most DATABASE_REPLICA_MAX_LAG_MS behind (it has
// replayed what the primary had written that long ago) and, for a signed-in caller, when it has
// replayed the caller's latest write (write-marks.ts). Otherwise the read goes to the primary: a
// replica that is down or behind costs latency, never a wrong answer. docs/operations.md, "Read
// replicas".
import { MikroORM, type EntityManager } from '@mikro-orm/postgresql';
import type { FastifyBaseLogger } from 'fastify';
import { ormOptions, type DatabaseEnv } from '../db.ts';
import { isDatabaseUnavailable } from '../errors.ts';
import { parseLsn, writeMarkOf } from './write-marks.ts';

const CHECK_EVERY_MS = 100;
// A replica that has not answered its check within this is counted as down until it does.
const CHECK_TIMEOUT_MS = 1000;
// Besides being unavailable, a replica may cancel a read that conflicts with the WAL it replays
// (40001, "canceling statement due to conflict with recovery"): the primary answers it instead.
const RECOVERY_CONFLICT = '40001';

type State = 'starting' | 'in use' | 'down' | 'behind' | 'not a replica';

/** One replica: its own ORM (and pool), and what its last check found. */
export class Replica {
  readonly orm: MikroORM;
  /** "replica 1 (host:port/database)": for logs, never with credentials. */
  readonly label: string;
  replayed = -1n;
  state: State = 'starting';

  constructor(orm: MikroORM, label: string) {
    this.orm = orm;
    this.label = label;
  }
}

interface Sample {
  at: number;
  lsn: bigint;
}

export interface ReplicaSetOptions {
  env: DatabaseEnv & { DATABASE_REPLICA_MAX_LAG_MS: number };
  logger: FastifyBaseLogger;
}

export class ReplicaSet {
  readonly #primary: MikroORM;
  readonly #replicas: Replica[];
  readonly #maxLagMs: number;
  readonly #log: FastifyBaseLogger;
  // The primary's WAL position over the last moments, oldest first: how a replica's lag is measured.
  readonly #samples: Sample[] = [];
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #turn = 0;

  private constructor(primary: MikroORM, replicas: Replica[], options: ReplicaSetOptions) {
    this.#primary = primary;
    this.#replicas = replicas;
    this.#maxLagMs = options.env.DATABASE_REPLICA_MAX_LAG_MS;
    this.#log = options.logger;
  }

  /** Undefined without replica URLs. No connection is made yet: a replica that is down is only skipped. */
  static async open(primary: MikroORM, urls: string[], options: ReplicaSetOptions): Promise<ReplicaSet | undefined> {
    if (urls.length === 0) return undefined;
    const replicas = await Promise.all(
      urls.map(async (url, index) => {
        const { hostname, port, pathname } = new URL(url);
        const label = `replica ${index + 1} (${hostname}:${port || 5432}${pathname})`;
        const log = options.logger.child({ component: 'replicas', replica: index + 1 });
        return new Replica(await MikroORM.init({ ...ormOptions(options.env, url, log), ensureDatabase: false }), label);
      }),
    );
    return new ReplicaSet(primary, replicas, options);
  }

  /** Checks now, then every CHECK_EVERY_MS until `close`. */
  start(): void {
    const loop = async () => {
      this.#checking = this.#check();
      await this.#checking;
      this.#timer = setTimeout(() => void loop(), CHECK_EVERY_MS);
      this.#timer.unref();
    };
    void loop();
  }

  async close(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#checking;
    await Promise.all(this.#replicas.map((replica) => replica.orm.close()));
  }

  /**
   * The replica to read from for `userId` (null: an anonymous caller), or undefined for the primary.
   * `primary` reads the caller's write mark, only when some replica is in use at all.
   */
  async choose(primary: EntityManager, userId: string | null): Promise<Replica | undefined> {
    let usable = this.#replicas.filter((replica) => replica.state === 'in use');
    if (usable.length === 0) return undefined;
    if (userId) {
      const mark = await writeMarkOf(primary, userId);
      if (mark !== undefined) usable = usable.filter((replica) => replica.replayed >= mark);
    }
    if (usable.length === 0) return undefined;
    this.#turn = (this.#turn + 1) % usable.length;
    return usable[this.#turn];
  }

  /**
   * A read on `replica` failed with `error`: true when the primary should answer it instead. A
   * replica that is unreachable is not used again until a check finds it up.
   */
  failedOn(replica: Replica, error: unknown): boolean {
    if (isDatabaseUnavailable(error)) {
      this.#set(replica, 'down', 'a read failed');
      return true;
    }
    for (let cause = error, depth = 0; cause && depth < 8; depth++) {
      if ((cause as { code?: unknown }).code === RECOVERY_CONFLICT) return true;
      cause = (cause as { cause?: unknown }).cause;
    }
    return false;
  }

  async #check(): Promise<void> {
    const at = Date.now();
    try {
      const [row] = await this.#primary.em
        .getConnection()
        // Flushed, not inserted: a replica can only ever have what was flushed, and the insert
        // position may point past a page header no replica reports.
        .execute<{ lsn: string }[]>('select pg_current_wal_flush_lsn()::text as lsn');
      this.#samples.push({ at, lsn: parseLsn(row!.lsn) });
    } catch {
      // The primary is down: there is nothing to measure lag against, and reads fail anyway.
      return;
    }
    // Enough history to tell a lag of up to the maximum, and a little more.
    while (this.#samples.length > 2 && this.#samples[1]!.at < at - this.#maxLagMs - 1000) this.#samples.shift();
    await Promise.all(this.#replicas.map((replica) => this.#checkReplica(replica, at)));
  }

  async #checkReplica(replica: Replica, now: number): Promise<void> {
    let replayed: string | null;
    try {
      const asked = replica.orm.em
        .getConnection()
        .execute<{ lsn: string | null }[]>('select pg_last_wal_replay_lsn()::text as lsn');
      const [row] = await withTimeout(asked, CHECK_TIMEOUT_MS);
      replayed = row!.lsn;
    } catch (error) {
      this.#set(replica, 'down', (error as Error).message);
      return;
    }
    if (replayed === null) {
      // A server that is not in recovery: a primary given as a replica, or a promoted replica. Its
      // data need not follow this primary's, so it is never read from.
      this.#set(replica, 'not a replica', 'it is not replaying WAL (a primary, or promoted)');
      return;
    }
    replica.replayed = parseLsn(replayed);
    const lagMs = this.#lag(replica.replayed, now);
    if (lagMs <= this.#maxLagMs) this.#set(replica, 'in use');
    else this.#set(replica, 'behind', `${Math.round(lagMs)} ms behind (max ${this.#maxLagMs})`);
  }

  /** How long ago the primary last had no WAL that `replayed` lacks (0: it has everything). */
  #lag(replayed: bigint, now: number): number {
    for (let i = this.#samples.length - 1; i >= 0; i--) {
      const sample = this.#samples[i]!;
      if (sample.lsn <= replayed) return i === this.#samples.length - 1 ? 0 : now - sample.at;
    }
    return Number.POSITIVE_INFINITY;
  }

  // One log line per change of state, not per check.
  #set(replica: Replica, state: State, reason?: string): void {
    if (replica.state === state) return;
    const was = replica.state;
    replica.state = state;
    const line = { replica: replica.label, state, was };
    if (state === 'in use') {
      this.#log.info(line, `read replica in use: ${replica.label}`);
    } else if (state === 'not a replica') {
      this.#log.error({ ...line, reason }, `read replica skipped, ${reason}: ${replica.label}`);
    } else {
      this.#log.warn({ ...line, reason }, `read replica skipped (${state}): ${replica.label}; reads go to the primary`);
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
