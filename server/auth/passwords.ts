// Password rules and hashing. bcrypt's native binding runs on libuv's thread pool, so hashing
// never blocks the event loop.
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import bcrypt from 'bcrypt';
import pLimit from 'p-limit';
import { z } from 'zod';
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

// bcrypt is pure CPU: more at once than there are cores only makes each slower. Capping it also
// keeps threads of libuv's pool (sized above this in env.ts) free for file, DNS and crypto work,
// so a login flood queues here instead of starving everything else.
const bcryptSlots = pLimit(availableParallelism());

export function hashPassword(password: string, cost: number): Promise<string> {
  return bcryptSlots(() => bcrypt.hash(password, cost));
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
  if (hash) return bcryptSlots(() => bcrypt.compare(password, hash));
  let dummy = dummyHashes.get(cost);
  if (!dummy) {
    dummy = hashPassword(randomBytes(16).toString('hex'), cost);
    dummyHashes.set(cost, dummy);
  }
  const dummyHash = await dummy;
  await bcryptSlots(() => bcrypt.compare(password, dummyHash));
  return false;
}
