import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestApp } from './helpers/app.ts';
import {
  createPost,
  createPostCall,
  deletePost,
  expectTrpcError,
  follow,
  idsOf,
  postById,
  postRow,
  postsByUser,
  signedInUser,
  succeeded,
  timeline,
  userProfile,
} from './helpers/social.ts';
import { mutate } from './helpers/trpc.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const BIRD = '🐦'; // one code point, two UTF-16 units

describe('posts.create', () => {
  const t = useTestApp();

  it('publishes a post by the caller, with its body trimmed', async () => {
    const alice = await signedInUser(t.url);
    const before = Date.now();
    const result = await createPostCall(t.url, { body: ' \n\t hello, world  \n' }, alice.token);
    const after = Date.now();

    const post = succeeded(result);
    expect(post).toEqual({
      id: expect.any(String),
      body: 'hello, world',
      createdAt: expect.stringMatching(ISO),
      author: { id: alice.id, username: alice.username, displayName: null },
    });
    expect(Date.parse(post.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(post.createdAt)).toBeLessThanOrEqual(after + 1000);

    // What was stored is what was answered.
    expect(succeeded(await postById(t.url, post.id))).toEqual(post);
    const row = await postRow(t.db.url, post.id);
    expect(row).toMatchObject({ author_id: alice.id, body: 'hello, world', deleted_at: null });
    expect(row?.created_at.toISOString()).toBe(post.createdAt);
  });

  it('refuses text PostgreSQL could not store as given (NUL, lone surrogates) with BAD_REQUEST, not 5xx', async () => {
    const { token } = await signedInUser(t.url);
    for (const body of ['a\u0000b', 'x\ud800y']) {
      const result = await createPostCall(t.url, { body }, token);
      expect(result.status).toBe(400);
      expect(result.error?.data.zodError?.fieldErrors.body).toHaveLength(1);
    }
  });

  it('accepts 280 characters counted as code points, so 280 emoji fit', async () => {
    const { token } = await signedInUser(t.url);
    for (const body of ['x'.repeat(280), BIRD.repeat(280), `${'a'.repeat(279)}${BIRD}`, `  ${'y'.repeat(280)}  \n`]) {
      const post = await createPost(t.url, token, body);
      expect(post.body).toBe(body.trim());
      expect([...post.body]).toHaveLength(280);
    }
  });

  it('refuses 281 characters, an empty body and one of only whitespace, and stores nothing', async () => {
    const author = await signedInUser(t.url);
    for (const body of ['x'.repeat(281), BIRD.repeat(281), `${'a'.repeat(280)}${BIRD}`, '', '   ', ' \n\t\u00a0 ']) {
      const result = await createPostCall(t.url, { body }, author.token);
      expectTrpcError(result, 400, 'BAD_REQUEST');
      expect(result.error?.data.zodError?.fieldErrors.body).toEqual([expect.any(String)]);
    }
    for (const input of [{}, { body: 42 }, { body: null }, undefined]) {
      expectTrpcError(await createPostCall(t.url, input, author.token), 400, 'BAD_REQUEST');
    }
    expect(succeeded(await postsByUser(t.url, author.username)).items).toEqual([]);
  });

  it('refuses unknown keys such as authorId, so no one can post as someone else', async () => {
    const mallory = await signedInUser(t.url);
    const victim = await signedInUser(t.url);
    const inputs = [
      { body: 'hi', authorId: victim.id },
      { body: 'hi', author: { id: victim.id } },
      { body: 'hi', deletedAt: null },
      { body: 'hi', id: randomUUID() },
    ];
    for (const input of inputs) {
      expectTrpcError(await createPostCall(t.url, input, mallory.token), 400, 'BAD_REQUEST');
    }
    expect(succeeded(await postsByUser(t.url, victim.username)).items).toEqual([]);
    expect(succeeded(await postsByUser(t.url, mallory.username)).items).toEqual([]);
  });

  it('needs an access token', async () => {
    expectTrpcError(await createPostCall(t.url, { body: 'anonymous' }), 401, 'UNAUTHORIZED');
    expectTrpcError(await createPostCall(t.url, { body: 'forged' }, 'not.a.token'), 401, 'UNAUTHORIZED');
  });
});

describe('posts.delete', () => {
  const t = useTestApp();

  it('deletes the caller’s own post: the row stays, marked, and every read stops showing it', async () => {
    const author = await signedInUser(t.url);
    const reader = await signedInUser(t.url);
    await follow(t.url, reader.token, author.username);
    const kept = await createPost(t.url, author.token, 'kept');
    const post = await createPost(t.url, author.token, 'regrettable');

    const before = Date.now();
    const result = await deletePost(t.url, post.id, author.token);
    const deleted = succeeded(result);
    expect(deleted).toEqual({ id: post.id, deletedAt: expect.stringMatching(ISO) });
    expect(Math.abs(Date.parse(deleted.deletedAt) - before)).toBeLessThan(5000);

    const row = await postRow(t.db.url, post.id);
    expect(row).toMatchObject({ id: post.id, author_id: author.id, body: 'regrettable' });
    expect(row?.deleted_at?.toISOString()).toBe(deleted.deletedAt);
    expect((await postRow(t.db.url, kept.id))?.deleted_at).toBeNull();

    expectTrpcError(await postById(t.url, post.id), 404, 'NOT_FOUND');
    expect(idsOf(succeeded(await postsByUser(t.url, author.username)).items)).toEqual([kept.id]);
    expect(idsOf(succeeded(await timeline(t.url, reader.token)).items)).toEqual([kept.id]);
    expect(idsOf(succeeded(await timeline(t.url, author.token)).items)).toEqual([kept.id]);
    expect(succeeded(await userProfile(t.url, author.username)).postsCount).toBe(1);
  });

  it('refuses another user’s post and leaves it visible', async () => {
    const author = await signedInUser(t.url);
    const other = await signedInUser(t.url);
    const post = await createPost(t.url, author.token, 'mine, not yours');

    expectTrpcError(await deletePost(t.url, post.id, other.token), 403, 'FORBIDDEN');

    expect(succeeded(await postById(t.url, post.id))).toEqual(post);
    expect((await postRow(t.db.url, post.id))?.deleted_at).toBeNull();
    expect(idsOf(succeeded(await postsByUser(t.url, author.username)).items)).toEqual([post.id]);
  });

  it('answers NOT_FOUND for an unknown id, a malformed one, and a post already deleted', async () => {
    const author = await signedInUser(t.url);
    const other = await signedInUser(t.url);
    for (const id of [randomUUID(), 'nope', '00000000-0000-0000-0000-00000000000g', "1' or '1'='1"]) {
      expectTrpcError(await deletePost(t.url, id, author.token), 404, 'NOT_FOUND');
    }

    const post = await createPost(t.url, author.token, 'short-lived');
    const first = succeeded(await deletePost(t.url, post.id, author.token));
    expectTrpcError(await deletePost(t.url, post.id, author.token), 404, 'NOT_FOUND');
    // Someone else learns no more about a deleted post than that it is not there.
    expectTrpcError(await deletePost(t.url, post.id, other.token), 404, 'NOT_FOUND');
    // The first deletion's mark stands.
    expect((await postRow(t.db.url, post.id))?.deleted_at?.toISOString()).toBe(first.deletedAt);
  });

  it('lets exactly one of two concurrent deletes of a post succeed; the other is NOT_FOUND', async () => {
    const author = await signedInUser(t.url);
    for (let round = 0; round < 5; round++) {
      const post = await createPost(t.url, author.token, `race ${round}`);
      const results = await Promise.all([
        deletePost(t.url, post.id, author.token),
        deletePost(t.url, post.id, author.token),
      ]);
      expect(results.map((result) => result.status).sort()).toEqual([200, 404]);
      const winner = results.find((result) => result.status === 200)!;
      expect(winner.data).toEqual({ id: post.id, deletedAt: expect.stringMatching(ISO) });
      expect(results.find((result) => result.status === 404)?.error?.data.code).toBe('NOT_FOUND');
      expect((await postRow(t.db.url, post.id))?.deleted_at?.toISOString()).toBe(winner.data?.deletedAt);
    }
  });

  it('needs an access token, and refuses unknown keys', async () => {
    const author = await signedInUser(t.url);
    const post = await createPost(t.url, author.token, 'still here');
    expectTrpcError(await deletePost(t.url, post.id), 401, 'UNAUTHORIZED');
    expectTrpcError(await deletePost(t.url, post.id, 'not.a.token'), 401, 'UNAUTHORIZED');
    const extra = await mutate(t.url, 'posts.delete', { id: post.id, deletedAt: null }, { token: author.token });
    expectTrpcError(extra, 400, 'BAD_REQUEST');
    expect(succeeded(await postById(t.url, post.id))).toEqual(post);
  });
});

describe('posts.byId', () => {
  const t = useTestApp();

  it('returns the post to anyone, token or not', async () => {
    const author = await signedInUser(t.url);
    const stranger = await signedInUser(t.url);
    const post = await createPost(t.url, author.token, 'for everyone');
    expect(succeeded(await postById(t.url, post.id))).toEqual(post);
    expect(succeeded(await postById(t.url, post.id, stranger.token))).toEqual(post);
  });

  it('answers NOT_FOUND for a deleted post, an unknown id and a malformed one, never a 500', async () => {
    const author = await signedInUser(t.url);
    const post = await createPost(t.url, author.token, 'gone soon');
    succeeded(await deletePost(t.url, post.id, author.token));
    const ids = [post.id, randomUUID(), 'nope', '00000000-0000-0000-0000-00000000000g', `${post.id}x`, "'; --"];
    for (const id of ids) {
      const result = await postById(t.url, id);
      expectTrpcError(result, 404, 'NOT_FOUND');
      expect(result.text).not.toMatch(/uuid|syntax|select/i);
    }
  });
});
