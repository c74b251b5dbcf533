// The SQL of live timelines, over timeline_events (written by a trigger on posts, see
// post.entity.ts).
//
// The order of the log: a sequence id is taken when a row is written, not when it commits, so id 11
// can become visible before id 10 — and a reader that moved past 11 would never see 10. Each row
// also carries its transaction's id (tx). A transaction older than the oldest one still running
// (the snapshot's xmin) can no longer commit anything, so the rows with tx below that horizon are
// final: readers take the log in (tx, id) order and never beyond the horizon. An event's place is
// the pair, packed into one bigint key (tx in the high 64 bits), which is also its stream id.
import type { Pool } from 'pg';
import type { PoolSource } from '../limits/quota.ts';
import type { PostDto } from '../posts/post.dto.ts';

/** What a stream sends: the contract's two event types. */
export type TimelineEventData = { type: 'post'; post: PostDto } | { type: 'delete'; id: string };

export interface LoggedEvent {
  /** Its place in the log: (tx, id) packed; the stream's event id (see `eventId`). */
  id: bigint;
  authorId: string;
  data: TimelineEventData;
}

/** The channel every process LISTENs on for "the log grew". */
export const CHANNEL = 'warble_timeline';

// Kept this long: resuming needs at least 10 minutes (the contract); an hour covers a laptop lid.
export const RETENTION_MINUTES = 60;
// How long events the home timelines' fan-out has not read are kept beyond that.
const FANOUT_MAX_LAG_DAYS = 7;

interface EventRow {
  tx: string;
  id: string;
  kind: 'post' | 'delete';
  post_id: string;
  author_id: string;
  body: string | null;
  post_created_at: Date | string | null;
  author_username: string | null;
  author_display_name: string | null;
}

// The post as it is now (a post created and deleted within one batch is still sent, then its delete),
// by its author as they are now: a deleted account's posts are not sent (no username below).
const EVENT_COLUMNS = `e.tx, e.id, e.kind, e.post_id, e.author_id, p.body, p.created_at as post_created_at,
  u.username as author_username, u.display_name as author_display_name`;
const EVENT_JOINS = `left join posts p on p.id = e.post_id
  left join users u on u.id = e.author_id and u.deleted_at is null`;

function toLoggedEvent(row: EventRow): LoggedEvent | undefined {
  const base = { id: keyOf(BigInt(row.tx), BigInt(row.id)), authorId: row.author_id };
  if (row.kind === 'delete') return { ...base, data: { type: 'delete', id: row.post_id } };
  // The post or its author is gone (an account deleted since): nothing to show.
  if (row.body === null || row.post_created_at === null || row.author_username === null) return undefined;
  const post: PostDto = {
    id: row.post_id,
    body: row.body,
    createdAt: new Date(row.post_created_at).toISOString(),
    author: { id: row.author_id, username: row.author_username, displayName: row.author_display_name },
  };
  return { ...base, data: { type: 'post', post } };
}

const HALF = 64n;
const keyOf = (tx: bigint, id: bigint) => (tx << HALF) | id;
/** The (tx, id) of a key, as SQL parameters. */
const partsOf = (key: bigint) => [(key >> HALF).toString(), (key & ((1n << HALF) - 1n)).toString()];
// The oldest transaction still running: below it, the log is final.
const HORIZON = 'pg_snapshot_xmin(pg_current_snapshot())::text::bigint';

const toEvents = (rows: EventRow[]) => rows.map(toLoggedEvent).filter((event) => event !== undefined);

// Straight on the pg pool (MikroORM's own): uuid[] parameters pass as arrays, and a stream's reads
// need no identity map.
export class EventLog {
  readonly #pool: PoolSource;

  constructor(pool: PoolSource) {
    this.#pool = pool;
  }

  async #execute<T>(sql: string, params: unknown[]): Promise<T> {
    const pool: Pool = await this.#pool();
    return (await pool.query(sql, params)).rows as T;
  }

  /** Where the log is final up to now: a stream without `lastEventId` starts here. */
  async head(): Promise<bigint> {
    const [row] = await this.#execute<{ xmin: string }[]>(`select ${HORIZON}::text as xmin`, []);
    return keyOf(BigInt(row!.xmin), 0n);
  }

  /**
   * Where a new stream of `userId` starts, without `lastEventId`: the horizon now, and the events of
   * their timeline past it that have already committed. Those are not the stream's: they happened
   * before it started (the client's timeline read has them). The horizon is the oldest transaction
   * still running on the whole server, so a long transaction anywhere (a backup, another database's
   * work) puts seconds or minutes of committed events past it. One statement, so both come from the
   * same snapshot: an event committing during the call is either in `seen` or delivered live.
   */
  async start(userId: string): Promise<{ head: bigint; seen: Set<bigint> }> {
    const rows = await this.#execute<{ xmin: string; tx: string | null; id: string | null }[]>(
      `with h as (select ${HORIZON} as xmin)
       select h.xmin::text as xmin, e.tx::text as tx, e.id::text as id
       from h left join timeline_events e on e.tx >= h.xmin
         and (e.author_id = $1 or e.author_id in (select followee_id from follows where follower_id = $1))`,
      [userId],
    );
    const seen = new Set<bigint>();
    for (const row of rows) if (row.tx !== null) seen.add(keyOf(BigInt(row.tx), BigInt(row.id!)));
    return { head: keyOf(BigInt(rows[0]!.xmin), 0n), seen };
  }

  /** Whether the event `key` is still in the log, i.e. a stream may resume after it. */
  async has(key: bigint): Promise<boolean> {
    const rows = await this.#execute<unknown[]>(
      'select 1 from timeline_events where tx = $1 and id = $2',
      partsOf(key),
    );
    return rows.length > 0;
  }

  /**
   * The final events after `after`, in log order, at most `limit`: what the hub fans out. `held`:
   * later events exist but are not final yet (an older transaction still runs); read again soon.
   */
  async after(after: bigint, limit: number): Promise<{ events: LoggedEvent[]; held: boolean }> {
    const rows = await this.#execute<(EventRow & { horizon: string })[]>(
      `select ${HORIZON}::text as horizon, ${EVENT_COLUMNS} from timeline_events e ${EVENT_JOINS}
       where (e.tx, e.id) > ($1::bigint, $2::bigint)
       order by e.tx, e.id limit $3`,
      [...partsOf(after), limit],
    );
    const final = rows.filter((row) => BigInt(row.tx) < BigInt(row.horizon));
    return { events: toEvents(final), held: final.length < rows.length };
  }

  /** The events of `userId`'s timeline after `after` and up to `upTo`, in log order: a resume. */
  async timelineAfter(userId: string, after: bigint, upTo: bigint, limit: number): Promise<LoggedEvent[]> {
    const rows = await this.#execute<EventRow[]>(
      `select ${EVENT_COLUMNS} from timeline_events e ${EVENT_JOINS}
       where (e.tx, e.id) > ($1::bigint, $2::bigint) and (e.tx, e.id) <= ($3::bigint, $4::bigint)
         and (e.author_id = $5 or e.author_id in (select followee_id from follows where follower_id = $5))
       order by e.tx, e.id limit $6`,
      [...partsOf(after), ...partsOf(upTo), userId, limit],
    );
    return toEvents(rows);
  }

  /** For each of `authors`, which of `users` see their posts: their followers, and themselves. */
  async audience(authors: string[], users: string[]): Promise<Map<string, string[]>> {
    const readers = new Map<string, string[]>();
    const add = (author: string, user: string) => {
      const list = readers.get(author);
      if (list) list.push(user);
      else readers.set(author, [user]);
    };
    const local = new Set(users);
    for (const author of authors) if (local.has(author)) add(author, author);
    if (authors.length === 0 || users.length === 0) return readers;
    const rows = await this.#execute<{ follower_id: string; followee_id: string }[]>(
      'select follower_id, followee_id from follows where followee_id = any($1::uuid[]) and follower_id = any($2::uuid[])',
      [authors, users],
    );
    for (const row of rows) add(row.followee_id, row.follower_id);
    return readers;
  }

  /** Which of `sessionIds` are still live (not revoked, not expired, user still there). */
  async liveSessions(sessionIds: string[]): Promise<Set<string>> {
    if (sessionIds.length === 0) return new Set();
    const rows = await this.#execute<{ id: string }[]>(
      'select id from sessions where id = any($1::uuid[]) and revoked_at is null and expires_at > now()',
      [sessionIds],
    );
    return new Set(rows.map((row) => row.id));
  }

  /** Wakes every process's listener (a NOTIFY of its own, outside any write transaction). */
  async announce(): Promise<void> {
    await this.#execute(`select pg_notify('${CHANNEL}', '')`, []);
  }

  /**
   * Deletes events past the retention (every process does; a second delete finds nothing). The log
   * is also the home timelines' fan-out queue (timelines/home-writes.ts): events it has not read
   * yet are kept, but never beyond FANOUT_MAX_LAG_DAYS (no job worker ran that long). Those lost,
   * every home timeline is marked unbuilt, so reads take the pull query and builds start again.
   */
  async purge(): Promise<{ purged: number; unread: number }> {
    const pool = await this.#pool();
    const [row] = (
      await pool.query<{ purged: number; unread: number }>(
        `with gone as (
           delete from timeline_events e using home_fanout_cursor c
           where e.created_at < now() - make_interval(mins => $1)
             and ((e.tx, e.id) <= (c.tx, c.event_id) or e.created_at < now() - make_interval(days => $2))
           returning (e.tx, e.id) > (c.tx, c.event_id) as unread
         )
         select count(*)::int as purged, count(*) filter (where unread)::int as unread from gone`,
        [RETENTION_MINUTES, FANOUT_MAX_LAG_DAYS],
      )
    ).rows;
    const unread = row?.unread ?? 0;
    if (unread > 0) await pool.query('update home_timelines set built_at = null where built_at is not null');
    return { purged: row?.purged ?? 0, unread };
  }
}

// Keys are opaque strings on the wire: fixed-width decimal (2^128 has 39 digits), so they increase
// as strings too (a client comparing them either way gets the same order).
const ID_WIDTH = 39;

export const eventId = (key: bigint) => key.toString().padStart(ID_WIDTH, '0');

/** The log key of a client's `lastEventId`, or undefined for anything we never sent. */
export function parseEventId(value: string): bigint | undefined {
  if (!/^\d{1,39}$/.test(value)) return undefined;
  const key = BigInt(value);
  // Both halves are PostgreSQL bigints (signed 64 bits): anything larger was never a key of ours.
  return key >> HALF < 1n << 63n && (key & ((1n << HALF) - 1n)) < 1n << 63n ? key : undefined;
}
