// `npm run start:cluster`: a node:cluster primary and its workers, run as operators run them, as
// separate processes stopped with signals. Which worker holds a connection is read from /proc
// (Linux), so that "both workers serve" is observed rather than assumed.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, readlink, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { embeddedUrl } from '../server/db.ts';
import { PASSWORD, signupAndLogin, uniqueUsername } from './helpers/auth.ts';
import { createTestDatabase } from './helpers/database.ts';
import { freePort } from './helpers/free-port.ts';
import { isAlive } from './helpers/process-alive.ts';
import { createPost, postById } from './helpers/social.ts';
import { freshGet } from './helpers/fresh-get.ts';
import { UNLIMITED } from './helpers/app.ts';

const CLUSTER = path.join(import.meta.dirname, '..', 'server', 'cluster.ts');
// Bounds on waiting, far above what any of this takes: they only turn a hang into a clear failure.
const WAIT_MS = 30_000;

interface ClusterProcess {
  child: ChildProcess;
  output(): string;
  /** The URL from the primary's line saying every worker listens; rejects if it exits first. */
  serving: Promise<string>;
  exited: Promise<number | null>;
}

/** `node server/cluster.ts --workers N` with exactly the given environment (nothing inherited). */
function startCluster(env: Record<string, string>, workers = 2): ClusterProcess {
  const child = spawn(process.execPath, [CLUSTER, '--workers', String(workers)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const serving = new Promise<string>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Warble cluster is serving (http:\/\/\S+)\/trpc/.exec(output);
      if (match?.[1]) resolve(match[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`cluster exited with ${code} before serving:\n${output}`)));
  });
  serving.catch(() => {});
  return { child, output: () => output, serving, exited };
}

/** Kills the primary when the test ends however it ends (a timeout included); its workers exit with it. */
function killAtEnd(cluster: ClusterProcess, cleanUp: () => Promise<void>) {
  onTestFinished(async () => {
    if (cluster.child.exitCode === null && cluster.child.signalCode === null) {
      cluster.child.kill('SIGKILL');
      await cluster.exited;
    }
    await cleanUp();
  });
}

interface LogLine {
  msg?: string;
  pid?: number;
  workerPid?: number;
}

function logLines(output: string): LogLine[] {
  return output.split('\n').flatMap((line) => {
    try {
      return [JSON.parse(line) as LogLine];
    } catch {
      return []; // not a log line of ours
    }
  });
}

/** Worker pids in the order the primary started them. */
function workerPids(output: string): number[] {
  return logLines(output)
    .filter((line) => line.msg === 'worker started')
    .map((line) => line.workerPid!);
}

async function until(what: string, condition: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function parentOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Pids of the processes whose command line contains all of `parts`. */
async function processesWith(...parts: string[]): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (parts.every((part) => args.includes(part))) found.push(Number(entry));
  }
  return found;
}

/** For each established connection to `serverPort`: the client's port → the pid (of `pids`) holding it. */
async function connectionOwners(serverPort: number, pids: number[]): Promise<Map<number, number>> {
  const clientPortOfInode = new Map<string, number>();
  const table = await readFile('/proc/net/tcp', 'utf8');
  for (const line of table.trim().split('\n').slice(1)) {
    const [, local = '', remote = '', state, , , , , , inode = ''] = line.trim().split(/\s+/);
    const portOf = (address: string) => parseInt(address.split(':')[1] ?? '', 16);
    if (portOf(local) === serverPort && state === '01') clientPortOfInode.set(inode, portOf(remote));
  }
  const owners = new Map<number, number>();
  for (const pid of pids) {
    for (const fd of await readdir(`/proc/${pid}/fd`)) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const clientPort = clientPortOfInode.get(/^socket:\[(\d+)\]$/.exec(link)?.[1] ?? '');
      if (clientPort !== undefined) owners.set(clientPort, pid);
    }
  }
  return owners;
}

interface Reply {
  status: number;
  body: { result?: { data: unknown }; error?: { data: { code: string } } };
  /** The client side of the connection the call went over. */
  localPort: number;
}

/**
 * One keep-alive connection of its own (an agent with a single socket), opened by a first call.
 * Every later call goes over the same socket, hence to the same worker; a call that had to use
 * another socket fails, since it may have reached another worker.
 */
async function openConnection(baseUrl: string) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const send = (method: 'GET' | 'POST', pathname: string, input?: unknown, token?: string) =>
    new Promise<Reply>((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (token) headers.authorization = `Bearer ${token}`;
      if (method === 'POST') headers['content-type'] = 'application/json';
      const request = http.request(`${baseUrl}${pathname}`, { method, agent, headers }, (response) => {
        // Read now: once the body has been read, the socket goes back to the agent.
        const localPort = response.socket.localPort ?? 0;
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: JSON.parse(text) as Reply['body'], localPort }),
        );
      });
      request.setTimeout(WAIT_MS, () => request.destroy(new Error('timed out')));
      request.on('error', reject);
      request.end(method === 'POST' ? JSON.stringify(input ?? null) : undefined);
    });
  const { localPort } = await send('GET', '/healthz');
  const call = async (method: 'GET' | 'POST', procedure: string, input?: unknown, token?: string) => {
    const reply = await send(method, `/trpc/${procedure}`, input, token);
    if (reply.localPort !== localPort) throw new Error(`${procedure} went over another connection than before`);
    return reply;
  };
  return {
    /** The client side's port, which identifies the connection in /proc/net/tcp. */
    localPort,
    mutate: (procedure: string, input: unknown, token?: string) => call('POST', procedure, input, token),
    query: (procedure: string, token?: string) => call('GET', procedure, undefined, token),
    close: () => agent.destroy(),
  };
}

const baseEnv = () => ({
  NODE_ENV: 'production',
  JWT_SECRET: randomBytes(32).toString('hex'),
  BCRYPT_COST: '4',
  ...UNLIMITED,
});

describe.runIf(process.platform === 'linux')('npm run start:cluster', () => {
  it(
    'serves from both workers on one port, shares tokens and login limits between them, and stops them all on SIGTERM',
    async () => {
      const db = await createTestDatabase();
      const port = await freePort();
      const cluster = startCluster({ ...baseEnv(), DATABASE_URL: db.url, PORT: String(port), LOGIN_MAX_FAILURES: '3' });
      killAtEnd(cluster, db.drop);
      const url = await cluster.serving;
      expect(await freshGet(`${url}/readyz`)).toBe(200);
      const pids = workerPids(cluster.output());
      expect(pids).toHaveLength(2);
      for (const pid of pids) expect(await parentOf(pid)).toBe(cluster.child.pid);
      // The database was migrated by the primary (a clone of the migrated template: nothing to do),
      // not by the workers.
      expect(cluster.output()).toContain('database schema is up to date');
      expect(logLines(cluster.output()).filter((line) => line.msg === 'database schema is up to date')).toHaveLength(1);

      // Connections opened one after the other: the primary hands them to the workers in turn.
      const connections: Awaited<ReturnType<typeof openConnection>>[] = [];
      for (let i = 0; i < 4; i++) connections.push(await openConnection(url));
      const owners = await connectionOwners(port, pids);
      const heldBy = (pid: number) => connections.filter((c) => owners.get(c.localPort) === pid);
      expect(heldBy(pids[0]!).length, 'connections held by the first worker').toBeGreaterThan(0);
      expect(heldBy(pids[1]!).length, 'connections held by the second worker').toBeGreaterThan(0);
      const [first, second] = [heldBy(pids[0]!)[0]!, heldBy(pids[1]!)[0]!];

      // A token issued by one worker is accepted by the other.
      const username = uniqueUsername();
      expect((await first.mutate('auth.signup', { username, password: PASSWORD })).status).toBe(200);
      const login = await first.mutate('auth.login', { username, password: PASSWORD });
      expect(login.status).toBe(200);
      const { accessToken, user } = login.body.result!.data as { accessToken: string; user: { id: string } };
      const me = await second.query('auth.me', accessToken);
      expect(me.status).toBe(200);
      expect((me.body.result!.data as { id: string }).id).toBe(user.id);

      // Failures counted by one worker lock the account on the other.
      for (let i = 0; i < 3; i++) {
        const wrong = await second.mutate('auth.login', { username, password: 'wrong password' });
        expect(wrong.status).toBe(401);
      }
      const locked = await first.mutate('auth.login', { username, password: PASSWORD });
      expect(locked.status).toBe(429);
      expect(locked.body.error?.data.code).toBe('TOO_MANY_REQUESTS');

      for (const c of connections) c.close();
      cluster.child.kill('SIGTERM');
      expect(await cluster.exited).toBe(0);
      const lines = logLines(cluster.output());
      const stoppedPids = lines.filter((line) => line.msg === 'stopped').map((line) => line.pid);
      expect(stoppedPids.sort()).toEqual([cluster.child.pid, ...pids].sort());
      for (const pid of pids) expect(isAlive(pid), `worker ${pid} still running`).toBe(false);
    },
    2 * WAIT_MS,
  );

  it(
    'replaces a worker that dies, and keeps serving meanwhile',
    async () => {
      const db = await createTestDatabase();
      const cluster = startCluster({ ...baseEnv(), DATABASE_URL: db.url, PORT: String(await freePort()) });
      killAtEnd(cluster, db.drop);
      const url = await cluster.serving;
      const [victim, survivor] = workerPids(cluster.output());
      process.kill(victim!, 'SIGKILL');
      const noticed = () =>
        logLines(cluster.output()).some(
          (line) => line.msg === 'worker exited unexpectedly; starting another' && line.workerPid === victim,
        );
      await until('the primary to notice the dead worker', noticed);
      // The other worker serves every new connection meanwhile.
      for (let i = 0; i < 4; i++) expect(await freshGet(`${url}/readyz`)).toBe(200);

      await until('a replacement worker', () => workerPids(cluster.output()).length === 3);
      const replacement = workerPids(cluster.output())[2]!;
      await until('the replacement to listen', () =>
        logLines(cluster.output()).some((line) => line.msg === 'worker listening' && line.workerPid === replacement),
      );
      expect(await parentOf(replacement)).toBe(cluster.child.pid);
      expect(isAlive(survivor!)).toBe(true);

      cluster.child.kill('SIGTERM');
      expect(await cluster.exited).toBe(0);
      for (const pid of [victim!, survivor!, replacement])
        expect(isAlive(pid), `worker ${pid} still running`).toBe(false);
    },
    2 * WAIT_MS,
  );

  it(
    'without DATABASE_URL, runs one embedded PostgreSQL for every worker and stops it on SIGTERM',
    async () => {
      const dataDir = await mkdtemp(path.join(os.tmpdir(), 'warble-cluster-'));
      // As root, PostgreSQL runs as the `postgres` user, which must be able to pass through.
      await chmod(dataDir, 0o755);
      const pgPort = await freePort();
      const cluster = startCluster({
        ...baseEnv(),
        DATA_DIR: dataDir,
        EMBEDDED_PG_PORT: String(pgPort),
        PORT: String(await freePort()),
      });
      const postmasterArgs = ['-D', path.join(dataDir, 'postgres')];
      killAtEnd(cluster, async () => {
        // A primary killed with SIGKILL cannot stop its PostgreSQL: the test does.
        for (const pid of await processesWith(...postmasterArgs)) process.kill(pid, 'SIGQUIT');
        await rm(dataDir, { recursive: true, force: true });
      });
      const url = await cluster.serving;
      expect(await processesWith(...postmasterArgs)).toHaveLength(1);
      expect(cluster.output().match(/"msg":"embedded PostgreSQL started"/g)).toHaveLength(1);
      // Every worker uses the primary's server rather than starting its own.
      expect(cluster.output().match(/Warble is serving \S+ on PostgreSQL at 127\.0\.0\.1:(\d+)\/warble/g)).toEqual(
        Array(2).fill(expect.stringContaining(`127.0.0.1:${pgPort}/warble`)),
      );

      const { tokens } = await signupAndLogin(url);
      const post = await createPost(url, tokens.accessToken, 'kept by the embedded PostgreSQL');
      expect((await postById(url, post.id)).data).toEqual(post);

      const pids = workerPids(cluster.output());
      cluster.child.kill('SIGTERM');
      expect(await cluster.exited).toBe(0);
      for (const pid of pids) expect(isAlive(pid), `worker ${pid} still running`).toBe(false);
      expect(await processesWith(...postmasterArgs)).toEqual([]);
      await expect(
        new pg.Client({
          connectionString: embeddedUrl({ DATA_DIR: dataDir, EMBEDDED_PG_PORT: pgPort }),
        }).connect(),
      ).rejects.toThrow();
    },
    4 * WAIT_MS,
  );
});
