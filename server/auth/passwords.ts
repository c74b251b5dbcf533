// Password rules and hashing. bcrypt runs in worker threads (password-worker.ts) at a lower CPU
// priority than the event loop, so hashing never blocks or slows the other requests; callers wait
// for a thread in a bounded line (hash-queue.ts).
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import { Piscina } from 'piscina';
import { z } from 'zod';
import type { PasswordTask } from './password-worker.ts';
import { isStorableText, STORABLE_TEXT_ERROR } from '../text.ts';
import { HashQueue, type HashPurpose } from './hash-queue.ts';

const MIN_BYTES = 8;
// bcrypt reads only the first 72 bytes: a longer password is refused, never silently cut.
const MAX_BYTES = 72;

/**
 * Normalised to NFC first, so "é" typed as one code point or as e + accent is the same password
 * (and counts the same number of bytes).
 */
export const passwordSchema = z
  .string()
  .refine(isStorableText, { error: STORABLE_TEXT_ERROR })
  .transform((value) => value.normalize('NFC'))
  .refine((value) => Buffer.byteLength(value, 'utf8') >= MIN_BYTES, { error: `must be at least ${MIN_BYTES} bytes` })
  .refine((value) => Buffer.byteLength(value, 'utf8') <= MAX_BYTES, {
    error: `must be at most ${MAX_BYTES} bytes of UTF-8 (bcrypt's limit)`,
  });

// bcrypt is pure CPU: more threads than cores only makes each hash slower. Started on first use,
// so commands that never hash start no threads. One pool per process, whatever uses it.
const THREADS = availableParallelism();
let pool: Piscina<PasswordTask, string | boolean> | undefined;
function inWorker<T extends string | boolean>(task: PasswordTask): Promise<T> {
  pool ??= new Piscina({
    filename: new URL('./password-worker.ts', import.meta.url).href,
    maxThreads: THREADS,
    // Idle threads exit (and do not keep a finished command alive); a new one starts in ~30 ms.
    minThreads: 0,
    idleTimeout: 60_000,
  });
  return pool.run(task) as Promise<T>;
}

/** Whether `hash` was made with another cost than the configured one (so it should be redone). */
export function needsRehash(hash: string, cost: number): boolean {
  return bcrypt.getRounds(hash) !== cost;
}

export interface HashOptions {
  purpose: HashPurpose;
  /** Aborts when the caller disconnects: while it still waits, it leaves the line. */
  signal?: AbortSignal;
}

export interface PasswordHasher {
  hash(password: string, options: HashOptions): Promise<string>;
  /**
   * Compares against the user's hash, or, for an unknown user, against a dummy hash of the same
   * cost: both answers take one bcrypt compare, so timing does not tell which usernames exist.
   */
  verify(password: string, hash: string | undefined, options: HashOptions): Promise<boolean>;
}

/**
 * The server's hasher: every hash and compare waits in one bounded, fair line (hash-queue.ts).
 * Commands (seeding) that hash alone use `hashPassword` directly.
 */
export function createPasswordHasher({ cost, queueMax }: { cost: number; queueMax: number }): PasswordHasher {
  const queue = new HashQueue(THREADS, queueMax);
  // Made once, outside the line: it is ours, not a caller's.
  let dummy: Promise<string> | undefined;
  return {
    hash: (password, { purpose, signal }) =>
      queue.run(purpose, signal, () => inWorker<string>({ op: 'hash', password, cost })),
    async verify(password, hash, { purpose, signal }) {
      const against = hash ?? (await (dummy ??= hashPassword(randomBytes(16).toString('hex'), cost)));
      const matches = await queue.run(purpose, signal, () =>
        inWorker<boolean>({ op: 'compare', password, hash: against }),
      );
      return matches && hash !== undefined;
    },
  };
}

/** One hash outside any line: for commands that run alone (seeding). */
export function hashPassword(password: string, cost: number): Promise<string> {
  return inWorker({ op: 'hash', password, cost });
}
