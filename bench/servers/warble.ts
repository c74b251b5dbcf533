// Warble as `npm start` runs it (configuration from the environment, openDatabase, buildApp,
// listen), plus two procedures that do nothing, one public and one behind protectedProcedure:
// their difference is what authentication costs on the real stack (real context, real token
// verification, real session check). The parent (bench/run.ts) passes the whole environment.
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../server/app.ts';
import { openDatabase } from '../../server/db.ts';
import { loadEnv } from '../../server/env.ts';
import { createLogger } from '../../server/logger.ts';
import { mergeRouters, protectedProcedure, publicProcedure, router } from '../../server/trpc/init.ts';
import { appRouter } from '../../server/trpc/router.ts';

const env = loadEnv();
const logger = createLogger(env);

const benchRouter = router({
  bench: router({
    noop: publicProcedure.query(() => ({ ok: true })),
    noopAuthed: protectedProcedure.query(() => ({ ok: true })),
  }),
});

const database = await openDatabase(env, logger);
let app: FastifyInstance | undefined;
let stopping = false;

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (app) {
    // Connections the load generator left open must not hold the exit up.
    const cut = setTimeout(() => app?.server.closeAllConnections(), 2000);
    await app.close();
    clearTimeout(cut);
  }
  await database.close();
  process.exit(code);
}
process.once('SIGTERM', () => void stop(0));
process.once('SIGINT', () => void stop(0));

try {
  app = await buildApp({ orm: database.orm, env, logger, router: mergeRouters(appRouter, benchRouter) });
  await app.listen({ host: env.HOST, port: env.PORT });
} catch (error) {
  logger.fatal({ err: error }, `cannot start: ${(error as Error).message}`);
  await stop(1);
}
const address = app?.server.address();
process.stdout.write(`listening on ${typeof address === 'object' && address ? address.port : env.PORT}\n`);
