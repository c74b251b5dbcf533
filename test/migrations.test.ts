import { readdir } from 'node:fs/promises';
import { MikroORM } from '@mikro-orm/postgresql';
import { afterEach, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate, ormOptions } from '../server/db.ts';
import { testEnv } from './helpers/app.ts';
import { createTestDatabase, type TestDatabase } from './helpers/database.ts';

const committed = (await readdir(MIGRATIONS_DIR)).filter((file) => /^Migration.*\.ts$/.test(file)).length;

describe('migrations', () => {
  let db: TestDatabase | undefined;
  afterEach(async () => {
    await db?.drop();
  });

  it('bring an empty database to the current schema, and a second run finds nothing to do', async () => {
    db = await createTestDatabase({ empty: true });
    const orm = await MikroORM.init(ormOptions(testEnv(), db.url));
    try {
      expect(await migrate(orm)).toHaveLength(committed);
      expect(await migrate(orm)).toEqual([]);
      const tables = await orm.em
        .getConnection()
        .execute<{ table_name: string }[]>(
          "select table_name from information_schema.tables where table_schema = 'public'",
        );
      expect(tables.map((row) => row.table_name)).toContain('users');
      // The schema the entities describe is exactly the one the migrations build.
      expect(await orm.schema.getUpdateSchemaSQL()).toBe('');
    } finally {
      await orm.close();
    }
  });

  it('are applied once when several processes start together', async () => {
    db = await createTestDatabase({ empty: true });
    const orms = await Promise.all(Array.from({ length: 4 }, () => MikroORM.init(ormOptions(testEnv(), db!.url))));
    try {
      const applied = await Promise.all(orms.map((orm) => migrate(orm)));
      expect(applied.flat()).toHaveLength(committed);
      expect(applied.filter((names) => names.length > 0)).toHaveLength(1);
    } finally {
      await Promise.all(orms.map((orm) => orm.close()));
    }
  });
});
