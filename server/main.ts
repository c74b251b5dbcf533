// The only module that listens. Start-up order: configuration, database (embedded or external),
// migrations, HTTP. Shutdown runs the same path backwards.
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.ts';
import { migrateAndLog, openDatabase, type Database } from './db.ts';
import { loadEnv } from './env.ts';
import { createLogger } from './logger.ts';

const env = loadEnv();
const logger = createLogger(env);

// A stop request often arrives more than once within milliseconds: a terminal's Ctrl-C reaches the
// whole process group and `npm start` (or `node --watch`, or a cluster primary) forwards it too;
// systemd signals every process of the unit. Repeats that close together are that one request; a
// later one means "stop now", as close-with-grace treats a second signal.
const STOP_SIGNALS = ['SIGINT', 'SIGTERM'] as const;
const REPEATED_SIGNAL_MS = 1000;

/** Stops accepting, lets in-flight requests finish, and cuts the stragglers after `graceMs`. */
async function drain(app: FastifyInstance, graceMs: number): Promise<void> {
  const closed = app.close();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => resolve('expired'), graceMs);
  });
  if ((await Promise.race([closed, expired])) === 'expired') {
    logger.warn({ graceMs }, 'requests still running after the grace period; closing their connections');
    app.server.closeAllConnections();
  }
  clearTimeout(timer);
  await closed;
}

/** Start-up failed: exit 1 once the event loop is empty (as a cluster worker, leave the cluster too). */
function failed(): void {
  process.exitCode = 1;
  // The IPC channel to a cluster primary would keep this process alive forever.
  if (process.connected) process.disconnect?.();
}

async function start(): Promise<void> {
  let database: Database;
  try {
    database = await openDatabase(env, logger);
  } catch (error) {
    logger.fatal({ err: error }, `cannot open the database: ${(error as Error).message}`);
    failed();
    return;
  }

  let app: FastifyInstance | undefined;
  const shutdown = async () => {
    if (app) await drain(app, env.SHUTDOWN_GRACE_MS);
    await database.close();
    logger.info('stopped');
  };
  let closingSince: number | undefined;
  let stopSignal: NodeJS.Signals | undefined;
  // Installed before anything else can fail, so the embedded PostgreSQL always stops with us.
  const grace = closeWithGrace(
    {
      // The drain has its own limit; this one only catches a shutdown that hangs after it.
      delay: env.SHUTDOWN_GRACE_MS + 10_000,
      logger: { error: (message: unknown) => logger.error(message) },
      skip: [...STOP_SIGNALS], // handled below
    },
    async ({ signal = stopSignal, err }) => {
      closingSince ??= Date.now();
      if (err) logger.fatal({ err }, 'unexpected error; shutting down');
      else logger.info({ signal }, 'shutting down');
      await shutdown();
    },
  );
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (closingSince === undefined) {
      closingSince = Date.now();
      stopSignal = signal;
      grace.close();
    } else if (Date.now() - closingSince >= REPEATED_SIGNAL_MS) {
      logger.error({ signal }, `second ${signal}, exiting`);
      process.exit(1);
    }
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onStopSignal);
  const uninstall = () => {
    grace.uninstall();
    for (const signal of STOP_SIGNALS) process.off(signal, onStopSignal);
  };

  try {
    if (env.MIGRATE_ON_START) {
      await migrateAndLog(database.orm, logger);
    }
    app = await buildApp({
      orm: database.orm,
      env,
      logger,
      replicaUrls: [...env.DATABASE_REPLICA_URLS, ...database.replicaUrls],
    });
    await app.listen({ host: env.HOST, port: env.PORT });
  } catch (error) {
    const hint = (error as { code?: string }).code === 'EADDRINUSE' ? ' (set PORT to another port)' : '';
    logger.fatal({ err: error }, `cannot start: ${(error as Error).message}${hint}`);
    uninstall();
    await shutdown();
    failed();
    return;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  logger.info(`Warble is serving http://${host}:${port}/trpc on ${database.description}`);
}

await start();
