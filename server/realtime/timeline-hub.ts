// Live timelines for every stream this process serves. One LISTEN connection hears that the log
// grew (the process that wrote a post NOTIFYs after its commit: `announce`); the hub then reads
// the new events once, asks the database which open streams' users follow their authors (so a
// follow or unfollow counts at once, with nothing cached), and hands each stream its events.
// A stream that starts or resumes reads its past from the log first (event-log.ts).
import { TRPCError } from '@trpc/server';
import type { FastifyBaseLogger } from 'fastify';
import { listen } from '../listen.ts';
import { RetryLaterError } from '../limits/retry-later.ts';
import { CHANNEL, type EventLog, type LoggedEvent } from './event-log.ts';
import { BEHIND, streamEnded, TimelineStream } from './timeline-stream.ts';

export interface HubOptions {
  maxPerUser: number;
  maxPerProcess: number;
  /** How often open streams' sessions are checked (revocations end streams within this). */
  sessionCheckMs?: number;
}

const PAGE = 500;
// A safety net under LISTEN (a lost notification, a listener down): the log is read this often anyway.
const POLL_MS = 5000;
const PURGE_MS = 60_000;
// How soon the log is read again when its newest events wait for an older transaction to end.
const HELD_RETRY_MS = 10;

const tooMany = (message: string) =>
  new TRPCError({
    code: 'TOO_MANY_REQUESTS',
    message,
    cause: new RetryLaterError('TOO_MANY_REQUESTS', message, 30_000),
  });

export interface OpenStream {
  userId: string;
  sessionId: string;
  /** When the access token (or its session) ends, in ms since the epoch. */
  expiresAt: number;
  /** Resume after this log id; undefined: from now on. */
  after: bigint | undefined;
  signal: AbortSignal;
}

export class TimelineHub {
  readonly #log: EventLog;
  readonly #options: Required<HubOptions>;
  readonly #logger: FastifyBaseLogger;
  readonly #byUser = new Map<string, Set<TimelineStream>>();
  #count = 0;
  /** The newest event this process has handed out (or skipped). */
  #position: bigint | undefined;
  #reading: Promise<void> | undefined;
  #readAgain = false;
  #announcing = false;
  #soon: NodeJS.Timeout | undefined;
  #announceAgain = false;
  #timers: NodeJS.Timeout[] = [];
  #stopListening: (() => Promise<void>) | undefined;

  constructor(log: EventLog, logger: FastifyBaseLogger, options: HubOptions) {
    this.#log = log;
    this.#logger = logger;
    this.#options = { sessionCheckMs: 2000, ...options };
  }

  get openStreams(): number {
    return this.#count;
  }

  /** Starts listening; the log's current end is read first, so nothing logged after start-up is missed. */
  async start(clientUrl: string): Promise<void> {
    await this.#startAt().catch((error: unknown) => this.#warn(error));
    let listening = false;
    this.#stopListening = listen({
      clientUrl,
      channel: CHANNEL,
      applicationName: 'warble-timelines',
      onNotification: () => void this.#readNew(),
      // Whatever was logged while not listening is read now: the log, not NOTIFY, is the record.
      onListening: () => {
        listening = true;
        void this.#readNew();
      },
      onLost: (error) => {
        if (listening) this.#logger.warn({ err: error }, 'live timelines: listener lost; reconnecting');
        listening = false;
      },
    });
    const every = (ms: number, task: () => Promise<unknown>) => {
      const timer = setInterval(() => void task().catch((error: unknown) => this.#warn(error)), ms);
      timer.unref();
      this.#timers.push(timer);
    };
    every(POLL_MS, () => this.#readNew());
    every(this.#options.sessionCheckMs, () => this.#checkSessions());
    every(PURGE_MS, async () => {
      const { unread } = await this.#log.purge();
      if (unread > 0)
        this.#logger.warn(
          { unread },
          'home timelines: the fan-out fell a week behind (no job worker?); rebuilding them',
        );
    });
  }

  /** Ends every stream (clients resume elsewhere) and stops listening. */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearInterval(timer);
    clearTimeout(this.#soon);
    for (const streams of this.#byUser.values()) for (const stream of streams) stream.end(streamEnded.shuttingDown());
    await this.#stopListening?.();
    await this.#reading;
  }

  /**
   * After a write that logged events (posts.create, delete, restore): a NOTIFY, which every process
   * (this one too) hears and reads the log on. One NOTIFY at a time per process; writes meanwhile
   * share the next one. (A NOTIFY inside the write's transaction would serialise every post's commit.)
   */
  announce(): void {
    if (this.#announcing) {
      this.#announceAgain = true;
      return;
    }
    this.#announcing = true;
    void (async () => {
      try {
        do {
          this.#announceAgain = false;
          await this.#log.announce();
        } while (this.#announceAgain);
      } catch (error) {
        this.#warn(error);
      } finally {
        this.#announcing = false;
      }
    })();
  }

  /**
   * Opens a stream: refused at once beyond the caps or for a `lastEventId` no longer in the log;
   * then the events after `after` from the log, then live ones, each once, in id order.
   */
  async open(options: OpenStream): Promise<AsyncGenerator<LoggedEvent>> {
    const streams = this.#byUser.get(options.userId);
    if ((streams?.size ?? 0) >= this.#options.maxPerUser) throw tooMany('Too many open streams for this user');
    if (this.#count >= this.#options.maxPerProcess) throw tooMany('Too many open streams on this server');
    if (options.after !== undefined && !(await this.#log.has(options.after))) {
      throw new TRPCError({
        code: 'BAD_REQUEST',
        message: 'Unknown or expired lastEventId: reload the timeline, then subscribe without it',
      });
    }
    // Registered before the log is read, so an event committed meanwhile is either in the read or
    // handed to the stream live (or both: ids decide, nothing is sent twice).
    const stream = new TimelineStream(options.userId, options.sessionId, options.expiresAt, options.signal);
    this.#add(stream);
    try {
      // Read before the answer starts: a post committed once the client sees the stream open is
      // after this head, so the hub hands it over live. A new stream also skips what had committed
      // past the head already (EventLog.start).
      const { head, seen } =
        options.after === undefined
          ? await this.#log.start(options.userId)
          : { head: await this.#log.head(), seen: new Set<bigint>() };
      // The hub had not read the log yet (start-up): it starts here, so it misses nothing after it.
      this.#position ??= head;
      return this.#events(stream, options.after ?? head, head, seen);
    } catch (error) {
      this.#remove(stream);
      throw error;
    }
  }

  /** `seen`: events past `head` that committed before the stream started; never sent. */
  async *#events(stream: TimelineStream, after: bigint, head: bigint, seen: Set<bigint>): AsyncGenerator<LoggedEvent> {
    try {
      // The past: every event after `after` up to the log's head when the stream opened.
      let position = yield* this.#replay(stream.userId, after, head, seen);
      // The present: what the hub hands over, skipping what the past already had; when the reader
      // fell behind and events were dropped, the log again.
      for (let next = await stream.next(); next; next = await stream.next()) {
        if (next === BEHIND) {
          position = yield* this.#replay(stream.userId, position, await this.#log.head(), seen);
        } else if (next.id > position) {
          position = next.id;
          if (!seen.delete(next.id)) yield next;
        }
      }
    } finally {
      this.#remove(stream);
    }
  }

  /** Yields `userId`'s events in (after, upTo] from the log; returns the new position. */
  async *#replay(userId: string, after: bigint, upTo: bigint, seen: Set<bigint>): AsyncGenerator<LoggedEvent, bigint> {
    let position = after;
    while (position < upTo) {
      const page = await this.#log.timelineAfter(userId, position, upTo, PAGE);
      for (const event of page) if (!seen.delete(event.id)) yield event;
      position = page.length < PAGE ? upTo : page.at(-1)!.id;
    }
    return position;
  }

  async #startAt() {
    const head = await this.#log.head();
    this.#position ??= head;
  }

  #add(stream: TimelineStream) {
    let streams = this.#byUser.get(stream.userId);
    if (!streams) this.#byUser.set(stream.userId, (streams = new Set()));
    streams.add(stream);
    this.#count++;
  }

  #remove(stream: TimelineStream) {
    stream.close();
    const streams = this.#byUser.get(stream.userId);
    if (!streams?.delete(stream)) return;
    this.#count--;
    if (streams.size === 0) this.#byUser.delete(stream.userId);
  }

  /** Reads what the log gained since the last read and fans it out; concurrent calls coalesce. */
  #readNew(): Promise<void> {
    if (this.#reading) {
      this.#readAgain = true;
      return this.#reading;
    }
    this.#reading = (async () => {
      try {
        do {
          this.#readAgain = false;
          // Not known yet (the database was down at start-up): from now on.
          if (this.#position === undefined) await this.#startAt();
          for (;;) {
            const { events, held } = await this.#log.after(this.#position!, PAGE);
            if (events.length > 0) {
              this.#position = events.at(-1)!.id;
              if (this.#count > 0) await this.#fanOut(events);
            }
            // Events behind an older transaction that still runs: look again in a moment.
            if (held) this.#readSoon();
            if (held || events.length < PAGE) break;
          }
        } while (this.#readAgain);
      } catch (error) {
        this.#warn(error);
      } finally {
        this.#reading = undefined;
      }
    })();
    return this.#reading;
  }

  #readSoon() {
    if (this.#soon) return;
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      void this.#readNew();
    }, HELD_RETRY_MS);
    this.#soon.unref();
  }

  async #fanOut(events: LoggedEvent[]) {
    const authors = [...new Set(events.map((event) => event.authorId))];
    const readers = await this.#log.audience(authors, [...this.#byUser.keys()]);
    for (const event of events) {
      for (const userId of readers.get(event.authorId) ?? []) {
        for (const stream of this.#byUser.get(userId) ?? []) stream.push(event);
      }
    }
  }

  /** Ends the streams whose session was revoked or expired, or whose user is gone. */
  async #checkSessions() {
    if (this.#count === 0) return;
    // The streams open now; one that opens while the query runs is not judged by it.
    const checked = [...this.#byUser.values()].flatMap((streams) => [...streams]);
    const live = await this.#log.liveSessions([...new Set(checked.map((stream) => stream.sessionId))]);
    for (const stream of checked) if (!live.has(stream.sessionId)) stream.end(streamEnded.revoked());
  }

  #warn(error: unknown) {
    this.#logger.warn({ err: error }, 'live timelines: reading the event log failed; retrying');
  }
}
