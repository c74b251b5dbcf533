// The statements a timeline page sends, recorded from the server's code as it runs, so a benchmark
// of "the timeline's SQL" (EXPLAIN in bench:timeline, pgbench in bench) cannot drift from the code
// it measures: the pull query (server/posts/post-queries.ts timelinePosts) and the home read
// (server/timelines/home-read.ts readHomePage).
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../../server/pagination/cursor.ts';
import type { PostLike } from '../../server/posts/post.dto.ts';
import { timelinePosts } from '../../server/posts/post-queries.ts';
import { readHomePage, type HomePage } from '../../server/timelines/home-read.ts';

/** The API's default page size; timelinePosts is asked for one more, as the router does. */
export const PAGE_SIZE = 20;

export interface Statement {
  sql: string;
  params: unknown[];
  /** `$1` placeholders, sent through the pg pool (the home read); otherwise the ORM's `?`. */
  native?: boolean;
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

/** Runs readHomePage for real and returns its one statement with its answer. */
export async function recordHomePage(
  em: EntityManager,
  viewerId: string,
  after: Position | undefined,
  count = PAGE_SIZE + 1,
): Promise<{ statement: Statement; page: HomePage }> {
  const statements: Statement[] = [];
  const pool = await em.getConnection().getNativeClient();
  // readHomePage only uses (await em.getConnection().getNativeClient()).query.
  const recorder = {
    getConnection: () => ({
      getNativeClient: () =>
        Promise.resolve({
          // A text and its values, or a query config (a named, prepared statement).
          query: (query: string | { text: string; values?: unknown[] }, params?: unknown[]) => {
            const config = typeof query === 'string' ? { text: query } : query;
            statements.push({ sql: config.text, params: params ?? config.values ?? [], native: true });
            return pool.query(query as string, params);
          },
        }),
    }),
  };
  const page = await readHomePage(recorder as unknown as EntityManager, viewerId, after, count);
  if (statements.length !== 1) throw new Error(`readHomePage sent ${statements.length} statements, expected 1`);
  return { statement: statements[0]!, page };
}

/**
 * What posts.timeline sends for a page (server/timelines/timeline.ts): with home timelines on, the
 * home read, and the pull query after it when the home read cannot answer; otherwise the pull query.
 */
export async function pageStatements(
  em: EntityManager,
  viewerId: string,
  after: Position | undefined,
  home: boolean,
): Promise<{ statements: Statement[]; answeredBy: HomePage['kind'] | 'pull' }> {
  const pull = async () => (await recordTimeline(em, viewerId, after)).statements;
  if (!home) return { statements: await pull(), answeredBy: 'pull' };
  const { statement, page } = await recordHomePage(em, viewerId, after);
  return {
    statements: page.kind === 'page' ? [statement] : [statement, ...(await pull())],
    answeredBy: page.kind,
  };
}

/** A statement with its parameters inlined, as pgbench replays it (the ORM's own quoting for `?`). */
export function inlined(em: EntityManager, { sql, params, native }: Statement): string {
  if (!native) return em.getPlatform().formatQuery(sql, params);
  return sql.replace(/\$(\d+)/g, (_, n: string) => literal(params[Number(n) - 1]));
}

function literal(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return `'${value.toISOString()}'`;
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`;
  throw new Error(`cannot inline a parameter of type ${typeof value}`);
}

/** The statements of a viewer's first timeline page, parameters inlined. */
export async function timelineStatements(em: EntityManager, viewerId: string, home = false): Promise<string[]> {
  const { statements } = await pageStatements(em, viewerId, undefined, home);
  return statements.map((statement) => inlined(em, statement));
}
