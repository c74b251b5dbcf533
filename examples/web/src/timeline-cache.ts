// Live events written into the timeline's cached pages, so the list changes without a refetch.
import type { InfiniteData } from '@tanstack/react-query';
import type { RouterOutputs } from '@warble/client';
import { queryClient, trpc } from './api.ts';

type Page = RouterOutputs['posts']['timeline'];
type Post = Page['items'][number];
export type TimelineEvent = RouterOutputs['posts']['onTimeline'] extends AsyncIterable<infer E> ? E : never;

/** Applies one live event to every cached timeline (whatever its page size). */
export function applyTimelineEvent({ data: event }: TimelineEvent): void {
  queryClient.setQueriesData<InfiniteData<Page>>({ queryKey: trpc.posts.timeline.infiniteQueryKey() }, (cached) => {
    if (!cached) return cached;
    return event.type === 'post' ? withPost(cached, event.post) : withoutPost(cached, event.id);
  });
}

// The API's timeline order: newest first, ties broken by id (ISO times and UUIDv7s compare as text).
const newerThan = (a: Post, b: Post) => a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id);

/**
 * The post in its place: usually on top, but a restored post goes back where it was. A post older
 * than every loaded page is left for "Load more" to bring. Already there (the page's own post,
 * already refetched): unchanged.
 */
function withPost(cached: InfiniteData<Page>, post: Post): InfiniteData<Page> {
  if (cached.pages.some((page) => page.items.some((item) => item.id === post.id))) return cached;
  const pages = [...cached.pages];
  for (const [index, page] of pages.entries()) {
    const at = page.items.findIndex((item) => newerThan(post, item));
    const last = index === pages.length - 1 && page.nextCursor === null;
    if (at === -1 && !last) continue;
    const items = [...page.items];
    items.splice(at === -1 ? items.length : at, 0, post);
    pages[index] = { ...page, items };
    return { ...cached, pages };
  }
  return cached;
}

function withoutPost(cached: InfiniteData<Page>, id: string): InfiniteData<Page> {
  if (!cached.pages.some((page) => page.items.some((item) => item.id === id))) return cached;
  return {
    ...cached,
    pages: cached.pages.map((page) => ({ ...page, items: page.items.filter((item) => item.id !== id) })),
  };
}
