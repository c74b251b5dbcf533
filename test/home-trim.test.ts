// Home timelines keep about HOME_TIMELINE_CAP entries: the fan-out trims the timelines it writes to
// (each about one time in 50: made every time here) and raises their floor, below which pages take
// the pull query, still exactly the same pages.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { testEnv, useTestApp } from './helpers/app.ts';
import { definition, drain, entryIds, expectIdenticalPages, homeState, readAndBuild } from './helpers/home.ts';
import { createPost, follow, signedInUser } from './helpers/social.ts';

const CAP = 8;

describe('home timelines: the trim to the cap', () => {
  const t = useTestApp({ env: testEnv({ HOME_TIMELINE_CAP: String(CAP) }) });
  afterEach(() => vi.restoreAllMocks());

  it('keeps the cap’s worth of entries after many posts, raises the floor, and pages the rest by pull', async () => {
    const [viewer, ...authors] = await Promise.all([signedInUser(t.url), signedInUser(t.url), signedInUser(t.url)]);
    for (const author of authors) await follow(t.url, viewer.token, author.username);
    await readAndBuild(t, [viewer]);
    expect(await homeState(t.db.url, viewer.id)).toEqual({ built: true, floor: null });

    // The worker runs in this process: every fan-out round now trims the timelines it wrote to.
    vi.spyOn(Math, 'random').mockReturnValue(0);
    for (let i = 0; i < 60; i++) {
      await createPost(t.url, authors[i % 2]!.token, `post ${i}`);
      if (i % 10 === 9) await drain(t.db.url);
    }
    await drain(t.db.url);
    vi.restoreAllMocks();

    const entries = await entryIds(t.db.url, viewer.id);
    expect(entries).toHaveLength(CAP);
    const expected = await definition(t.db.url, viewer.id);
    expect(expected).toHaveLength(60);
    // Exactly the newest CAP posts are kept, and the floor is the oldest of them.
    expect(entries.sort()).toEqual(
      expected
        .slice(0, CAP)
        .map((post) => post.id)
        .sort(),
    );
    expect((await homeState(t.db.url, viewer.id))?.floor).toEqual(expected[CAP - 1]);

    const kinds = await expectIdenticalPages(t, viewer, [1, 3, CAP, 100]);
    expect(kinds.get(3)!.slice(0, 3)).toEqual(['page', 'page', 'below floor']);
    expect(kinds.get(1)!.filter((kind) => kind === 'page')).toHaveLength(CAP - 1);
  });
});
