// Fair use of the database. The connection pool is small (DATABASE_POOL_MAX) and first come,
// first served: a client that sends hundreds of calls at once would fill it and its wait line, and
// everyone else's calls would time out into 503s. So calls are admitted here first:
// - each client (client-key.ts) may always run `perClient` calls at once: its guaranteed share;
// - beyond that, only while fewer than `capacity` calls run in all (half the pool: the other half
//   stays free, so a newcomer's call finds a connection at once instead of queueing behind a
//   flood's), and under contention the extra turns go round-robin;
// - a client waits with at most `maxWaiting` calls, and is refused beyond that (503 with
//   Retry-After): a flood is shed at its source while everyone else keeps their share.
import { ClientGoneError, RetryLaterError } from './retry-later.ts';

interface Client {
  running: number;
  waiting: (() => void)[];
}

const BUSY = 'Too many calls in progress from this client; try again shortly';
const RETRY_AFTER_MS = 1000;
const busy = () => new RetryLaterError('SERVICE_UNAVAILABLE', BUSY, RETRY_AFTER_MS);

export interface FairShareOptions {
  /** Calls that may run at once in all before clients must take turns (the pool's size). */
  capacity: number;
  /** Calls one client may always run at once. */
  perClient: number;
  /** Calls one client may have waiting; beyond that it is refused. */
  maxWaiting: number;
}

export class FairShare {
  readonly #options: FairShareOptions;
  readonly #clients = new Map<string, Client>();
  // Clients with calls waiting beyond their share, in the order they get their next extra turn.
  readonly #turns: string[] = [];
  #running = 0;

  constructor(options: FairShareOptions) {
    this.#options = options;
  }

  /** Clients with calls running or waiting (idle ones are forgotten at once). */
  get clients(): number {
    return this.#clients.size;
  }

  /**
   * Whether `calls` more of this client would overflow its line: then the request is refused
   * whole, before it is parsed (admission.ts), instead of call by call.
   */
  refusal(key: string, calls: number): RetryLaterError | undefined {
    const waiting = this.#clients.get(key)?.waiting.length ?? 0;
    return waiting > 0 && waiting + calls > this.#options.maxWaiting ? busy() : undefined;
  }

  async run<T>(key: string, signal: AbortSignal | undefined, call: () => Promise<T>): Promise<T> {
    let client = this.#clients.get(key);
    if (!client) this.#clients.set(key, (client = { running: 0, waiting: [] }));
    if (client.running < this.#options.perClient || this.#running < this.#options.capacity) {
      this.#start(client);
    } else if (client.waiting.length >= this.#options.maxWaiting) {
      throw busy();
    } else {
      const waiting = client.waiting;
      if (!waiting.length) this.#turns.push(key);
      await new Promise<void>((resolve) => waiting.push(resolve)); // started by #dispatch
    }
    try {
      // Its caller left while it waited: the answer would go nowhere.
      if (signal?.aborted) throw new ClientGoneError();
      return await call();
    } finally {
      client.running--;
      this.#running--;
      this.#dispatch(key, client);
    }
  }

  #start(client: Client): void {
    client.running++;
    this.#running++;
  }

  /** A call of `key` ended: its own next call if it is now under its share, then extra turns. */
  #dispatch(key: string, finished: Client): void {
    if (finished.running < this.#options.perClient && this.#next(finished) && !finished.waiting.length) {
      this.#turns.splice(this.#turns.indexOf(key), 1);
    }
    while (this.#running < this.#options.capacity && this.#turns.length) {
      const turn = this.#turns.shift()!;
      const client = this.#clients.get(turn)!;
      this.#next(client);
      if (client.waiting.length) this.#turns.push(turn);
    }
    if (finished.running === 0 && !finished.waiting.length) this.#clients.delete(key);
  }

  /** Starts the client's oldest waiting call, if it has one. */
  #next(client: Client): boolean {
    const resume = client.waiting.shift();
    if (!resume) return false;
    this.#start(client);
    resume();
    return true;
  }
}
