import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrl, quoteIdent } from './database-url.ts';

export interface TestDatabase {
  name: string;
  url: string;
  /** Runs one statement on the server's admin connection (for breaking things on purpose). */
  admin: (sql: string) => Promise<pg.QueryResult>;
  drop: () => Promise<void>;
}

async function onAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: inject('adminUrl') });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database of its own: a clone of the migrated template, or (`empty: true`) one without
 * any tables, for testing migrations themselves.
 */
export async function createTestDatabase({ empty = false } = {}): Promise<TestDatabase> {
  const name = `warble_test_${randomUUID().replaceAll('-', '').slice(0, 20)}`;
  const template = empty ? '' : ` template ${quoteIdent(inject('templateDatabase'))}`;
  await onAdmin((client) => client.query(`create database ${quoteIdent(name)}${template}`));
  return {
    name,
    url: databaseUrl(inject('adminUrl'), name),
    admin: (sql) => onAdmin((client) => client.query(sql)),
    drop: () =>
      onAdmin((client) => client.query(`drop database if exists ${quoteIdent(name)} with (force)`)).then(() => {}),
  };
}
