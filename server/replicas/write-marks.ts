// Read-your-writes with replicas: after a signed-in caller writes, their reads go to a replica only
// once it has replayed that write. The mark is a position in the primary's write-ahead log (an LSN),
// kept per user in a table on the primary, so every process sees it: a caller's next request may
// reach another process (docs/operations.md, "Read replicas").
import { defineEntity, p } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { User } from '../users/user.entity.ts';

/** The WAL position after a user's latest write. Read and written only by the SQL below. */
export const WriteMarkSchema = defineEntity({
  name: 'WriteMark',
  tableName: 'write_marks',
  properties: {
    user: p.manyToOne(User).primary().deleteRule('cascade'),
    lsn: p.string().columnType('pg_lsn'),
    at: p.datetime(3).defaultRaw('now()'),
  },
});

export class WriteMark extends WriteMarkSchema.class {}
WriteMarkSchema.setClass(WriteMark);

/** An LSN as PostgreSQL prints it ("16/B374D848") as a number that compares. */
export function parseLsn(text: string): bigint {
  const [high, low] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

/**
 * Records that `userId` has just written. Called after the write's transaction committed: the insert
 * position then lies past its commit record, so a replica that has replayed up to it shows the write.
 * `greatest`: two processes recording for one user at once never move the mark back.
 */
export async function recordWrite(em: EntityManager, userId: string): Promise<void> {
  await em.getConnection().execute(
    `insert into write_marks (user_id, lsn, at) values (?, pg_current_wal_insert_lsn(), now())
     on conflict (user_id) do update set lsn = greatest(write_marks.lsn, excluded.lsn), at = excluded.at`,
    [userId],
  );
}

/** The mark of `userId`'s latest write, or undefined when they never wrote since marks began. */
export async function writeMarkOf(em: EntityManager, userId: string): Promise<bigint | undefined> {
  const rows = await em
    .getConnection()
    .execute<{ lsn: string }[]>('select lsn::text as lsn from write_marks where user_id = ?', [userId]);
  return rows[0] ? parseLsn(rows[0].lsn) : undefined;
}
