// Home: write a post, read your timeline (your posts and those of the people you follow).
import { useInfiniteQuery, useMutation } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { PAGE_SIZE, refetchAfterWrite, trpc, type SessionUser } from './api.ts';
import { ErrorNote } from './errors.tsx';
import { PostFeed } from './Posts.tsx';

const MAX_LENGTH = 280;

export function Timeline({ me }: { me: SessionUser }) {
  const feed = useInfiniteQuery(
    trpc.posts.timeline.infiniteQueryOptions({ limit: PAGE_SIZE }, { getNextPageParam: (page) => page.nextCursor }),
  );
  return (
    <>
      <Composer />
      <h2>Timeline</h2>
      <PostFeed feed={feed} me={me} empty="Nothing here yet: post something, or follow someone." />
    </>
  );
}

function Composer() {
  const [body, setBody] = useState('');
  const create = useMutation(
    trpc.posts.create.mutationOptions({
      onSuccess: async () => {
        setBody('');
        await refetchAfterWrite();
      },
    }),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    create.mutate({ body });
  };
  const left = MAX_LENGTH - [...body].length;
  return (
    <form className="composer" aria-label="New post" onSubmit={submit}>
      <textarea
        aria-label="What's happening?"
        placeholder="What's happening?"
        value={body}
        onChange={(e) => setBody(e.target.value)}
        rows={3}
      />
      <div className="actions">
        <span className={left < 0 ? 'count over' : 'count'}>{left}</span>
        <button type="submit" disabled={create.isPending || body.trim() === ''}>
          Post
        </button>
      </div>
      <ErrorNote error={create.error} />
    </form>
  );
}
