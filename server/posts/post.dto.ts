/** What every post-returning procedure sends: the contract's `Post`, never an entity. */
export interface PostDto {
  id: string;
  body: string;
  createdAt: string;
  author: PostAuthor;
}

/** Who wrote a post, as every post shows it. */
export interface PostAuthor {
  id: string;
  username: string;
  displayName: string | null;
}

/** Anything shaped like a post with its author: a Post entity or a row of the list queries. */
export interface PostLike {
  id: string;
  body: string;
  createdAt: Date;
  author: { id: string; username: string; displayName?: string | null };
}

export function toPostDto(post: PostLike): PostDto {
  return {
    id: post.id,
    body: post.body,
    createdAt: post.createdAt.toISOString(),
    author: { id: post.author.id, username: post.author.username, displayName: post.author.displayName ?? null },
  };
}
