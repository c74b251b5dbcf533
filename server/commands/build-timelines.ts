// npm run timelines:build -- [--all | --user NAME ...] [--reset]
//
// Builds home timelines now instead of at their owners' next read (docs/operations.md, "Home
// timelines"): with no option, those marked unbuilt; --all, every live account; --user, the named
// ones. --reset first drops every home timeline and merged-author mark: use it after changing
// HOME_TIMELINE_MERGE_FOLLOWERS. Safe while servers run: meanwhile reads take the pull query.
import { parseArgs } from 'node:util';
import { migrate } from '../db.ts';
import { buildHomeTimelines } from '../timelines/build-all.ts';
import { runWithDatabase } from './run-with-database.ts';

const USAGE = 'Usage: npm run timelines:build -- [--all | --user NAME ...] [--reset]';

let args: { all?: boolean; user?: string[]; reset?: boolean };
try {
  args = parseArgs({
    options: { all: { type: 'boolean' }, user: { type: 'string', multiple: true }, reset: { type: 'boolean' } },
  }).values;
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
  process.exit(2);
}

await runWithDatabase(async ({ orm }, { env, logger }) => {
  await migrate(orm);
  const pool = await orm.em.getConnection().getNativeClient();
  const started = Date.now();
  let lastTenth = 0;
  const built = await buildHomeTimelines(
    pool,
    { cap: env.HOME_TIMELINE_CAP, mergeFollowers: env.HOME_TIMELINE_MERGE_FOLLOWERS },
    {
      who: args.all ? { all: true } : args.user?.length ? { usernames: args.user } : { unbuilt: true },
      reset: args.reset,
      onProgress: (done, total) => {
        const tenth = Math.floor((done / total) * 10);
        if (tenth > lastTenth) {
          lastTenth = tenth;
          process.stderr.write(`  ${done} of ${total} home timelines built\n`);
        }
      },
    },
  );
  logger.info({ built, ms: Date.now() - started }, `built ${built} home timeline(s)`);
});
