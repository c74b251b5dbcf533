// The three servers of a run: the ceiling, the peer and Warble, each on a free port.
import { randomBytes } from 'node:crypto';
import { freePort } from '../../test/helpers/free-port.ts';
import { startServer, type ServerChild } from './children.ts';
import type { Pinning } from './cpu.ts';
import type { HomeSettings } from '../../server/timelines/home-writes.ts';
import { ACCESS_TOKEN_TTL, BCRYPT_COST } from './options.ts';
import type { ServerName } from './targets.ts';

export interface Servers {
  servers: Record<ServerName, ServerChild>;
  /** Warble's configuration, for the results: without the secret and the database URL. */
  warbleEnv: Record<string, string>;
  stop: () => Promise<void>;
}

export async function startServers(
  pinning: Pinning,
  databaseUrl: string,
  poolMax: number,
  home: HomeSettings,
): Promise<Servers> {
  const started: ServerChild[] = [];
  const stop = async () => void (await Promise.all(started.map((server) => server.stop())));
  const ports = {
    ceiling: await freePort(),
    peer: await freePort(),
    warble: await freePort(),
    beside: await freePort(),
    defaults: await freePort(),
  };
  const warbleEnv = {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(ports.warble),
    LOG_LEVEL: 'warn',
    MIGRATE_ON_START: 'false',
    BCRYPT_COST: String(BCRYPT_COST),
    ACCESS_TOKEN_TTL: String(ACCESS_TOKEN_TTL),
    // The load comes from one address and a few users at thousands of calls a minute: the abuse
    // limits are off (the fair share stays on; the flood phase measures it).
    LOGIN_MAX_FAILURES_PER_ADDRESS: '100000',
    RATE_LIMIT_CALLS_PER_MINUTE: '0',
    SIGNUP_MAX_PER_ADDRESS: '0',
    POSTS_PER_HOUR: '0',
    BCRYPT_QUEUE_MAX: '100000',
    DATABASE_POOL_MAX: String(poolMax),
    // Home timelines as the data was built for (bench:seed; `npm run bench` builds them if needed).
    HOME_TIMELINE_CAP: String(home.cap),
    HOME_TIMELINE_MERGE_FOLLOWERS: String(home.mergeFollowers),
  };
  const plain = { NODE_ENV: 'production' };
  try {
    const start = async (...args: Parameters<typeof startServer>) => {
      const server = await startServer(...args);
      started.push(server);
      return server;
    };
    const ceiling = await start(
      { name: 'ceiling', script: 'bare-http.ts', port: ports.ceiling, env: plain, readyPath: '/' },
      pinning,
    );
    const peer = await start(
      { name: 'peer', script: 'trpc-hello.ts', port: ports.peer, env: plain, readyPath: '/trpc/hello' },
      pinning,
    );
    // A secret per run, never printed: tokens from an earlier run are worthless. Both Warble
    // processes share it (and the database), so a token works on either.
    const warbleChildEnv = {
      ...warbleEnv,
      DATABASE_URL: databaseUrl,
      JWT_SECRET: randomBytes(32).toString('base64url'),
    };
    const warble = await start(
      {
        name: 'warble',
        script: 'warble.ts',
        port: ports.warble,
        env: warbleChildEnv,
        readyPath: '/readyz',
      },
      pinning,
    );
    // The same app on the load generator's core(s), leaving PostgreSQL's core to PostgreSQL: the
    // layout pgbench runs in (its client beside the load), so the two compare the database alone
    // against the database behind Warble (the app-efficiency goal).
    const beside = await start(
      {
        name: 'warble beside the load',
        script: 'warble.ts',
        port: ports.beside,
        env: { ...warbleChildEnv, PORT: String(ports.beside) },
        readyPath: '/readyz',
        cores: pinning.loadCores,
      },
      pinning,
    );
    // Warble with the production defaults of the abuse limits (the call budget above all), on
    // Warble's core: the flood phase measures it beside the fair share alone.
    const { RATE_LIMIT_CALLS_PER_MINUTE: _off, ...defaultLimits } = warbleChildEnv;
    const defaults = await start(
      {
        name: 'warble with default limits',
        script: 'warble.ts',
        port: ports.defaults,
        env: { ...defaultLimits, PORT: String(ports.defaults) },
        readyPath: '/readyz',
      },
      pinning,
    );
    return { servers: { ceiling, peer, warble, warbleBeside: beside, warbleDefaults: defaults }, warbleEnv, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
