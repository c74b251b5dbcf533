// Telling the API's errors apart in a `catch`, typed: `catch (e)` gives `unknown`, and tRPC's own
// check answers `instanceof`, which is false for errors made by another copy of @trpc/client.
import { TRPCClientError } from '@trpc/client';
import type { AppRouter, ErrorShape } from './app-router.ts';

/** An error of a Warble call: `data.code`, `data.httpStatus`, `data.retryAfter`… are typed. */
export type WarbleError = TRPCClientError<AppRouter>;

/** tRPC's error codes, e.g. `'UNAUTHORIZED'`, `'TOO_MANY_REQUESTS'`. */
export type WarbleErrorCode = ErrorShape['data']['code'];

/**
 * Whether `error` is the error of a client call (an answer of the API, or a request that failed on
 * the way: then `data` is undefined). After it, `error.data?.code` is a typed code and
 * `error.data?.retryAfter` the seconds to wait after `TOO_MANY_REQUESTS` or `SERVICE_UNAVAILABLE`.
 */
export function isWarbleError(error: unknown): error is WarbleError {
  if (error instanceof TRPCClientError) return true;
  // Two versions of @trpc/client in one app (or one bundled twice) make two TRPCClientError
  // classes: recognise the other's errors by what its constructor always sets on them.
  if (typeof error !== 'object' || error === null) return false;
  const candidate = error as { name?: unknown; message?: unknown };
  return candidate.name === 'TRPCClientError' && typeof candidate.message === 'string' && 'data' in error;
}

/** The error code of a failed call, or undefined for anything else (a network failure included). */
export function warbleErrorCode(error: unknown): WarbleErrorCode | undefined {
  return isWarbleError(error) ? error.data?.code : undefined;
}
