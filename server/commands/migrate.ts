// npm run db:migrate: applies pending migrations (safe while servers run; see migrate()).
import { migrateAndLog } from '../db.ts';
import { runWithDatabase } from './run-with-database.ts';

await runWithDatabase(async (database, { logger }) => {
  logger.info(`migrating ${database.description}`);
  await migrateAndLog(database.orm, logger);
});
