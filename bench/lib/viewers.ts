// Whose timelines bench:timeline explains: named users, or a typical one and the heaviest follower.
import type { EntityManager } from '@mikro-orm/postgresql';

export interface Viewer {
  id: string;
  username: string;
  follows: number;
}

export async function namedViewers(em: EntityManager, usernames: string[]): Promise<Viewer[]> {
  const viewers: Viewer[] = [];
  for (const username of usernames) {
    const [row] = await em.getConnection().execute<{ id: string; username: string; follows: string }[]>(
      `select u.id, u.username, (select count(*) from follows f where f.follower_id = u.id) as follows
       from users u where lower(u.username) = lower(?)`,
      [username],
    );
    if (!row) throw new Error(`no user called ${username}`);
    viewers.push({ id: row.id, username: row.username, follows: Number(row.follows) });
  }
  return viewers;
}

export async function pickViewers(em: EntityManager): Promise<Viewer[]> {
  const rows = await em.getConnection().execute<{ id: string; username: string; follows: string }[]>(
    `with counts as (
       select follower_id as id, count(*) as follows from follows group by follower_id
     ), middle as (
       select percentile_disc(0.5) within group (order by follows) as follows from counts
     )
     (select u.id, u.username, c.follows from counts c join users u using (id), middle m
      order by abs(c.follows - m.follows), u.username limit 1)
     union all
     (select u.id, u.username, c.follows from counts c join users u using (id)
      order by c.follows desc, u.username limit 1)`,
  );
  if (rows.length === 0) throw new Error('nobody follows anybody: load data first (npm run bench:seed)');
  const viewers = rows.map((row) => ({ id: row.id, username: row.username, follows: Number(row.follows) }));
  return viewers[0]!.id === viewers[1]?.id ? viewers.slice(0, 1) : viewers;
}
