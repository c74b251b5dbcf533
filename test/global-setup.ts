// Provides one PostgreSQL server for the whole run, and on it a template database with every
// migration applied. Test files clone the template (test/helpers/database.ts), which takes
// milliseconds and gives each file a clean database of its own.
//
// Which server: TEST_DATABASE_URL if set; else a Testcontainers PostgreSQL when a container
// runtime answers; else an embedded PostgreSQL in a temporary folder.
import { mkdtemp, chmod, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MikroORM } from '@mikro-orm/postgresql';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrate, ormOptions } from '../server/db.ts';
import { startEmbeddedPostgres } from '../server/embedded-postgres.ts';
import { parseEnv } from '../server/env.ts';
import { databaseUrl, quoteIdent } from './helpers/database-url.ts';
import { freePort } from './helpers/free-port.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A URL on the test server with the right to create databases. */
    adminUrl: string;
    /** Name of the migrated template database to clone. */
    templateDatabase: string;
    /** Where the server came from, for messages. */
    databaseSource: string;
  }
}

interface Server {
  adminUrl: string;
  source: string;
  stop(): Promise<void>;
}

async function fromContainer(): Promise<Server | undefined> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    return undefined; // no Docker or Podman here
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:18-alpine').start();
  return {
    adminUrl: container.getConnectionUri(),
    source: 'Testcontainers',
    stop: async () => void (await container.stop()),
  };
}

async function fromEmbedded(): Promise<Server> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'warble-test-'));
  // As root, PostgreSQL runs as the `postgres` user, which must be able to pass through.
  await chmod(dir, 0o755);
  const server = await startEmbeddedPostgres({
    dataDir: path.join(dir, 'data'),
    passwordFile: path.join(dir, 'password'),
    port: await freePort(),
    // Durability is worthless for a throwaway cluster and costs seconds per run.
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
  });
  return {
    adminUrl: server.url('postgres'),
    source: `embedded PostgreSQL on port ${server.port}`,
    async stop() {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject) {
  // The one place tests read the environment: how to reach the test database server.
  // eslint-disable-next-line no-restricted-properties, no-restricted-syntax
  const given = process.env.TEST_DATABASE_URL;
  const server: Server = given
    ? { adminUrl: given, source: 'TEST_DATABASE_URL', stop: async () => {} }
    : ((await fromContainer()) ?? (await fromEmbedded()));

  const templateDatabase = `warble_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${quoteIdent(templateDatabase)} with (force)`);
  await admin.query(`create database ${quoteIdent(templateDatabase)}`);

  const env = parseEnv({});
  if (!env.ok) throw new Error(env.problems.join('; '));
  const orm = await MikroORM.init(ormOptions(env.env, databaseUrl(server.adminUrl, templateDatabase)));
  await migrate(orm);
  // A template must have no open connections when it is cloned.
  await orm.close();

  project.provide('adminUrl', server.adminUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('databaseSource', server.source);

  return async () => {
    await admin.query(`drop database if exists ${quoteIdent(templateDatabase)} with (force)`);
    await admin.end();
    await server.stop();
  };
}
