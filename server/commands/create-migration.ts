// npm run db:migration:create -- [name]: writes a migration for the difference between the
// entities and the committed schema snapshot, into server/migrations/, for review.
import path from 'node:path';
import { migrate } from '../db.ts';
import { runWithDatabase } from './run-with-database.ts';

const name = process.argv[2];

await runWithDatabase(async (database, { logger }) => {
  // Bring the database up to date first, so the new migration holds only the new change.
  await migrate(database.orm);
  const result = await database.orm.migrator.create(undefined, false, false, name);
  if (!result.fileName) {
    logger.info('the entities match the schema: no migration needed');
    return;
  }
  logger.info(`created ${path.join('server/migrations', result.fileName)}; review it, then commit it`);
});
