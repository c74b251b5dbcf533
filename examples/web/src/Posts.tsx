// A paged list of posts (the timeline, a profile's posts), with "Load more" and delete.
import { useMutation, type UseInfiniteQueryResult, type InfiniteData } from '@tanstack/react-query';
import type { RouterOutputs } from '@warble/client';
import { refetchAfterWrite, trpc, type SessionUser } from './api.ts';
import { ErrorNote } from './errors.tsx';

type Page = RouterOutputs['posts']['timeline'];
type Post = Page['items'][number];

export function PostFeed({
  feed,
  me,
  empty,
}: {
  feed: UseInfiniteQueryResult<InfiniteData<Page, unknown>, unknown>;
  me: SessionUser;
  empty: string;
}) {
  if (!feed.data) return feed.isError ? <ErrorNote error={feed.error} /> : <p className="loading">Loading posts…</p>;
  const posts = feed.data.pages.flatMap((page) => page.items);
  return (
    <section aria-label="Posts">
      {posts.length === 0 && <p className="empty">{empty}</p>}
      <ul className="posts">
        {posts.map((post) => (
          <PostItem key={post.id} post={post} mine={post.author.id === me.id} />
        ))}
      </ul>
      {feed.hasNextPage && (
        <button
          type="button"
          className="more"
          onClick={() => void feed.fetchNextPage()}
          disabled={feed.isFetchingNextPage}
        >
          {feed.isFetchingNextPage ? 'Loading…' : 'Load more'}
        </button>
      )}
      {/* A failed "Load more" or refetch keeps the pages already shown. */}
      {feed.isError && <ErrorNote error={feed.error} />}
    </section>
  );
}

function PostItem({ post, mine }: { post: Post; mine: boolean }) {
  const remove = useMutation(trpc.posts.delete.mutationOptions({ onSuccess: refetchAfterWrite }));
  return (
    <li className="post" data-testid="post">
      <div className="meta">
        {post.author.displayName && <strong className="name">{post.author.displayName}</strong>}
        <a href={`#/u/${post.author.username}`}>@{post.author.username}</a>
        <time dateTime={post.createdAt}>
          {new Date(post.createdAt).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' })}
        </time>
        {mine && (
          <button
            type="button"
            className="link"
            aria-label={`Delete post: ${post.body}`}
            onClick={() => remove.mutate({ id: post.id })}
            disabled={remove.isPending}
          >
            Delete
          </button>
        )}
      </div>
      <p className="body">{post.body}</p>
      <ErrorNote error={remove.error} />
    </li>
  );
}
