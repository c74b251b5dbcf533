// One open `posts.onTimeline` stream as the hub sees it: whose it is, the events waiting for it,
// and how it ends. Kept small on purpose: thousands are open at once (docs/benchmarks.md).
import { TRPCError } from '@trpc/server';
import { RetryLaterError } from '../limits/retry-later.ts';
import type { LoggedEvent } from './event-log.ts';

// Events a stream may hold for a reader that does not keep up. Beyond it they are dropped and the
// stream reads them again from the log when its reader is ready: the log, not this process's
// memory, holds the backlog of a slow (or stalled) reader.
export const MAX_PENDING = 256;

/** What `next()` answers when events were dropped: read the log from your position. */
export const BEHIND = Symbol('behind');

export const streamEnded = {
  expired: () => new TRPCError({ code: 'UNAUTHORIZED', message: 'The access token expired; refresh it and resume' }),
  revoked: () => new TRPCError({ code: 'UNAUTHORIZED', message: 'The session ended' }),
  // SERVICE_UNAVAILABLE: tRPC's subscription link reconnects by itself (with its last id).
  shuttingDown: () =>
    new TRPCError({
      code: 'SERVICE_UNAVAILABLE',
      message: 'Server is shutting down; resume from the last event id',
      cause: new RetryLaterError('SERVICE_UNAVAILABLE', 'shutting down', 1000),
    }),
};

export class TimelineStream {
  readonly userId: string;
  readonly sessionId: string;
  #pending: LoggedEvent[] = [];
  #behind = false;
  #wake: (() => void) | undefined;
  #end: Error | undefined;
  #expiry: NodeJS.Timeout;
  readonly #signal: AbortSignal;

  /** `signal`: the client's request; it aborts when the client goes away. */
  constructor(userId: string, sessionId: string, expiresAt: number, signal: AbortSignal) {
    this.userId = userId;
    this.sessionId = sessionId;
    this.#signal = signal;
    signal.addEventListener('abort', () => this.#wakeUp(), { once: true });
    // The token was checked once, when the stream started; it is not valid past its own end.
    this.#expiry = setTimeout(() => this.end(streamEnded.expired()), Math.max(0, expiresAt - Date.now()));
    this.#expiry.unref();
  }

  /** A live event for this stream (the hub decided it belongs to this user's timeline). */
  push(event: LoggedEvent): void {
    if (this.#end || this.#behind) return;
    if (this.#pending.length < MAX_PENDING) this.#pending.push(event);
    else {
      this.#behind = true;
      this.#pending = [];
    }
    this.#wakeUp();
  }

  /** Ends the stream: its reader gets `error` once the events before it are read. */
  end(error: Error): void {
    if (this.#end) return;
    this.#end = error;
    clearTimeout(this.#expiry);
    // What is pending is dropped: the client resumes after the last event it really got.
    this.#pending = [];
    this.#wakeUp();
  }

  /**
   * The next live event, or BEHIND when events were dropped since the last call; throws the reason
   * when the stream ended; undefined once the client left.
   */
  async next(): Promise<LoggedEvent | typeof BEHIND | undefined> {
    while (!this.#end && !this.#behind && this.#pending.length === 0 && !this.#signal.aborted) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
    if (this.#signal.aborted) return undefined;
    if (this.#end) throw this.#end;
    if (this.#behind) {
      this.#behind = false;
      return BEHIND;
    }
    return this.#pending.shift();
  }

  close(): void {
    clearTimeout(this.#expiry);
  }

  #wakeUp() {
    this.#wake?.();
  }
}
