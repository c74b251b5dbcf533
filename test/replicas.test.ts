// Read replicas against a real primary and a real streaming replica (test/helpers/replica.ts): list
// reads are served by the replica (seen in the replica's own statistics); each caller still reads
// their own writes on every process; a replica that lags or is stopped changes nothing for clients
// but latency.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, testEnv, type TestApp } from './helpers/app.ts';
import { startReplicaPair, type ReplicaPair } from './helpers/replica.ts';
import { sql } from './helpers/sessions.ts';
import {
  createPost,
  eventually,
  follow,
  idsOf,
  postById,
  postsByUser,
  signedInUser,
  succeeded,
  timeline,
  userProfile,
  type UserPage,
} from './helpers/social.ts';
import { query } from './helpers/trpc.ts';

// Reads of the list tables on one server, as its statistics count them (each server counts its own).
async function listReads(url: string): Promise<number> {
  const [row] = await sql<{ n: string }>(
    url,
    `select coalesce(sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)), 0)::text as n
     from pg_stat_user_tables where relname in ('posts', 'users', 'follows')`,
  );
  return Number(row!.n);
}

const following = (url: string, username: string, token: string) =>
  query<UserPage>(url, 'users.following', { username }, { token });

describe('read replicas', () => {
  let pair: ReplicaPair;
  let primaryUrl: string;
  let replicaUrl: string;
  const apps: TestApp[] = [];

  // Two processes on the same primary and replica. No job worker and no home timelines: the
  // primary's statistics then move only with what the calls themselves read.
  const replicaEnv = (maxLagMs: number) =>
    testEnv({
      DATABASE_REPLICA_URLS: replicaUrl,
      DATABASE_REPLICA_MAX_LAG_MS: String(maxLagMs),
      JOB_WORKER: 'false',
      HOME_TIMELINE_CAP: '0',
    });
  const startApps = async (maxLagMs: number, env = replicaEnv(maxLagMs)) => {
    const started = [
      await startTestApp({ databaseUrl: primaryUrl, env }),
      await startTestApp({ databaseUrl: primaryUrl, env }),
    ];
    apps.push(...started);
    return started as [TestApp, TestApp];
  };
  const closeApps = async () => {
    for (const app of apps.splice(0)) await app.close();
  };

  beforeAll(async () => {
    pair = await startReplicaPair();
    ({ primaryUrl, replicaUrl } = await pair.createDatabase());
  }, 120_000);
  afterAll(async () => {
    await closeApps();
    await pair?.stop();
  });

  it('serves list reads from the replica, and keeps auth and writes on the primary', async () => {
    const env = replicaEnv(1000);
    const [setup] = await startApps(1000, env);
    const ada = await signedInUser(setup.url);
    const bob = await signedInUser(setup.url);
    await follow(setup.url, ada.token, bob.username);
    const post = await createPost(setup.url, bob.token, 'read me from the replica');
    // A server counts a session's reads when it goes idle, up to 10 s later, or when it ends: the
    // processes that did the writes are closed, so the primary's count below starts settled.
    await closeApps();
    const [a] = await startApps(1000, env);
    try {
      await pair.caughtUp();
      // The app's own check (every 100 ms) must have seen the replica caught up, too.
      await new Promise((resolve) => setTimeout(resolve, 300));

      const onReplica = await listReads(replicaUrl);
      const onPrimary = await listReads(primaryUrl);
      for (let i = 0; i < 5; i++) {
        expect(idsOf(succeeded(await postsByUser(a.url, bob.username)).items)).toEqual([post.id]);
        expect(succeeded(await postById(a.url, post.id)).body).toBe('read me from the replica');
        expect(succeeded(await userProfile(a.url, bob.username)).postsCount).toBe(1);
        expect(idsOf(succeeded(await timeline(a.url, ada.token)).items)).toEqual([post.id]);
        expect(succeeded(await following(a.url, ada.username, ada.token)).items.map((u) => u.username)).toEqual([
          bob.username,
        ]);
      }
      // 25 list calls, each several reads: the replica counted them, the primary did not.
      await eventually(
        async () => (await listReads(replicaUrl)) - onReplica >= 25,
        'the replica served the reads',
        15_000,
      );
      expect((await listReads(primaryUrl)) - onPrimary).toBeLessThan(10);
    } finally {
      await closeApps();
    }
  }, 60_000);

  it("gives every caller their own writes on every process while the replica is behind, and others the replica's view", async () => {
    // A replica 60 s behind is still in use: only the callers' own writes keep them off it.
    const [a, b] = await startApps(60_000);
    try {
      const ada = await signedInUser(a.url);
      const bob = await signedInUser(a.url);
      await pair.caughtUp();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await pair.pauseReplay();
      try {
        const post = await createPost(a.url, ada.token, 'written while the replica is paused');
        // Ada's very next reads, on the other process: her post, and her count.
        expect(idsOf(succeeded(await timeline(b.url, ada.token)).items)).toEqual([post.id]);
        expect(succeeded(await userProfile(b.url, ada.username, { token: ada.token })).postsCount).toBe(1);
        expect(succeeded(await postById(b.url, post.id, ada.token)).id).toBe(post.id);
        // Anyone else reads the replica, which has not replayed it yet (the lag the setting allows).
        expect(succeeded(await postsByUser(b.url, ada.username)).items).toEqual([]);
        expect(succeeded(await userProfile(b.url, ada.username, { token: bob.token })).postsCount).toBe(0);

        // A follow is in the follower's next `following` list, on either process.
        await follow(b.url, bob.token, ada.username);
        for (const app of [a, b]) {
          expect(succeeded(await following(app.url, bob.username, bob.token)).items.map((u) => u.username)).toEqual([
            ada.username,
          ]);
          expect(idsOf(succeeded(await timeline(app.url, bob.token)).items)).toEqual([post.id]);
        }
      } finally {
        await pair.resumeReplay();
      }
      await pair.caughtUp();
      await eventually(
        async () => succeeded(await postsByUser(b.url, ada.username)).items.length === 1,
        'the replica caught up',
        5000,
      );
    } finally {
      await closeApps();
    }
  }, 60_000);

  it('reads from the primary while the replica lags more than DATABASE_REPLICA_MAX_LAG_MS', async () => {
    const [a] = await startApps(500);
    try {
      const ada = await signedInUser(a.url);
      await pair.caughtUp();
      await pair.pauseReplay();
      try {
        await createPost(a.url, ada.token, 'one');
        // Past the allowed lag, an anonymous reader gets the primary's answer.
        await new Promise((resolve) => setTimeout(resolve, 1000));
        const onReplica = await listReads(replicaUrl);
        const post = await createPost(a.url, ada.token, 'two');
        const page = succeeded(await postsByUser(a.url, ada.username));
        expect(page.items[0]!.id).toBe(post.id);
        expect(page.items).toHaveLength(2);
        await new Promise((resolve) => setTimeout(resolve, 1500));
        expect(await listReads(replicaUrl)).toBe(onReplica);
      } finally {
        await pair.resumeReplay();
      }
    } finally {
      await closeApps();
    }
  }, 60_000);

  it('answers every read while the replica is stopped, and uses it again once it is back', async () => {
    const [a] = await startApps(1000);
    try {
      const ada = await signedInUser(a.url);
      const post = await createPost(a.url, ada.token, 'through a replica outage');
      await pair.caughtUp();
      await new Promise((resolve) => setTimeout(resolve, 300));
      await pair.stopReplica();
      try {
        // The first read may still pick the replica (its last check was fine): it fails over.
        for (let i = 0; i < 5; i++) {
          expect(idsOf(succeeded(await postsByUser(a.url, ada.username)).items)).toEqual([post.id]);
          expect(idsOf(succeeded(await timeline(a.url, ada.token)).items)).toEqual([post.id]);
        }
        expect((await fetch(`${a.url}/readyz`)).status).toBe(200);
      } finally {
        await pair.startReplica();
      }
      const before = await listReads(replicaUrl);
      await eventually(
        async () => {
          succeeded(await postsByUser(a.url, ada.username));
          return (await listReads(replicaUrl)) > before;
        },
        'reads went back to the replica',
        20_000,
      );
    } finally {
      await closeApps();
    }
  }, 60_000);
});
