// npm run db:seed: a small, believable data set for trying Warble by hand. Idempotent: users
// that exist are kept (their password is not reset), posts are added only to users who have
// none, follows that exist are left alone.
import { hashPassword } from '../auth/passwords.ts';
import { migrate } from '../db.ts';
import { Post } from '../posts/post.entity.ts';
import { Follow } from '../users/follow.entity.ts';
import { findUserByUsername } from '../users/profile.ts';
import { User } from '../users/user.entity.ts';
import { runWithDatabase } from './run-with-database.ts';

const DEMO_PASSWORD = 'warble-demo-password';

const USERS: Record<string, string[]> = {
  joey2go: [
    'Just set up my Warble account. Hello, world!',
    'Coffee first, then code. Always in that order.',
    'Finally fixed the flaky test. It was a timezone. It is always a timezone.',
    'Weekend plan: bike ride along the river, then absolutely nothing.',
  ],
  ada_l: [
    'The engine weaves algebraic patterns just as the loom weaves flowers and leaves.',
    'Wrote notes longer than the paper they annotate. Again.',
    'Imagination is the discovering faculty, pre-eminently.',
  ],
  grace_h: [
    'It is easier to ask forgiveness than it is to get permission.',
    'Found an actual bug in the relay today. Taped it into the logbook.',
    'A ship in port is safe, but that is not what ships are built for.',
  ],
  linus_t: ['Talk is cheap. Show me the code.', 'Release candidate tagged. Please test it on real hardware.'],
  margaret_h: [
    'Priority displays saved the landing. Design for the failure you did not plan for.',
    'There was no choice but to be pioneers.',
  ],
  tim_bl: ['This is for everyone.', 'Data is a precious thing and will last longer than the systems themselves.'],
};

// Display names for new demo users (existing ones keep whatever they set themselves).
const DISPLAY_NAMES: Record<string, string> = {
  joey2go: 'Joey',
  ada_l: 'Ada Lovelace',
  grace_h: 'Grace Hopper',
  linus_t: 'Linus',
  margaret_h: 'Margaret Hamilton',
  tim_bl: 'Tim B-L',
};

const FOLLOWS: [string, string][] = [
  ['joey2go', 'ada_l'],
  ['joey2go', 'grace_h'],
  ['joey2go', 'linus_t'],
  ['ada_l', 'grace_h'],
  ['grace_h', 'margaret_h'],
  ['grace_h', 'ada_l'],
  ['linus_t', 'joey2go'],
  ['margaret_h', 'grace_h'],
  ['tim_bl', 'joey2go'],
  ['tim_bl', 'ada_l'],
];

await runWithDatabase(async (database, { env, logger }) => {
  await migrate(database.orm);
  const em = database.orm.em.fork();
  const users = new Map<string, User>();
  let created = 0;
  for (const username of Object.keys(USERS)) {
    let user = await findUserByUsername(em, username);
    if (!user) {
      const passwordHash = await hashPassword(DEMO_PASSWORD, env.BCRYPT_COST);
      user = em.create(User, { username, passwordHash, displayName: DISPLAY_NAMES[username] ?? null });
      created++;
    }
    users.set(username, user);
  }
  await em.flush();
  logger.info(`users: ${created} created, ${users.size - created} already there`);

  let posts = 0;
  const now = Date.now();
  for (const [username, bodies] of Object.entries(USERS)) {
    const author = users.get(username)!;
    if ((await em.count(Post, { author }, { filters: false })) > 0) continue;
    // Spread over the last days, oldest first, so timelines interleave authors.
    bodies.forEach((body, index) => {
      const hoursAgo = (bodies.length - index) * 7 + username.length;
      em.create(Post, { author, body, createdAt: new Date(now - hoursAgo * 3_600_000) });
      posts++;
    });
  }
  await em.flush();
  logger.info(`posts: ${posts} created`);

  for (const [follower, followee] of FOLLOWS) {
    await em
      .createQueryBuilder(Follow)
      .insert({ follower: users.get(follower)!.id, followee: users.get(followee)!.id, createdAt: new Date() })
      .onConflict(['follower', 'followee'])
      .ignore()
      .execute();
  }
  logger.info(`follows: ${FOLLOWS.length} ensured`);
  logger.info(`done: log in as any of ${Object.keys(USERS).join(', ')} with the password "${DEMO_PASSWORD}"`);
});
