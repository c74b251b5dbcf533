// The line in front of the bcrypt threads. Hashing is the one thing a client can ask for that
// costs us a quarter of a second of CPU, so the line is bounded (BCRYPT_QUEUE_MAX waiting; beyond
// that SERVICE_UNAVAILABLE with Retry-After), a caller that leaves while waiting leaves the line
// (it costs no hash), and logins and signups take turns: a flood of one kind cannot shut the
// other out.
import { ClientGoneError, RetryLaterError } from '../limits/retry-later.ts';

export type HashPurpose = 'login' | 'signup';

interface Waiter {
  purpose: HashPurpose;
  start: () => void;
  refuse: (error: Error) => void;
}

const BUSY = 'Too many password checks in progress; try again shortly';
// Until the first hash is timed: bcrypt at cost 12 on a current core.
const FIRST_GUESS_MS = 250;

export class HashQueue {
  readonly #threads: number;
  readonly #maxWaiting: number;
  #running = 0;
  // One line per purpose; `#turn` says which is served next when a thread frees up.
  readonly #lines = new Map<HashPurpose, Waiter[]>([
    ['login', []],
    ['signup', []],
  ]);
  #turn = 0;
  #hashMs = FIRST_GUESS_MS;

  constructor(threads: number, maxWaiting: number) {
    this.#threads = threads;
    this.#maxWaiting = maxWaiting;
  }

  get waiting(): number {
    let total = 0;
    for (const line of this.#lines.values()) total += line.length;
    return total;
  }

  /** Runs `hash` on a free thread, after waiting in line if none is free. */
  async run<T>(purpose: HashPurpose, signal: AbortSignal | undefined, hash: () => Promise<T>): Promise<T> {
    if (signal?.aborted) throw new ClientGoneError();
    if (this.#running < this.#threads) this.#running++;
    else await this.#wait(purpose, signal);
    const started = performance.now();
    try {
      return await hash();
    } finally {
      // A moving average: Retry-After follows the machine's actual speed and cost.
      this.#hashMs = 0.8 * this.#hashMs + 0.2 * (performance.now() - started);
      this.#release();
    }
  }

  #wait(purpose: HashPurpose, signal: AbortSignal | undefined): Promise<void> {
    if (this.waiting >= this.#maxWaiting && !this.#makeRoomFor(purpose)) throw this.#busy();
    return new Promise<void>((resolve, reject) => {
      const line = this.#lines.get(purpose)!;
      const onAbort = () => {
        line.splice(line.indexOf(waiter), 1);
        reject(new ClientGoneError());
      };
      const waiter: Waiter = {
        purpose,
        start: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        refuse: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      line.push(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * The line is full. A newcomer whose purpose holds less than half of it takes the place of the
   * newest waiter of the other purpose (who is told to come back later); otherwise it is refused.
   */
  #makeRoomFor(purpose: HashPurpose): boolean {
    const mine = this.#lines.get(purpose)!.length;
    if (mine * 2 >= this.#maxWaiting) return false;
    const other = [...this.#lines.values()].reduce((longest, line) => (line.length > longest.length ? line : longest));
    const evicted = other.pop();
    evicted?.refuse(this.#busy());
    return evicted !== undefined;
  }

  #busy(): RetryLaterError {
    // When the line now waiting will have been served.
    const ms = Math.ceil((this.waiting + 1) / this.#threads) * this.#hashMs;
    return new RetryLaterError('SERVICE_UNAVAILABLE', BUSY, ms);
  }

  /** A thread is free: hand it to the next waiter, taking the lines in turn. */
  #release(): void {
    const lines = [...this.#lines.values()];
    for (let i = 0; i < lines.length; i++) {
      const line = lines[(this.#turn + i) % lines.length]!;
      const next = line.shift();
      if (next) {
        this.#turn = (this.#turn + i + 1) % lines.length;
        next.start(); // the thread passes straight to it: #running stays the same
        return;
      }
    }
    this.#running--;
  }
}
