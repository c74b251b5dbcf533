// A user's page: counts, follow / unfollow, and their posts.
import { useInfiniteQuery, useMutation, useQuery } from '@tanstack/react-query';
import { PAGE_SIZE, refetchAfterWrite, trpc, type SessionUser } from './api.ts';
import { ErrorNote } from './errors.tsx';
import { PostFeed } from './Posts.tsx';

export function Profile({ username, me }: { username: string; me: SessionUser }) {
  const profile = useQuery(trpc.users.profile.queryOptions({ username }));
  const feed = useInfiniteQuery(
    trpc.posts.byUser.infiniteQueryOptions(
      { username, limit: PAGE_SIZE },
      { getNextPageParam: (page) => page.nextCursor },
    ),
  );
  const follow = useMutation(trpc.users.follow.mutationOptions({ onSuccess: refetchAfterWrite }));
  const unfollow = useMutation(trpc.users.unfollow.mutationOptions({ onSuccess: refetchAfterWrite }));

  if (profile.isPending) return <p className="loading">Loading @{username}…</p>;
  if (profile.isError) return <ErrorNote error={profile.error} />;
  const user = profile.data;
  const busy = follow.isPending || unfollow.isPending;
  return (
    <section className="profile" aria-label={`Profile of @${user.username}`}>
      <h2>@{user.username}</h2>
      <p className="since">Joined {new Date(user.createdAt).toLocaleDateString(undefined, { dateStyle: 'long' })}</p>
      <dl className="counts">
        <div>
          <dt>Posts</dt>
          <dd data-testid="posts-count">{user.postsCount}</dd>
        </div>
        <div>
          <dt>Followers</dt>
          <dd data-testid="followers-count">{user.followersCount}</dd>
        </div>
        <div>
          <dt>Following</dt>
          <dd data-testid="following-count">{user.followingCount}</dd>
        </div>
      </dl>
      {user.id !== me.id &&
        (user.followedByMe ? (
          <button type="button" onClick={() => unfollow.mutate({ username })} disabled={busy}>
            Unfollow
          </button>
        ) : (
          <button type="button" onClick={() => follow.mutate({ username })} disabled={busy}>
            Follow
          </button>
        ))}
      <ErrorNote error={follow.error ?? unfollow.error} />
      <PostFeed feed={feed} me={me} empty={`@${user.username} has not posted yet.`} />
    </section>
  );
}
