// Turns failures of the database layer and of the limits into the contract's error codes.
// Anything not recognised stays an INTERNAL_SERVER_ERROR whose text the error formatter hides
// outside development.
import { ForeignKeyConstraintViolationException, UniqueConstraintViolationException } from '@mikro-orm/core';
import { TRPCError } from '@trpc/server';
import { KeySourceUnavailableError } from './auth/keys.ts';
import { ClientGoneError, RetryLaterError } from './limits/retry-later.ts';

// node-postgres and the OS report an unreachable or restarting server with these codes.
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, or connections not allowed)
  '57014', // query_canceled: statement_timeout fired, the database is overloaded
  '53300', // too_many_connections
  '3D000', // invalid_catalog_name: the database is gone
  // connection_exception and its kinds (not 08P01, protocol_violation: that one is a bad value,
  // such as a NUL character in text, and retrying it cannot help)
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '08007',
]);
const UNAVAILABLE_MESSAGES = [
  /timeout exceeded when trying to connect/i,
  /Connection terminated/i,
  /Query read timeout/i,
  /connection error/i,
  /not queryable/i,
  // ALTER DATABASE … ALLOW_CONNECTIONS false, or a database being dropped: 55000 is too broad a code
  /is not currently accepting connections/i,
];

function* causes(error: unknown): Generator<unknown> {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

/** A write that referred to a row that is not there (or deleted one still referred to). */
export function isForeignKeyViolation(error: unknown): boolean {
  for (const cause of causes(error)) {
    if (cause instanceof ForeignKeyConstraintViolationException) return true;
    // The query builder's execute() passes node-postgres's error on as it is.
    if ((cause as { code?: unknown }).code === '23503') return true; // foreign_key_violation
  }
  return false;
}

export function isDatabaseUnavailable(error: unknown): boolean {
  for (const cause of causes(error)) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
    // pg-pool rejects without a code on its connect timeout and on a closed connection
    const message = (cause as { message?: unknown }).message;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return true;
  }
  return false;
}

/** Maps infrastructure failures to contract codes; other errors pass through untouched. */
export function toContractError(error: TRPCError): TRPCError {
  if (error.code !== 'INTERNAL_SERVER_ERROR') return error;
  const cause = error.cause;
  if (cause instanceof RetryLaterError) return new TRPCError({ code: cause.code, message: cause.message, cause });
  // Nobody reads this answer; the code keeps it out of the error log.
  if (cause instanceof ClientGoneError)
    return new TRPCError({ code: 'CLIENT_CLOSED_REQUEST', message: cause.message, cause });
  if (cause instanceof UniqueConstraintViolationException) {
    return new TRPCError({ code: 'CONFLICT', message: 'Already exists', cause });
  }
  if (isDatabaseUnavailable(cause) || cause instanceof KeySourceUnavailableError) {
    return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: 'Service temporarily unavailable', cause });
  }
  return error;
}
