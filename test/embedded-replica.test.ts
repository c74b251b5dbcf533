// The embedded PostgreSQL's streaming replica (server/replicas/embedded-replica.ts): what the primary
// writes is read on the replica, the replica refuses writes, a restarted replica gets what it missed
// from its slot, and `npm start` with EMBEDDED_REPLICAS starts and stops the pair.
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../server/db.ts';
import { parseEnv } from '../server/env.ts';
import { freePort } from './helpers/free-port.ts';
import { startReplicaPair, type ReplicaPair } from './helpers/replica.ts';
import { sql as query } from './helpers/sessions.ts';

const notes = async (url: string) =>
  (await query<{ body: string }>(url, 'select body from notes order by id')).map((row) => row.body);

async function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** A free port whose next one is free too: the replica takes EMBEDDED_PG_PORT + 1. */
async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 65535 && (await isFree(port + 1))) return port;
  }
}

/** Postmasters serving `dataDir` (their command line names it; their children rename themselves). */
async function postgresServing(dataDir: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (args.split('\0').includes(dataDir)) found.push(Number(entry));
  }
  return found;
}

describe('a replica pair', () => {
  let pair: ReplicaPair;
  let db: { primaryUrl: string; replicaUrl: string };

  beforeAll(async () => {
    pair = await startReplicaPair();
    db = await pair.createDatabase();
    await query(db.primaryUrl, 'create table notes (id serial primary key, body text not null)');
  });
  afterAll(async () => {
    await pair?.stop();
  });

  it('serves on the replica what was written on the primary, migrations included', async () => {
    await query(db.primaryUrl, "insert into notes (body) values ('first')");
    await pair.caughtUp();
    expect(await notes(db.replicaUrl)).toEqual(['first']);
    const [{ count }] = (await query<{ count: string }>(db.replicaUrl, 'select count(*) from users')) as [
      { count: string },
    ];
    expect(count).toBe('0');
  });

  it('refuses writes on the replica', async () => {
    await expect(query(db.replicaUrl, "insert into notes (body) values ('nope')")).rejects.toMatchObject({
      code: '25006', // read_only_sql_transaction
    });
  });

  it('gets what it missed while stopped from its slot', async () => {
    await pair.stopReplica();
    await query(db.primaryUrl, "insert into notes (body) values ('while down 1'), ('while down 2')");
    await pair.startReplica();
    await pair.caughtUp();
    expect(await notes(db.replicaUrl)).toEqual(['first', 'while down 1', 'while down 2']);
  });

  it('lags while replay is paused, and catches up when resumed', async () => {
    await pair.pauseReplay();
    await query(db.primaryUrl, "insert into notes (body) values ('during pause')");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await notes(db.replicaUrl)).not.toContain('during pause');
    await pair.resumeReplay();
    await pair.caughtUp();
    expect(await notes(db.replicaUrl)).toContain('during pause');
  });
});

describe('openDatabase with EMBEDDED_REPLICAS=1', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('starts a replica that reads what the primary wrote, and close() stops both', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'warble-replica-db-'));
    await chmod(dir, 0o755);
    const port = await freePortPair();
    const parsed = parseEnv({ DATA_DIR: dir, EMBEDDED_PG_PORT: String(port), EMBEDDED_REPLICAS: '1' });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const logged: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => void logged.push(line) });
    const database = await openDatabase(parsed.env, log);
    try {
      expect(database.replicaUrls).toHaveLength(1);
      const connection = database.orm.em.getConnection();
      await connection.execute('create table notes (id serial primary key, body text not null)');
      await connection.execute("insert into notes (body) values ('from the primary')");
      const replicaUrl = database.replicaUrls[0]!;
      const deadline = Date.now() + 10_000;
      let seen: string[] = [];
      while (Date.now() < deadline) {
        seen = await notes(replicaUrl).catch(() => []);
        if (seen.length) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(seen).toEqual(['from the primary']);
    } finally {
      await database.close();
    }
    // One line per replica, and never the password the replica connects with.
    const password = (await readFile(path.join(dir, 'postgres-password'), 'utf8')).trim();
    expect(logged.filter((line) => line.includes('replica streaming'))).toEqual([
      expect.stringContaining(`"port":${port + 1}`),
    ]);
    expect(logged.join('').includes(password)).toBe(false);
    expect(await postgresServing(path.join(dir, 'postgres'))).toEqual([]);
    expect(await postgresServing(path.join(dir, 'postgres-replica-1'))).toEqual([]);
  });
});
