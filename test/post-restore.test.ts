// posts.restore (contract: undoes the caller's own posts.delete within POST_RESTORE_SECONDS of it;
// later, someone else's, unknown or live → NOT_FOUND / FORBIDDEN as for delete). What a user must
// see: the post comes back as it was (same id, body, createdAt, author), at its old place in every
// list (a deleted post keeps its row, so keyset pages find it where it was), in the counts, and in
// followers' live timelines.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testEnv, useTestApp, type TestApp } from './helpers/app.ts';
import { sql } from './helpers/sessions.ts';
import {
  createPost,
  deletePost,
  expectTrpcError,
  follow,
  pagedIds,
  postById,
  postsByUser,
  postsInOrder,
  restorePostCall,
  signedInUser,
  succeeded,
  timeline,
  userProfile,
  type PostDto,
} from './helpers/social.ts';
import { expectExactly, timelineOf } from './helpers/sse.ts';

const DEFAULT_WINDOW_SECONDS = 86_400;

describe('posts.restore', () => {
  const t = useTestApp();

  const restore = async (id: string, token: string) => succeeded(await restorePostCall(t.url, id, token));
  const deleted = async (id: string, token: string) => succeeded(await deletePost(t.url, id, token));
  const expectGone = async (id: string) => expectTrpcError(await postById(t.url, id), 404, 'NOT_FOUND');

  /** Moves a post's deletion back in time, as if it had been deleted `seconds` ago. */
  const deletedAgo = (id: string, seconds: number) =>
    sql(t.db.url, `update posts set deleted_at = now() - make_interval(secs => $2) where id = $1`, [id, seconds]);

  it('brings the post back as it was: same id, body, createdAt and author, in every read and count', async () => {
    const [ada, reader] = [await signedInUser(t.url), await signedInUser(t.url)];
    await follow(t.url, reader.token, ada.username);
    const post = await createPost(t.url, ada.token, '  the post that comes back  ');
    await deleted(post.id, ada.token);
    await expectGone(post.id);
    expect(succeeded(await userProfile(t.url, ada.username)).postsCount).toBe(0);

    const restored = await restore(post.id, ada.token);
    expect(restored).toEqual(post);
    expect(succeeded(await postById(t.url, post.id))).toEqual(post);
    expect(succeeded(await postsByUser(t.url, ada.username)).items).toEqual([post]);
    expect(succeeded(await timeline(t.url, reader.token)).items).toEqual([post]);
    expect(succeeded(await userProfile(t.url, ada.username)).postsCount).toBe(1);
  });

  it('puts a restored post back on its old page, between its old neighbours, in byUser and timelines', async () => {
    const [ada, reader] = [await signedInUser(t.url), await signedInUser(t.url)];
    await follow(t.url, reader.token, ada.username);
    const posts = await postsInOrder(
      t.url,
      ada.token,
      Array.from({ length: 25 }, (_, i) => `post ${i}`),
    );
    // Pages of 5, newest first; "post 12" is the middle of the third page.
    const readByUser = () => pagedIds((cursor) => postsByUser(t.url, ada.username, { cursor, limit: 5 }));
    const readTimeline = () => pagedIds((cursor) => timeline(t.url, reader.token, { cursor, limit: 5 }));
    const byUserBefore = await readByUser();
    const timelineBefore = await readTimeline();
    expect(byUserBefore).toHaveLength(5);
    const middle = posts[12]!;
    expect(byUserBefore[2]![2]).toBe(middle.id);
    expect(timelineBefore).toEqual(byUserBefore);

    await deleted(middle.id, ada.token);
    for (const pages of [await readByUser(), await readTimeline()]) {
      expect(pages.flat()).toEqual(byUserBefore.flat().filter((id) => id !== middle.id));
    }

    await restore(middle.id, ada.token);
    // Exactly the pages from before the delete: same page index, same position, same neighbours.
    expect(await readByUser()).toEqual(byUserBefore);
    expect(await readTimeline()).toEqual(timelineBefore);
  });

  it('refuses someone else’s post with FORBIDDEN, and leaves it as it was', async () => {
    const [ada, mallory] = [await signedInUser(t.url), await signedInUser(t.url)];
    const [gone, live] = [await createPost(t.url, ada.token, 'deleted'), await createPost(t.url, ada.token, 'live')];
    await deleted(gone.id, ada.token);

    expectTrpcError(await restorePostCall(t.url, gone.id, mallory.token), 403, 'FORBIDDEN');
    expectTrpcError(await restorePostCall(t.url, live.id, mallory.token), 403, 'FORBIDDEN');
    await expectGone(gone.id);
    expect(succeeded(await postsByUser(t.url, ada.username)).items).toEqual([live]);
    // Its author still can.
    expect(await restore(gone.id, ada.token)).toEqual(gone);
  });

  it('answers NOT_FOUND for an unknown or malformed id, a live post, and a second restore', async () => {
    const ada = await signedInUser(t.url);
    for (const id of ['01890000-0000-7000-8000-000000000000', 'not-a-uuid', "'; drop table posts; --"]) {
      expectTrpcError(await restorePostCall(t.url, id, ada.token), 404, 'NOT_FOUND');
    }
    const post = await createPost(t.url, ada.token, 'never deleted');
    expectTrpcError(await restorePostCall(t.url, post.id, ada.token), 404, 'NOT_FOUND');
    expect(succeeded(await postById(t.url, post.id))).toEqual(post);

    await deleted(post.id, ada.token);
    await restore(post.id, ada.token);
    expectTrpcError(await restorePostCall(t.url, post.id, ada.token), 404, 'NOT_FOUND');
    expect(succeeded(await postsByUser(t.url, ada.username)).items).toEqual([post]);
  });

  it('refuses a caller without a token (401), and an empty id (400)', async () => {
    const ada = await signedInUser(t.url);
    const post = await createPost(t.url, ada.token, 'deleted');
    await deleted(post.id, ada.token);
    expectTrpcError(await restorePostCall(t.url, post.id), 401, 'UNAUTHORIZED');
    expectTrpcError(await restorePostCall(t.url, '', ada.token), 400, 'BAD_REQUEST');
    await expectGone(post.id);
  });

  it('works again and again: delete → restore → delete → restore → delete', async () => {
    const ada = await signedInUser(t.url);
    const post = await createPost(t.url, ada.token, 'back and forth');
    for (let round = 0; round < 2; round++) {
      await deleted(post.id, ada.token);
      await expectGone(post.id);
      expect(await restore(post.id, ada.token)).toEqual(post);
      expect(succeeded(await postById(t.url, post.id))).toEqual(post);
    }
    // A restored post is live again in every way: its author can delete it as before.
    await deleted(post.id, ada.token);
    await expectGone(post.id);
    expect(succeeded(await userProfile(t.url, ada.username)).postsCount).toBe(0);
  });

  it('restores within POST_RESTORE_SECONDS (default a day) of the delete, and not after', async () => {
    const ada = await signedInUser(t.url);
    const [late, inTime] = [await createPost(t.url, ada.token, 'late'), await createPost(t.url, ada.token, 'in time')];
    for (const post of [late, inTime]) await deleted(post.id, ada.token);
    // Seconds, not milliseconds or minutes: one a minute past the day, one a minute short of it.
    await deletedAgo(late.id, DEFAULT_WINDOW_SECONDS + 60);
    await deletedAgo(inTime.id, DEFAULT_WINDOW_SECONDS - 60);

    expectTrpcError(await restorePostCall(t.url, late.id, ada.token), 404, 'NOT_FOUND');
    await expectGone(late.id);
    expect(await restore(inTime.id, ada.token)).toEqual(inTime);
  });

  it('tells a follower’s live timeline: the delete, then the restored post', async () => {
    const [ada, reader] = [await signedInUser(t.url), await signedInUser(t.url)];
    await follow(t.url, reader.token, ada.username);
    const post = await createPost(t.url, ada.token, 'comes and goes');
    const stream = timelineOf(t.url, reader.token);
    await stream.connected();

    await deleted(post.id, ada.token);
    const restored = await restore(post.id, ada.token);
    await expectExactly(stream, [`delete:${post.id}`, 'post:comes and goes']);
    expect(stream.received()[1]?.data).toEqual({ type: 'post', post: restored });
  });
});

describe('posts.restore with a short or no window', () => {
  // Three processes on one database (one token secret): the default window, 1 s, and 0 (off).
  const t = useTestApp();
  let short: TestApp;
  let disabled: TestApp;
  beforeAll(async () => {
    const env = (seconds: string) => testEnv({ POST_RESTORE_SECONDS: seconds, JWT_SECRET: t.env.JWT_SECRET! });
    short = await startTestApp({ databaseUrl: t.db.url, env: env('1') });
    disabled = await startTestApp({ databaseUrl: t.db.url, env: env('0') });
  });
  afterAll(async () => {
    await short?.close();
    await disabled?.close();
  });

  async function deletedPost(url: string): Promise<PostDto & { token: string }> {
    const ada = await signedInUser(url);
    const post = await createPost(url, ada.token, 'soon deleted');
    succeeded(await deletePost(url, post.id, ada.token));
    return { ...post, token: ada.token };
  }

  it('with POST_RESTORE_SECONDS=1: NOT_FOUND once a second has passed since the delete', async () => {
    const post = await deletedPost(short.url);
    // Real time, by the database's clock (now() against deleted_at); a margin over the second.
    await sleep(1_200);
    expectTrpcError(await restorePostCall(short.url, post.id, post.token), 404, 'NOT_FOUND');
    expectTrpcError(await postById(short.url, post.id), 404, 'NOT_FOUND');
    // The process with the default window still restores it: only the setting said no.
    expect(succeeded(await restorePostCall(t.url, post.id, post.token)).id).toBe(post.id);
  });

  it('with POST_RESTORE_SECONDS=0: never, even right after the delete', async () => {
    const post = await deletedPost(disabled.url);
    expectTrpcError(await restorePostCall(disabled.url, post.id, post.token), 404, 'NOT_FOUND');
    expectTrpcError(await postById(disabled.url, post.id), 404, 'NOT_FOUND');
    expect(succeeded(await restorePostCall(t.url, post.id, post.token)).id).toBe(post.id);
  });
});
