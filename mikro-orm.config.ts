// For the MikroORM CLI (`npx mikro-orm debug`, `schema:update --dump`, …), loaded through tsx.
// The server and the db:* scripts build the same options in server/db.ts; this file only points
// them at DATABASE_URL, or at the embedded PostgreSQL while `npm start` runs it.
import { defineConfig } from '@mikro-orm/postgresql';
import { embeddedUrl, ormOptions } from './server/db.ts';
import { loadEnv } from './server/env.ts';

const env = loadEnv();

export default defineConfig(ormOptions(env, env.DATABASE_URL ?? embeddedUrl(env)));
