import type { Logger } from 'pino';
import { openDatabase, type Database } from '../db.ts';
import { loadEnv, type Env } from '../env.ts';
import { createLogger } from '../logger.ts';

/**
 * Runs a one-off command against the configured database (starting the embedded one if needed)
 * and always closes it again; a failure prints one line and exits 1.
 */
export async function runWithDatabase(
  task: (database: Database, context: { env: Env; logger: Logger }) => Promise<void>,
): Promise<void> {
  const env = loadEnv();
  const logger = createLogger(env);
  let database: Database | undefined;
  try {
    database = await openDatabase(env, logger);
    await task(database, { env, logger });
  } catch (error) {
    logger.error({ err: error }, (error as Error).message);
    process.exitCode = 1;
  } finally {
    await database?.close();
  }
}
