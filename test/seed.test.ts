import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestApp } from './helpers/app.ts';
import { login } from './helpers/auth.ts';
import { createTestDatabase } from './helpers/database.ts';
import { query } from './helpers/trpc.ts';

const SEED = path.join(import.meta.dirname, '..', 'server', 'commands', 'seed.ts');

interface TimelinePage {
  items: { body: string; author: { username: string } }[];
  nextCursor: string | null;
}

describe('npm run db:seed', () => {
  it('loads demo users, posts and follows, idempotently, so a sample user reads a real timeline', async () => {
    const db = await createTestDatabase({ empty: true });
    try {
      const env = { DATABASE_URL: db.url, BCRYPT_COST: '4', LOG_LEVEL: 'info' };
      for (let run = 0; run < 2; run++) {
        const result = spawnSync(process.execPath, [SEED], { env, encoding: 'utf8' });
        expect(result.status, result.stderr).toBe(0);
      }
      const app = await startTestApp({ databaseUrl: db.url });
      try {
        const tokens = await login(app.url, 'joey2go', 'warble-demo-password');
        const timeline = await query<TimelinePage>(
          app.url,
          'posts.timeline',
          { limit: 50 },
          { token: tokens.accessToken },
        );
        const authors = new Set(timeline.data?.items.map((post) => post.author.username));
        expect([...authors].sort()).toEqual(['ada_l', 'grace_h', 'joey2go', 'linus_t']);
        // Run twice, loaded once: 4 + 3 + 3 + 2 posts from these four authors.
        expect(timeline.data?.items).toHaveLength(12);
        const profile = await query<{ followingCount: number; followersCount: number }>(app.url, 'users.profile', {
          username: 'joey2go',
        });
        expect(profile.data).toMatchObject({ followingCount: 3, followersCount: 2 });
      } finally {
        await app.close();
      }
    } finally {
      await db.drop();
    }
  });
});
