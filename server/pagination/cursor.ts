// Opaque keyset cursors. A cursor names a position in one list (its kind and scope, e.g. the
// timeline of one user) as the (createdAt, id) of the last item served, so later pages never
// shift when new items arrive. The checksum catches damaged or hand-edited cursors; a cursor
// built by hand with a valid checksum is harmless, since it only moves within a list the caller
// may read anyway.
import { createHash } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';

const VERSION = 1;
const FIRST_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_TIME = Date.parse('9999-12-31T23:59:59.999Z');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface Position {
  createdAt: Date;
  id: string;
}

export const pageInput = {
  cursor: z.string().min(1).max(512).nullish(),
  limit: z.number().int().min(1).max(100).default(20),
  // What tRPC's TanStack Query integration adds to every page of an infinite query. Lists page
  // forward only (newest first); a backward request is a BAD_REQUEST naming this field.
  direction: z.literal('forward', { error: 'Only forward paging is supported' }).optional(),
};

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const checksum = (payload: string) =>
  createHash('sha256').update(`warble-cursor:${payload}`).digest('base64url').slice(0, 16);

export function encodeCursor(list: string, position: Position): string {
  const payload = Buffer.from(JSON.stringify([VERSION, list, position.createdAt.getTime(), position.id])).toString(
    'base64url',
  );
  return `${payload}.${checksum(payload)}`;
}

const invalid = () => new TRPCError({ code: 'BAD_REQUEST', message: 'Invalid cursor' });

/** The position in `list`, or BAD_REQUEST for a cursor that is damaged, old, or from another list. */
export function decodeCursor(cursor: string, list: string): Position {
  const [payload, sum, extra] = cursor.split('.');
  if (!payload || !sum || extra !== undefined || checksum(payload) !== sum) throw invalid();
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    throw invalid();
  }
  if (!Array.isArray(parts) || parts.length !== 4) throw invalid();
  const [version, cursorList, time, id] = parts as unknown[];
  if (version !== VERSION || cursorList !== list) throw invalid();
  // Only times that a Date and a PostgreSQL timestamp both hold (years 1 to 9999).
  if (typeof time !== 'number' || !Number.isSafeInteger(time) || time < FIRST_TIME || time > LAST_TIME) throw invalid();
  if (typeof id !== 'string' || !UUID.test(id)) throw invalid();
  return { createdAt: new Date(time), id };
}

/** Turns `limit + 1` fetched rows into a page: the extra row only says whether there is more. */
export function toPage<Row extends Position, T>(
  rows: Row[],
  limit: number,
  list: string,
  map: (row: Row) => T,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items.at(-1);
  return {
    items: items.map(map),
    nextCursor: rows.length > limit && last ? encodeCursor(list, last) : null,
  };
}
