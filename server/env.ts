// The only module that reads process.env (a lint rule keeps it so). Everything else receives the
// parsed, typed `Env`, which is what lets tests build an app from a plain object.
import { availableParallelism } from 'node:os';
import { z } from 'zod';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

// `z.coerce.boolean()` turns "false" into true; configuration needs the words people write.
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1' || value === 'yes');

const int = (fallback: number, min: number, max: number) =>
  z.coerce
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` })
    .max(max, { error: `must be at most ${max}` })
    .default(fallback);

const postgresUrl = z
  .url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// or postgresql:// URL' })
  .optional();

// "a, b,,c" → ['a', 'b', 'c']
const commaList = (value: string | undefined) =>
  (value ?? '')
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

// Fastify's trustProxy accepts true, a hop count, or a list of addresses/CIDRs.
const trustProxy = z
  .string()
  .optional()
  .transform((value): boolean | number | string[] | undefined => {
    if (value === undefined || value === '' || value === 'false') return undefined;
    if (value === 'true') return true;
    if (/^\d+$/.test(value)) return Number(value);
    return commaList(value);
  });

// Read replicas: PostgreSQL URLs, comma-separated (server/replicas/). Never echoed in a message:
// they carry passwords.
const postgresUrls = z
  .string()
  .optional()
  .transform((value, ctx): string[] => {
    const listed = commaList(value);
    listed.forEach((url, index) => {
      if (!URL.canParse(url) || !/^postgres(ql)?:$/.test(new URL(url).protocol)) {
        ctx.addIssue({ code: 'custom', message: `entry ${index + 1} is not a postgres:// or postgresql:// URL` });
      }
    });
    return listed;
  });

// Exact origins, as a browser sends them in `Origin`: scheme://host[:port], nothing after. A
// wildcard is refused: credentialed CORS (the refresh cookie) cannot use one.
const origins = z
  .string()
  .optional()
  .transform((value, ctx): string[] => {
    const listed = commaList(value);
    for (const origin of listed) {
      if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
        ctx.addIssue({
          code: 'custom',
          message: `"${origin}" is not an origin (scheme://host[:port], no path or slash)`,
        });
      }
    }
    return listed;
  });

const blankAsUndefined = (value: unknown) => (value === '' ? undefined : value);

export const envSchema = z
  .object({
    // No default: unset is its own mode. Development conveniences (a generated secret, readable logs)
    // apply whenever it is not `production`, but error internals only at exactly `development`.
    NODE_ENV: z.enum(['development', 'production', 'test']).optional(),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(3000, 0, 65535),
    LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
    TRUST_PROXY: trustProxy,
    // Browser pages on these origins may call the API (server/http/cors.ts); none by default.
    CORS_ORIGINS: origins,

    DATABASE_URL: postgresUrl,
    DATA_DIR: z.string().min(1).default('.data'),
    EMBEDDED_PG_PORT: int(54329, 1, 65535),
    MIGRATE_ON_START: flag(true),
    DATABASE_POOL_MAX: int(10, 2, 500),
    DATABASE_CONNECT_TIMEOUT_MS: int(3000, 100, 60_000),
    DATABASE_STATEMENT_TIMEOUT_MS: int(10_000, 100, 600_000),
    // Read replicas (docs/operations.md, "Read replicas"): list reads go to one that has replayed the
    // caller's own writes and lags the primary by at most DATABASE_REPLICA_MAX_LAG_MS; else the primary.
    DATABASE_REPLICA_URLS: postgresUrls,
    DATABASE_REPLICA_MAX_LAG_MS: int(1000, 10, 600_000),
    // With the embedded PostgreSQL only: streaming replicas of it to start beside it (npm run start:replica).
    EMBEDDED_REPLICAS: int(0, 0, 4),

    REQUEST_TIMEOUT_MS: int(30_000, 1000, 600_000),
    SHUTDOWN_GRACE_MS: int(10_000, 0, 120_000),

    JWT_ALGORITHM: z.enum(['HS256', 'RS256', 'ES256']).default('HS256'),
    JWT_SECRET: z
      .string()
      .refine((value) => Buffer.byteLength(value, 'utf8') >= 32, { error: 'must be at least 32 bytes' })
      .optional(),
    JWT_PRIVATE_KEY: z.string().min(1).optional(),
    JWT_PUBLIC_KEYS: z.string().min(1).optional(),
    JWT_JWKS_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    JWT_ISSUER: z.string().min(1).default('warble'),
    JWT_AUDIENCE: z.string().min(1).default('warble-api'),
    ACCESS_TOKEN_TTL: int(900, 1, 86_400),
    REFRESH_TOKEN_TTL: int(2_592_000, 60, 31_536_000),
    REFRESH_REUSE_GRACE_SECONDS: int(10, 0, 300),
    AUTH_CACHE_SECONDS: int(5, 0, 300),

    BCRYPT_COST: int(12, 4, 15),
    LOGIN_MAX_FAILURES: int(5, 1, 1000),
    LOGIN_WINDOW_SECONDS: int(900, 1, 86_400),
    LOGIN_MAX_FAILURES_PER_ADDRESS: int(100, 1, 100_000),

    // Abuse and overload (docs/operations.md, "Limits"). 0 turns a budget off.
    RATE_LIMIT_CALLS_PER_MINUTE: int(600, 0, 10_000_000),
    SIGNUP_MAX_PER_ADDRESS: int(5, 0, 1_000_000),
    SIGNUP_WINDOW_SECONDS: int(1800, 1, 604_800),
    POSTS_PER_HOUR: int(300, 0, 1_000_000),
    // Hashes that may wait for a bcrypt thread (one thread per core); beyond that, 503.
    BCRYPT_QUEUE_MAX: int(4 * availableParallelism(), 0, 100_000),
    SESSION_RETENTION_DAYS: int(7, 0, 3650),
    // Accounts (docs/auth.md, "Accounts"): how long a deleted post can be restored, and how long a
    // deleted account's posts and personal data are kept before the purge erases them.
    POST_RESTORE_SECONDS: int(86_400, 0, 31_536_000),
    ACCOUNT_RETENTION_DAYS: int(30, 0, 3650),
    // Live timelines (server/realtime/): open posts.onTimeline streams, per user and per process.
    STREAMS_MAX_PER_USER: int(10, 1, 10_000),
    STREAMS_MAX_PER_PROCESS: int(10_000, 1, 1_000_000),
    // Home timelines (server/timelines/, docs/architecture.md): entries kept per user (0: off, every
    // timeline read takes the pull query), followers above which an author is merged at read time
    // instead of fanned out, and days without a read after which a home timeline is dropped.
    HOME_TIMELINE_CAP: int(400, 0, 100_000),
    HOME_TIMELINE_MERGE_FOLLOWERS: int(1000, 0, 100_000_000),
    HOME_TIMELINE_INACTIVE_DAYS: int(7, 1, 3650),
    // Whether this process runs a worker of the job queue (graphile-worker); at least one must.
    JOB_WORKER: flag(true),
  })
  .superRefine((env, ctx) => {
    if (env.EMBEDDED_REPLICAS > 0 && (env.DATABASE_URL || env.DATABASE_REPLICA_URLS.length > 0)) {
      ctx.addIssue({
        code: 'custom',
        path: ['EMBEDDED_REPLICAS'],
        message: 'works only with the embedded PostgreSQL: leave DATABASE_URL and DATABASE_REPLICA_URLS unset',
      });
    }
    if (env.NODE_ENV !== 'production') return;
    // Production never invents a key: a generated one would differ per process and per restart.
    if (env.JWT_ALGORITHM === 'HS256' && !env.JWT_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['JWT_SECRET'], message: 'is required when NODE_ENV=production' });
    }
    if (env.JWT_ALGORITHM !== 'HS256' && !env.JWT_PRIVATE_KEY && !env.JWT_PUBLIC_KEYS && !env.JWT_JWKS_URL) {
      ctx.addIssue({
        code: 'custom',
        path: ['JWT_PRIVATE_KEY'],
        message: `(or JWT_PUBLIC_KEYS / JWT_JWKS_URL) is required for ${env.JWT_ALGORITHM} when NODE_ENV=production`,
      });
    }
  });

export type Env = z.infer<typeof envSchema>;

export type EnvResult = { ok: true; env: Env } | { ok: false; problems: string[] };

/** Parses a process environment; never throws, so callers decide how to report. */
export function parseEnv(source: Record<string, string | undefined>): EnvResult {
  const known = Object.fromEntries(Object.keys(envSchema.shape).map((key) => [key, blankAsUndefined(source[key])]));
  const result = envSchema.safeParse(known);
  if (result.success) return { ok: true, env: result.data };
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || 'environment';
    // Never echo the value: it may be a secret.
    return `${name}: ${issue.message}`;
  });
  return { ok: false, problems };
}

/** Reads process.env, or prints one line per problem and exits 1. For entry points only. */
export function loadEnv(): Env {
  const result = parseEnv(process.env);
  if (result.ok) return result.env;
  process.stderr.write(`Invalid configuration:\n${result.problems.map((p) => `  ${p}`).join('\n')}\n`);
  process.exit(1);
}
