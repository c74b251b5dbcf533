// npm run db:migrate: applies pending migrations (safe while servers run; see migrate()).
import { migrate } from '../db.ts';
import { runWithDatabase } from './run-with-database.ts';

await runWithDatabase(async (database, { logger }) => {
  logger.info(`migrating ${database.description}`);
  const applied = await migrate(database.orm);
  logger.info({ applied }, applied.length ? `applied ${applied.length} migration(s)` : 'nothing to apply');
});
