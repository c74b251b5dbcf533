import { access, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadKeys } from '../server/auth/keys.ts';
import { parseEnv } from '../server/env.ts';
import { startServerProcess } from './helpers/server-process.ts';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const result = parseEnv({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.env).toMatchObject({
      HOST: '127.0.0.1',
      PORT: 3000,
      NODE_ENV: undefined,
      DATABASE_URL: undefined,
      JWT_ALGORITHM: 'HS256',
      JWT_ISSUER: 'warble',
      JWT_AUDIENCE: 'warble-api',
      ACCESS_TOKEN_TTL: 900,
      REFRESH_TOKEN_TTL: 2_592_000,
      REFRESH_REUSE_GRACE_SECONDS: 10,
      BCRYPT_COST: 12,
      LOGIN_MAX_FAILURES: 5,
      LOGIN_WINDOW_SECONDS: 900,
      LOGIN_MAX_FAILURES_PER_ADDRESS: 100,
      MIGRATE_ON_START: true,
      TRUST_PROXY: undefined,
      LOG_LEVEL: 'info',
    });
  });

  it('reads the words people write for flags and proxies', () => {
    const result = parseEnv({ MIGRATE_ON_START: 'false', TRUST_PROXY: '10.0.0.0/8, 127.0.0.1' });
    expect(result.ok && result.env.MIGRATE_ON_START).toBe(false);
    expect(result.ok && result.env.TRUST_PROXY).toEqual(['10.0.0.0/8', '127.0.0.1']);
    expect(parseEnv({ TRUST_PROXY: '2' })).toMatchObject({ env: { TRUST_PROXY: 2 } });
  });

  it('reports one line per bad variable and never repeats a value', () => {
    const result = parseEnv({
      PORT: 'eighty',
      MIGRATE_ON_START: 'maybe',
      DATABASE_URL: 'mysql://root:hunter2@db/warble',
      JWT_SECRET: 'too-short-secret',
      LOG_LEVEL: 'loud',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problems).toHaveLength(5);
    for (const name of ['PORT', 'MIGRATE_ON_START', 'DATABASE_URL', 'JWT_SECRET', 'LOG_LEVEL']) {
      expect(result.problems.some((line) => line.startsWith(`${name}:`))).toBe(true);
    }
    expect(result.problems.join('\n')).not.toMatch(/hunter2|too-short-secret/);
  });

  it('reads read replicas as a list, refuses a bad entry without echoing it, and embedded replicas only without DATABASE_URL', () => {
    const listed = parseEnv({ DATABASE_REPLICA_URLS: 'postgres://r1/w, postgresql://u:p@r2:5433/w' });
    expect(listed.ok && listed.env.DATABASE_REPLICA_URLS).toEqual(['postgres://r1/w', 'postgresql://u:p@r2:5433/w']);
    expect(parseEnv({})).toMatchObject({ env: { DATABASE_REPLICA_URLS: [], DATABASE_REPLICA_MAX_LAG_MS: 1000 } });
    const bad = parseEnv({ DATABASE_REPLICA_URLS: 'postgres://r1/w,mysql://u:hunter2@r2/w' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) {
      expect(bad.problems).toEqual([expect.stringMatching(/^DATABASE_REPLICA_URLS: entry 2 /)]);
      expect(bad.problems.join('\n')).not.toMatch(/hunter2/);
    }
    const both = parseEnv({ EMBEDDED_REPLICAS: '1', DATABASE_URL: 'postgres://db/w' });
    expect(both.ok).toBe(false);
    expect(parseEnv({ EMBEDDED_REPLICAS: '1' })).toMatchObject({ ok: true, env: { EMBEDDED_REPLICAS: 1 } });
  });

  it('leaves NODE_ENV unset (not development) when it is missing or blank, and needs no secret then', () => {
    for (const source of [{}, { NODE_ENV: '' }]) {
      const result = parseEnv(source);
      expect(result.ok && result.env.NODE_ENV).toBeUndefined();
    }
    expect(parseEnv({ NODE_ENV: 'staging' })).toMatchObject({
      ok: false,
      problems: [expect.stringMatching(/^NODE_ENV:/)],
    });
  });

  it('keeps the development conveniences when NODE_ENV is unset: a secret is generated under DATA_DIR', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'warble-env-'));
    try {
      const result = parseEnv({ DATA_DIR: dataDir });
      if (!result.ok) throw new Error(result.problems.join('; '));
      expect((await loadKeys(result.env)).signing).not.toBeNull();
      await access(path.join(dataDir, 'jwt-secret'));
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('requires an explicit secret in production', () => {
    expect(parseEnv({ NODE_ENV: 'production' })).toEqual({
      ok: false,
      problems: ['JWT_SECRET: is required when NODE_ENV=production'],
    });
    expect(parseEnv({ NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }).ok).toBe(true);
  });

  it('stops the server with exit code 1 and one line per problem', async () => {
    const server = startServerProcess({ PORT: '-1', NODE_ENV: 'production', BCRYPT_COST: '99' });
    expect(await server.exited).toBe(1);
    const lines = server.output().trim().split('\n');
    expect(lines[0]).toBe('Invalid configuration:');
    expect(
      lines
        .slice(1)
        .map((line) => line.trim().split(':')[0])
        .sort(),
    ).toEqual(['BCRYPT_COST', 'JWT_SECRET', 'PORT']);
    expect(server.output()).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});
