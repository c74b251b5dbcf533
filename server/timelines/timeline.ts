// posts.timeline's read: the home timeline when it can answer the page exactly, else the pull
// query (posts/post-queries.ts), which stays the reference both must agree with.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../pagination/cursor.ts';
import type { PostLike } from '../posts/post.dto.ts';
import { timelinePosts } from '../posts/post-queries.ts';
import type { HomeJobs } from './home-jobs.ts';
import { readHomePage } from './home-read.ts';
import { touch } from './home-writes.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** `reader` answers the page (a read replica, or the primary); `primary` takes the one write, a read date. */
export async function timelinePage(
  reader: EntityManager,
  primary: EntityManager,
  home: HomeJobs | undefined,
  viewerId: string,
  after: Position | undefined,
  count: number,
): Promise<PostLike[]> {
  if (!home) return timelinePosts(reader, viewerId, after, count);
  const page = await readHomePage(reader, viewerId, after, count);
  if (page.kind === 'page') {
    // Read dates steer the expiry of inactive users' timelines; a day's precision is enough.
    if (Date.now() - page.readAt.getTime() > DAY_MS) await touch(primary, viewerId);
    return page.posts;
  }
  if (page.kind === 'unbuilt') home.requestBuild(viewerId);
  return timelinePosts(reader, viewerId, after, count);
}
