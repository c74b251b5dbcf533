// Password rules and hashing. bcrypt runs in worker threads (password-worker.ts) at a lower CPU
// priority than the event loop, so hashing never blocks or slows the other requests.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import { Piscina } from 'piscina';
import { z } from 'zod';
import type { PasswordTask } from './password-worker.ts';
import { isStorableText, STORABLE_TEXT_ERROR } from '../text.ts';

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

// bcrypt is pure CPU: more threads than cores only makes each hash slower; a login flood queues
// here. Started on first use, so commands that never hash start no threads.
let pool: Piscina<PasswordTask, string | boolean> | undefined;
function inWorker<T extends string | boolean>(task: PasswordTask): Promise<T> {
  pool ??= new Piscina({
    filename: new URL('./password-worker.ts', import.meta.url).href,
    maxThreads: availableParallelism(),
    // Idle threads exit (and do not keep a finished command alive); a new one starts in ~30 ms.
    minThreads: 0,
    idleTimeout: 60_000,
  });
  return pool.run(task) as Promise<T>;
}

export function hashPassword(password: string, cost: number): Promise<string> {
  return inWorker({ op: 'hash', password, cost });
}

/** Whether `hash` was made with another cost than the configured one (so it should be redone). */
export function needsRehash(hash: string, cost: number): boolean {
  return bcrypt.getRounds(hash) !== cost;
}

const dummyHashes = new Map<number, Promise<string>>();

/**
 * Compares against the user's hash, or, for an unknown user, against a dummy hash of the same
 * cost: both answers take one bcrypt compare, so timing does not tell which usernames exist.
 */
export async function verifyPassword(password: string, hash: string | undefined, cost: number): Promise<boolean> {
  if (hash) return inWorker({ op: 'compare', password, hash });
  let dummy = dummyHashes.get(cost);
  if (!dummy) {
    dummy = hashPassword(randomBytes(16).toString('hex'), cost);
    dummyHashes.set(cost, dummy);
  }
  const dummyHash = await dummy;
  await inWorker({ op: 'compare', password, hash: dummyHash });
  return false;
}
