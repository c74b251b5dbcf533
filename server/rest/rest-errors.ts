// The error answers of /api: `{ message, code, issues? }` (contract: "Open to every client"), the
// same code, message and HTTP status as the same failure over /trpc, without tRPC's envelope. Every
// error under /api takes this shape, whoever detects it: a procedure (rest-plugin.ts), or the app's
// hooks and handlers (http/error-reply.ts sends this shape for /api URLs).
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/unstable-core-do-not-import';
import { z, ZodError } from 'zod';
import { REST_PREFIX } from './routes.ts';

/** True for URLs of the REST routes (and for unknown ones under /api). */
export function isRestUrl(url: string): boolean {
  return url === REST_PREFIX || url.startsWith(`${REST_PREFIX}/`) || url.startsWith(`${REST_PREFIX}?`);
}

/** One field problem: where (a path into the input, [] for the input as a whole) and what. */
export interface RestIssue {
  path: (string | number)[];
  message: string;
}

export interface RestError {
  message: string;
  code: TRPC_ERROR_CODE_KEY;
  issues?: RestIssue[];
  reason?: 'WRONG_PASSWORD';
}

/** The tRPC error shape's parts that a REST error keeps (trpc/init.ts's errorFormatter makes them). */
interface FormattedError {
  message: string;
  data: { code: TRPC_ERROR_CODE_KEY; reason?: 'WRONG_PASSWORD' };
}

/**
 * The REST body for an error that the errorFormatter has already shaped (masking, plain messages),
 * so both transports say the same. `cause`: the error's cause, for the field problems of a
 * BAD_REQUEST from input validation.
 */
export function toRestError(shape: FormattedError, cause: unknown): RestError {
  const { code, reason } = shape.data;
  const body: RestError = { message: shape.message, code };
  if (code === 'BAD_REQUEST' && cause instanceof ZodError) {
    body.issues = cause.issues.map((issue) => ({
      path: issue.path.map((key) => (typeof key === 'symbol' ? String(key) : key)),
      message: issue.message,
    }));
  }
  if (reason) body.reason = reason;
  return body;
}

const ERROR_CODES = [
  'BAD_REQUEST',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'METHOD_NOT_SUPPORTED',
  'TIMEOUT',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'TOO_MANY_REQUESTS',
  'INTERNAL_SERVER_ERROR',
  'SERVICE_UNAVAILABLE',
  // A caller that left: nobody reads it, but it is what the log and a proxy would see.
  'CLIENT_CLOSED_REQUEST',
] as const satisfies readonly TRPC_ERROR_CODE_KEY[];

/** `RestError` for the OpenAPI document (components.schemas.Error). */
export const restErrorSchema = z
  .object({
    message: z.string().meta({ description: 'For people; never internals (a 500 says "Internal server error").' }),
    code: z.enum(ERROR_CODES).meta({ description: 'The tRPC error code, as /trpc answers it.' }),
    issues: z
      .array(
        z.object({
          path: z.array(z.union([z.string(), z.int()])).meta({ description: 'Where in the input; [] for all of it.' }),
          message: z.string(),
        }),
      )
      .optional()
      .meta({ description: 'BAD_REQUEST from input validation: each field problem.' }),
    reason: z
      .literal('WRONG_PASSWORD')
      .optional()
      .meta({ description: 'UNAUTHORIZED because of a password in the input: refreshing the token cannot help.' }),
  })
  .meta({ id: 'Error', description: 'Every error answer of /api.' });
