// Users without a home timeline (new, or back after inactivity) read the pull query, which asks the
// job worker for a build; built, the pages are the same. HOME_TIMELINE_CAP=0 turns it all off.
import { describe, expect, it } from 'vitest';
import { readHomePage } from '../server/timelines/home-read.ts';
import { expireInactive } from '../server/timelines/home-writes.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import {
  buildNow,
  definition,
  drain,
  entryIds,
  expectIdenticalPages,
  homeState,
  idsOf,
  readAndBuild,
  sqlPosts,
  waitBuilt,
  withAppClient,
} from './helpers/home.ts';
import { sql } from './helpers/sessions.ts';
import { createPost, follow, signedInUser, succeeded, timeline } from './helpers/social.ts';

const shown = async (url: string, token: string) => idsOf(succeeded(await timeline(url, token, { limit: 100 })).items);

describe('home timelines: builds and expiry', () => {
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: '5' }) });
  const homeKind = async (userId: string) => (await readHomePage(t.orm.em.fork(), userId, undefined, 3)).kind;

  it('answers an unbuilt user’s first read with the pull query and builds their timeline for the next', async () => {
    const [viewer, friend] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await follow(t.url, viewer.token, friend.username);
    await sqlPosts(t.db.url, [
      ...Array.from({ length: 12 }, (_, i) => ({ author: friend.id, age: 10 * i })),
      { author: viewer.id, age: 55 },
    ]);
    expect(await homeState(t.db.url, viewer.id)).toBeUndefined();
    expect(await homeKind(viewer.id)).toBe('unbuilt');

    // The first read: the pull query's page, and a build asked for (nothing else builds it).
    expect(await shown(t.url, viewer.token)).toEqual(idsOf(await definition(t.db.url, viewer.id)));
    await waitBuilt(t.db.url, [viewer.id]);
    expect((await homeState(t.db.url, viewer.id))?.floor).not.toBeNull();
    expect(await entryIds(t.db.url, viewer.id)).toHaveLength(5);
    const kinds = await expectIdenticalPages(t, viewer, [1, 4, 20]);
    expect(kinds.get(4)).toEqual(['page', 'below floor', 'below floor', 'below floor']);
  });

  it('works for a new user who follows nobody', async () => {
    const loner = await signedInUser(t.url);
    expect(succeeded(await timeline(t.url, loner.token))).toEqual({ items: [], nextCursor: null });
    await waitBuilt(t.db.url, [loner.id]);
    expect(await homeState(t.db.url, loner.id)).toEqual({ built: true, floor: null });
    expect(succeeded(await timeline(t.url, loner.token))).toEqual({ items: [], nextCursor: null });
    const post = await createPost(t.url, loner.token, 'anyone there?');
    expect(succeeded(await timeline(t.url, loner.token))).toEqual({ items: [post], nextCursor: null });
    expect(await homeKind(loner.id)).toBe('page');
  });

  it('drops timelines unread for the inactive days; their owner reads the pull query and gets a new one', async () => {
    const [away, around, friend] = await Promise.all([signedInUser(t.url), signedInUser(t.url), signedInUser(t.url)]);
    for (const user of [away, around]) await follow(t.url, user.token, friend.username);
    // Built directly: the app asks for a user's build at most once a minute, and the rebuild
    // below must be its first request.
    await buildNow(t, [away.id, around.id]);
    for (let i = 0; i < 3; i++) await createPost(t.url, friend.token, `news ${i}`);
    await drain(t.db.url);
    expect(await entryIds(t.db.url, away.id)).toHaveLength(3);
    await sql(t.db.url, `update home_timelines set read_at = now() - interval '8 days' where user_id = $1`, [away.id]);
    await sql(t.db.url, `update home_timelines set read_at = now() - interval '6 days' where user_id = $1`, [
      around.id,
    ]);

    expect(await withAppClient(t.orm, (client) => expireInactive(client, 7))).toBe(1);
    expect(await homeState(t.db.url, away.id)).toBeUndefined();
    expect(await entryIds(t.db.url, away.id)).toEqual([]);
    expect(await homeState(t.db.url, around.id)).toEqual({ built: true, floor: null });
    expect(await entryIds(t.db.url, around.id)).toHaveLength(3);

    expect(await shown(t.url, away.token)).toEqual(idsOf(await definition(t.db.url, away.id)));
    await waitBuilt(t.db.url, [away.id]);
    expect(await entryIds(t.db.url, away.id)).toHaveLength(3);
    await expectIdenticalPages(t, away, [2]);
  });

  it('notes a read in read_at, at most daily', async () => {
    const reader = await signedInUser(t.url);
    await readAndBuild(t, [reader]);
    const readAt = async () =>
      (await sql<{ read_at: Date }>(t.db.url, 'select read_at from home_timelines where user_id = $1', [reader.id]))[0]!
        .read_at;
    await sql(t.db.url, `update home_timelines set read_at = now() - interval '2 days' where user_id = $1`, [
      reader.id,
    ]);
    await shown(t.url, reader.token);
    const fresh = await readAt();
    expect(Date.now() - fresh.getTime()).toBeLessThan(60_000);
    await sql(t.db.url, `update home_timelines set read_at = now() - interval '20 hours' where user_id = $1`, [
      reader.id,
    ]);
    const recent = await readAt();
    await shown(t.url, reader.token);
    expect(await readAt()).toEqual(recent);
  });
});

describe('home timelines with HOME_TIMELINE_CAP=0', () => {
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: '0' }) });

  it('serves the pull query only, and asks for no build', async () => {
    const [viewer, friend] = await Promise.all([signedInUser(t.url), signedInUser(t.url)]);
    await follow(t.url, viewer.token, friend.username);
    for (let i = 0; i < 3; i++) await createPost(t.url, friend.token, `post ${i}`);
    await createPost(t.url, viewer.token, 'mine');
    for (let i = 0; i < 3; i++) {
      expect(await shown(t.url, viewer.token)).toEqual(idsOf(await definition(t.db.url, viewer.id)));
    }
    // The fan-out ran after the reads (and a build they had asked for would have run by then).
    await drain(t.db.url);
    expect(await sql(t.db.url, 'select * from home_timelines')).toEqual([]);
    expect(await sql(t.db.url, 'select * from home_timeline_entries')).toEqual([]);
    expect(await sql(t.db.url, `select * from graphile_worker.jobs where task_identifier = 'home_build'`)).toEqual([]);
  });
});
