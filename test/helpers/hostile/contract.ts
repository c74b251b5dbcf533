// The contract's errors, and the limits the server is run with for hostile-input testing.

/** Every error code a client may see, with its HTTP status (../shared/api-contract.md). */
export const CONTRACT_ERRORS = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  TOO_MANY_REQUESTS: 429,
  INTERNAL_SERVER_ERROR: 500,
  SERVICE_UNAVAILABLE: 503,
} as const;
export type ErrorCode = keyof typeof CONTRACT_ERRORS;

export const BODY_LIMIT_BYTES = 1024 * 1024;
/** Longest URL we send: Node refuses request heads over 16 KiB (431), which is not tRPC's business. */
export const MAX_QUERY_URL = 10_000;
/** Login limits high enough that the limiter hides nothing else (LOGIN_MAX_FAILURES is capped at 1000). */
export const FUZZ_ENV_OVERRIDES = {
  LOGIN_MAX_FAILURES: '1000',
  LOGIN_MAX_FAILURES_PER_ADDRESS: '100000',
  // A long fuzz run must not outlive the one access token it uses.
  ACCESS_TOKEN_TTL: '86400',
  // The abuse limits off (as test/helpers/app.ts's UNLIMITED, which this folder cannot import: it
  // needs vitest): a fuzz run calls far faster than 600 a minute and signs up far more than 5
  // accounts (auth.signup, and one per auth.deleteAccount), and a 429 would hide what it is after.
  // The limits have tests of their own (test/limits.test.ts, test/http-limits.test.ts).
  RATE_LIMIT_CALLS_PER_MINUTE: '0',
  SIGNUP_MAX_PER_ADDRESS: '0',
  POSTS_PER_HOUR: '0',
  BCRYPT_QUEUE_MAX: '100000',
} as const;
