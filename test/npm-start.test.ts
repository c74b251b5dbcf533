// `npm start` and `npm run start:cluster` as people and supervisors run them: SIGTERM sent to the
// npm process only must stop the server, not orphan it. (npm forwards the signal to its child; a
// script line without `exec` makes that child a `sh -c` that dies of it and leaves node running.)
// And with `exec`, a signal to the whole process group (a terminal's Ctrl-C) reaches the server
// twice, from the kernel and from npm: that is still one graceful stop.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from './helpers/free-port.ts';
import { isAlive } from './helpers/process-alive.ts';

const ROOT = path.join(import.meta.dirname, '..');
// Bounds on waiting, far above what any of this takes: they only turn a hang into a clear failure.
const START_MS = 30_000;
// Stopping drains (nothing in flight here), closes the pool and stops PostgreSQL: well under this.
const STOP_MS = 8000;

/** Polls `condition` until it holds (true) or `ms` have passed (false). */
async function waitFor(ms: number, condition: () => Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

interface Proc {
  pid: number;
  ppid: number;
  args: string[];
}

async function processes(): Promise<Proc[]> {
  const found: Proc[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').filter(Boolean);
      found.push({ pid: Number(entry), ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), args });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Every process below `root` (children, grandchildren, …). */
async function descendants(root: number): Promise<Proc[]> {
  const all = await processes();
  const below: Proc[] = [];
  let parents = new Set([root]);
  while (parents.size > 0) {
    const next = all.filter((proc) => parents.has(proc.ppid));
    below.push(...next);
    parents = new Set(next.map((proc) => proc.pid));
  }
  return below;
}

/** True while something accepts connections on `port`. */
async function answers(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `npm <args>` in the project, in a process group of its own, with exactly this environment
 * plus a PATH that finds this node (first, so the server runs on the same Node as the tests) and
 * npm, and the embedded PostgreSQL in a fresh folder; once it serves, sends `signal` to npm alone
 * or to its whole group, and checks that everything stopped, gracefully.
 */
async function startAndStop(
  npmArgs: string[],
  servingLine: RegExp,
  signal: NodeJS.Signals,
  to: 'npm' | 'group',
): Promise<void> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'warble-npm-start-'));
  // As root, PostgreSQL runs as the `postgres` user, which must be able to pass through.
  await chmod(dataDir, 0o755);
  const port = await freePort();
  const postmasterPid = path.join(dataDir, 'postgres', 'postmaster.pid');
  const npm = spawn('npm', npmArgs, {
    cwd: ROOT,
    env: {
      PATH: [path.dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'].join(path.delimiter),
      HOME: os.homedir(),
      npm_config_update_notifier: 'false',
      NODE_ENV: 'production',
      JWT_SECRET: randomBytes(32).toString('hex'),
      BCRYPT_COST: '4',
      PORT: String(port),
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const npmExited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
  let started: Proc[] = [];
  onTestFinished(async () => {
    // However the test ends, nothing it started outlives it (an orphan included).
    // npm, its shell and node processes share npm's process group; PostgreSQL runs in its own.
    if (isAlive(-npm.pid!)) process.kill(-npm.pid!, 'SIGKILL');
    for (const proc of await processes()) {
      if (proc.args.includes(path.join(dataDir, 'postgres'))) process.kill(proc.pid, 'SIGQUIT');
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  const serving = await waitFor(START_MS, () => Promise.resolve(servingLine.test(output)));
  expect(serving, `npm ${npmArgs.join(' ')} serves:\n${output}`).toBe(true);
  started = await descendants(npm.pid!);
  const servers = started.filter((proc) => proc.args.some((arg) => arg.endsWith('server/main.ts')));
  expect(servers.length, 'server/main.ts processes under npm').toBeGreaterThan(0);
  expect(await answers(port)).toBe(true);
  expect(await exists(postmasterPid)).toBe(true);

  process.kill(to === 'npm' ? npm.pid! : -npm.pid!, signal);
  // Every check below is given STOP_MS together; each then says what is still running.
  await waitFor(STOP_MS, async () => {
    const running = started.filter((proc) => isAlive(proc.pid));
    return running.length === 0 && !(await answers(port)) && !(await exists(postmasterPid));
  });
  expect(
    servers.filter((proc) => isAlive(proc.pid)),
    'server/main.ts processes still running',
  ).toEqual([]);
  expect(
    started.filter((proc) => isAlive(proc.pid)),
    'processes npm started still running',
  ).toEqual([]);
  expect(await answers(port)).toBe(false);
  expect(await exists(postmasterPid), 'the embedded PostgreSQL still runs').toBe(false);
  // npm itself waited for the server: once it is gone, so is everything it ran.
  await npmExited;
  expect(npm.exitCode, 'npm exit code').toBe(0);
  expect(output).toContain('"msg":"stopped"');
  expect(output).not.toMatch(/second SIG|did not stop cleanly/);
}

describe.runIf(process.platform === 'linux')('npm scripts stop on a signal to npm', () => {
  const SERVER = /Warble is serving http:/;
  const CLUSTER = /Warble cluster is serving http:/;

  it('npm start, SIGTERM to npm: the server drains, stops its embedded PostgreSQL and exits, leaving no orphan', async () => {
    await startAndStop(['start'], SERVER, 'SIGTERM', 'npm');
  }, 60_000);

  it('npm run start:cluster, SIGTERM to npm: the primary, its workers and the embedded PostgreSQL stop', async () => {
    await startAndStop(['run', 'start:cluster', '--', '--workers', '1'], CLUSTER, 'SIGTERM', 'npm');
  }, 60_000);

  it('npm start, SIGINT to the process group (Ctrl-C): one graceful stop, although it arrives twice', async () => {
    await startAndStop(['start'], SERVER, 'SIGINT', 'group');
  }, 60_000);
});
