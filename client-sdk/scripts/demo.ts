// npm run demo [-- --url http://127.0.0.1:3000/trpc]: the whole Warble flow through the SDK
// against a running server, one readable line per step.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createWarbleClient, isWarbleError, type RouterOutputs } from '../src/index.ts';

const { values } = parseArgs({ options: { url: { type: 'string', default: 'http://127.0.0.1:3000/trpc' } } });
const url = values.url;
const suffix = randomBytes(3).toString('hex');
const password = 'correct horse battery';
const [alice, bob] = [`alice_${suffix}`, `bob_${suffix}`];

const step = (text: string) => process.stdout.write(`\n▸ ${text}\n`);
const show = (text: string) => process.stdout.write(`  ${text}\n`);
const showPosts = (page: RouterOutputs['posts']['timeline']) => {
  if (page.items.length === 0) show('(no posts)');
  for (const post of page.items) show(`${post.createdAt}  @${post.author.username}: ${post.body}`);
};

async function main() {
  // One client per person, each with its own token store.
  const alices = createWarbleClient({ url });
  const bobs = createWarbleClient({ url });

  step(`Sign up @${alice} and @${bob}`);
  for (const username of [alice, bob]) {
    const user = await alices.auth.signup.mutate({ username, password });
    show(`@${user.username} (id ${user.id})`);
  }

  step('Log in (the SDK keeps the tokens)');
  const session = await alices.auth.login.mutate({ username: alice, password });
  await bobs.auth.login.mutate({ username: bob, password });
  show(`@${session.user.username}: access token valid ${session.expiresIn} s, refresh token stored`);

  step(`@${bob} posts twice`);
  const first = await bobs.posts.create.mutate({ body: 'Hello, Warble! First post.' });
  const second = await bobs.posts.create.mutate({ body: 'Second thought: keyset pagination is neat.' });
  show(`posted ${first.id}`);
  show(`posted ${second.id}`);

  step(`@${alice} posts, then follows @${bob}`);
  await alices.posts.create.mutate({ body: `Following @${bob} now.` });
  await alices.users.follow.mutate({ username: bob });
  const profile = await alices.users.profile.query({ username: bob });
  show(
    `@${bob}: ${profile.postsCount} posts, ${profile.followersCount} follower(s), followed by me: ${profile.followedByMe}`,
  );

  step(`@${alice}'s timeline`);
  showPosts(await alices.posts.timeline.query({ limit: 10 }));

  step(`@${bob} deletes his first post (soft delete)`);
  const deleted = await bobs.posts.delete.mutate({ id: first.id });
  show(`deleted at ${deleted.deletedAt}`);

  step(`@${alice}'s timeline again`);
  showPosts(await alices.posts.timeline.query({ limit: 10 }));
  const gone = await alices.posts.byId.query({ id: first.id }).catch((error: unknown) => error);
  show(`posts.byId of the deleted post: ${isWarbleError(gone) ? gone.message : 'still there?!'}`);

  step('Log out (the SDK forgets the tokens)');
  await alices.auth.logoutAll.mutate();
  await bobs.auth.logoutAll.mutate();
  show('both signed out');
}

main().catch((error: unknown) => {
  const reason = isWarbleError(error) ? error.message : String(error);
  process.stderr.write(
    `\ndemo failed against ${url}: ${reason}\nIs the server running? Start it with \`npm start\`.\n`,
  );
  process.exitCode = 1;
});
