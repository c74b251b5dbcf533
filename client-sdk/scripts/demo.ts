// npm run demo [-- --url http://127.0.0.1:3000/trpc]: the whole Warble flow through the SDK
// against a running server, one readable line per step.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createWarbleClient, isWarbleError, type RouterOutputs, type WarbleClient } from '../src/index.ts';

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

type TimelineEvent = RouterOutputs['posts']['onTimeline'] extends AsyncIterable<infer E> ? E : never;

/** `client`'s live timeline, once started: `next(test)` waits for the first event that passes `test`. */
async function watchTimeline(client: WarbleClient) {
  const seen: TimelineEvent[] = [];
  const waiters = new Set<() => void>();
  let failure: Error | undefined;
  const wake = () => waiters.forEach((waiter) => waiter());
  let started!: () => void;
  const ready = new Promise<void>((resolve) => (started = resolve));
  const subscription = client.posts.onTimeline.subscribe(
    {},
    {
      onStarted: () => started(),
      onData: (event) => {
        seen.push(event);
        wake();
      },
      onError: (error) => {
        failure = error;
        started(); // refused at once: `next` reports why
        wake();
      },
    },
  );
  await ready;
  const next = (test: (event: TimelineEvent['data']) => boolean) =>
    new Promise<TimelineEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no live event within 5 s')), 5000);
      const check = () => {
        const found = seen.find((event) => test(event.data));
        if (found) resolve(found);
        else if (failure) reject(failure);
        else return;
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { next, stop: () => subscription.unsubscribe() };
}

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

  step(`@${alice} goes live (posts.onTimeline), and @${bob} posts again`);
  const live = await watchTimeline(alices);
  const third = await bobs.posts.create.mutate({ body: 'Third: this one arrives live.' });
  const arrived = await live.next((event) => event.type === 'post' && event.post.id === third.id);
  if (arrived.data.type === 'post')
    show(`live event ${arrived.id}: @${arrived.data.post.author.username}: ${arrived.data.post.body}`);

  step(`@${bob} deletes his first post (soft delete)`);
  const deleted = await bobs.posts.delete.mutate({ id: first.id });
  show(`deleted at ${deleted.deletedAt}`);
  const removed = await live.next((event) => event.type === 'delete' && event.id === first.id);
  show(`live event ${removed.id}: post ${first.id} deleted`);
  live.stop(); // closes the stream

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
