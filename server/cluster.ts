// Several server processes on one port (node:cluster): `npm run start:cluster -- --workers N`.
// The primary does what must happen once — the embedded PostgreSQL when there is no DATABASE_URL,
// and migrations — then forks N workers that each run server/main.ts on that database. Each worker
// drains and stops on its own when signalled; the primary waits for all of them, then stops the
// database it started.
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { embeddedUrl, migrateAndLog, openDatabase, type Database } from './db.ts';
import { loadEnv } from './env.ts';
import { createLogger } from './logger.ts';

const MAIN = path.join(import.meta.dirname, 'main.ts');
const USAGE = 'Usage: node server/cluster.ts [--workers N]   (N ≥ 1, default: the number of cores)';
// A worker that dies is replaced after 1 s, then 2, 4, … up to 30 s while it keeps dying; one that
// lived a minute counts as healthy again.
const RESTART_FIRST_MS = 1000;
const RESTART_MAX_MS = 30_000;
const HEALTHY_AFTER_MS = 60_000;
// The embedded PostgreSQL runs with PostgreSQL's default max_connections.
const EMBEDDED_MAX_CONNECTIONS = 100;

function workerCount(): number {
  let given: string | undefined;
  try {
    given = parseArgs({ options: { workers: { type: 'string', short: 'w' } } }).values.workers;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    process.exit(1);
  }
  if (given === undefined) return availableParallelism();
  if (!/^\d+$/.test(given) || Number(given) < 1) {
    process.stderr.write(`--workers must be a whole number of at least 1\n${USAGE}\n`);
    process.exit(1);
  }
  return Number(given);
}

/**
 * Whether we run in the foreground process group of a terminal. A Ctrl-C there is sent by the
 * kernel to the whole group, workers included; forwarding it would be a second signal, which makes
 * a worker give up its drain (close-with-grace exits at once on a second signal). Linux only;
 * elsewhere the answer is "no" and the signal is forwarded.
 */
function inTerminalForeground(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // After "pid (comm) ": state ppid pgrp session tty_nr tpgid …
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const [pgrp, ttyNr, tpgid] = [fields[2], fields[4], fields[5]].map(Number);
    return ttyNr !== 0 && pgrp === tpgid;
  } catch {
    return false;
  }
}

const env = loadEnv();
const count = workerCount();
const logger = createLogger(env).child({ component: 'cluster' });
// Connecting to the database is the slow part of a worker's start, and has its own limit.
const startTimeoutMs = env.DATABASE_CONNECT_TIMEOUT_MS + 30_000;

let database: Database | undefined;
let shuttingDown = false;
let exitCode = 0;
const workers = new Map<Worker, { startedAt: number; startTimer?: NodeJS.Timeout }>();
const restartTimers = new Set<NodeJS.Timeout>();
let everServed = false;
let listening = 0;
let crashes = 0;
let allExited: (() => void) | undefined;

function fork(databaseUrl: string): void {
  // Migrations ran here, once; the workers only connect (to the replicas this process started, too).
  const worker = cluster.fork({
    DATABASE_URL: databaseUrl,
    MIGRATE_ON_START: 'false',
    DATABASE_REPLICA_URLS: [...env.DATABASE_REPLICA_URLS, ...(database?.replicaUrls ?? [])].join(','),
    EMBEDDED_REPLICAS: '0',
  });
  // A worker whose start fails (port in use, database unreachable) logs why and ends its work, but
  // its IPC channel to us keeps it alive: it would sit there forever, never listening. A worker
  // that has not listened in time is ended, and its exit handled like any other.
  const startTimer = setTimeout(() => {
    logger.error({ workerPid: worker.process.pid, ms: startTimeoutMs }, 'worker did not start listening in time');
    worker.process.kill('SIGKILL');
  }, startTimeoutMs);
  workers.set(worker, { startedAt: Date.now(), startTimer });
  logger.info({ workerPid: worker.process.pid }, 'worker started');
}

cluster.on('listening', (worker, address) => {
  clearTimeout(workers.get(worker)?.startTimer);
  logger.info({ workerPid: worker.process.pid }, 'worker listening');
  if (everServed || ++listening < count) return;
  everServed = true;
  const host = env.HOST.includes(':') ? `[${env.HOST}]` : env.HOST;
  logger.info(`Warble cluster is serving http://${host}:${address.port}/trpc with ${count} worker(s)`);
});

function onWorkerExit(worker: Worker, code: number | null, signal: string | null, databaseUrl: string): void {
  const { startedAt = Date.now(), startTimer } = workers.get(worker) ?? {};
  clearTimeout(startTimer);
  workers.delete(worker);
  const facts = { workerPid: worker.process.pid, code, signal };
  if (shuttingDown) {
    if (code === 0) logger.info(facts, 'worker stopped');
    else {
      logger.warn(facts, 'worker did not stop cleanly');
      exitCode = 1;
    }
    if (workers.size === 0) allExited?.();
    return;
  }
  if (!everServed) {
    // Every worker runs the same code on the same configuration: one that cannot start says the
    // others will not either, and restarting it forever would hide the reason.
    logger.fatal(facts, 'a worker exited before the cluster was serving; stopping (see its error above)');
    void shutdown(undefined, 1);
    return;
  }
  if (Date.now() - startedAt >= HEALTHY_AFTER_MS) crashes = 0;
  const delay = Math.min(RESTART_MAX_MS, RESTART_FIRST_MS * 2 ** crashes);
  crashes += 1;
  logger.error({ ...facts, restartInMs: delay }, 'worker exited unexpectedly; starting another');
  const timer = setTimeout(() => {
    restartTimers.delete(timer);
    if (!shuttingDown) fork(databaseUrl);
  }, delay);
  restartTimers.add(timer);
}

/** Resolves when every worker has exited, or after `ms` with false. */
function waitForWorkers(ms: number): Promise<boolean> {
  if (workers.size === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    allExited = () => {
      clearTimeout(timer);
      resolve(true);
    };
  });
}

function signalWorkers(): void {
  for (const worker of workers.keys()) worker.process.kill('SIGTERM');
}

async function start(): Promise<void> {
  try {
    database = await openDatabase(env, logger);
  } catch (error) {
    logger.fatal({ err: error }, `cannot open the database: ${(error as Error).message}`);
    process.exit(1);
  }
  if (shuttingDown) return;
  try {
    if (env.MIGRATE_ON_START) {
      await migrateAndLog(database.orm, logger);
    }
  } catch (error) {
    logger.fatal({ err: error }, `cannot migrate the database: ${(error as Error).message}`);
    await database.close();
    process.exit(1);
  }
  if (shuttingDown) return;

  const databaseUrl = env.DATABASE_URL ?? embeddedUrl(env);
  const connections = count * env.DATABASE_POOL_MAX + 1;
  if (!env.DATABASE_URL && connections > EMBEDDED_MAX_CONNECTIONS - 3) {
    logger.warn(
      { workers: count, poolMax: env.DATABASE_POOL_MAX },
      `up to ${connections} database connections, more than the embedded PostgreSQL allows ` +
        `(${EMBEDDED_MAX_CONNECTIONS}); lower --workers or DATABASE_POOL_MAX`,
    );
  }
  // No arguments: --workers is ours, not the workers'.
  cluster.setupPrimary({ exec: MAIN, args: [] });
  cluster.on('exit', (worker, code, signal) => onWorkerExit(worker, code, signal, databaseUrl));
  for (let i = 0; i < count; i++) fork(databaseUrl);
}

const starting = start();

async function shutdown(signal: NodeJS.Signals | undefined, code = 0): Promise<void> {
  if (shuttingDown) {
    if (signal) logger.info({ signal }, 'already shutting down');
    return;
  }
  shuttingDown = true;
  exitCode = code;
  for (const timer of restartTimers) clearTimeout(timer);
  restartTimers.clear();
  logger.info({ signal, workers: workers.size }, 'shutting down');
  await starting;

  // Each worker stops accepting, lets its requests finish (SHUTDOWN_GRACE_MS at most), then exits.
  let stopped: boolean;
  if (signal === 'SIGINT' && inTerminalForeground()) {
    // The workers had this Ctrl-C too. One that still runs after its own grace period missed it
    // (the SIGINT came from elsewhere): it gets a SIGTERM of its own.
    stopped = await waitForWorkers(env.SHUTDOWN_GRACE_MS + 5000);
    if (!stopped) {
      signalWorkers();
      stopped = await waitForWorkers(env.SHUTDOWN_GRACE_MS + 15_000);
    }
  } else {
    signalWorkers();
    // Longer than a worker's own limit (its grace period, then 10 s to close the database).
    stopped = await waitForWorkers(env.SHUTDOWN_GRACE_MS + 15_000);
  }
  if (!stopped) {
    logger.error({ workerPids: [...workers.keys()].map((w) => w.process.pid) }, 'workers did not stop; killing them');
    for (const worker of workers.keys()) worker.process.kill('SIGKILL');
    exitCode = 1;
  }

  try {
    await database?.close();
  } catch (error) {
    logger.error({ err: error }, 'could not close the database');
    exitCode = 1;
  }
  logger.info('stopped');
  process.exit(exitCode);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void shutdown(signal));
function onUnexpected(error: unknown): void {
  logger.fatal({ err: error }, 'unexpected error in the cluster primary; shutting down');
  // A failure of the shutdown itself must not leave the process hanging. (An embedded PostgreSQL
  // is still told to stop on exit, and workers exit when they lose their primary.)
  if (shuttingDown) process.exit(1);
  void shutdown(undefined, 1);
}
process.on('uncaughtException', onUnexpected);
process.on('unhandledRejection', onUnexpected);

await starting;
