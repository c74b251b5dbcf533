// The statements a timeline page sends, recorded from server/posts/post-queries.ts as it runs, so a
// benchmark of "the timeline's SQL" (EXPLAIN in bench:timeline, pgbench in bench) cannot drift from
// the code it measures.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../../server/pagination/cursor.ts';
import type { PostLike } from '../../server/posts/post.dto.ts';
import { timelinePosts } from '../../server/posts/post-queries.ts';

/** The API's default page size; timelinePosts is asked for one more, as the router does. */
export const PAGE_SIZE = 20;

export interface Statement {
  sql: string;
  params: unknown[];
}

/** Runs timelinePosts for real and returns what it sent, in order, with its result. */
export async function recordTimeline(
  em: EntityManager,
  viewerId: string,
  after: Position | undefined,
  count = PAGE_SIZE + 1,
): Promise<{ statements: Statement[]; posts: PostLike[] }> {
  const statements: Statement[] = [];
  const connection = em.getConnection();
  // timelinePosts only uses em.getConnection().execute.
  const recorder = {
    getConnection: () => ({
      execute: (sql: string, params: unknown[] = []) => {
        statements.push({ sql, params });
        return connection.execute(sql, params);
      },
    }),
  };
  const posts = await timelinePosts(recorder as unknown as EntityManager, viewerId, after, count);
  return { statements, posts };
}

/** The statements of a viewer's first timeline page, parameters inlined (as the ORM sends them). */
export async function timelineStatements(em: EntityManager, viewerId: string): Promise<string[]> {
  const { statements } = await recordTimeline(em, viewerId, undefined);
  const platform = em.getPlatform();
  return statements.map(({ sql, params }) => platform.formatQuery(sql, params));
}
