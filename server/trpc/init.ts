import { initTRPC, TRPCError } from '@trpc/server';
import { z, ZodError } from 'zod';
import { isForeignKeyViolation, toContractError } from '../errors.ts';
import { WrongPasswordError } from '../auth/accounts.ts';
import { retryAfterOf } from '../limits/retry-later.ts';
import { recordWrite } from '../replicas/write-marks.ts';
import type { RestMeta } from '../rest/route-meta.ts';
import type { Context } from './context.ts';

const INTERNAL_MESSAGE = 'Internal server error';

/** `error.data.zodError` of a BAD_REQUEST: problems of the whole input, and per field. */
export interface FieldIssues {
  formErrors: string[];
  fieldErrors: Record<string, string[] | undefined>;
}

// A procedure's meta can give it a REST route under /api and a place in /openapi.json (rest/route-meta.ts).
const builder = initTRPC.context<Context>().meta<RestMeta>();

const t = builder.create({
  // Explicit: tRPC otherwise guesses from NODE_ENV and leaks stacks (and SQL text) when it guesses wrong.
  isDev: false,
  // Server-sent events (posts.onTimeline): a ping every 15 s keeps proxies from cutting an idle
  // stream, and a client that hears nothing for 35 s reconnects (resuming from its last id).
  sse: {
    ping: { enabled: true, intervalMs: 15_000 },
    client: { reconnectAfterInactivityMs: 35_000 },
  },
  errorFormatter({ shape, error, ctx }) {
    // Internals only at exactly NODE_ENV=development: unset and `test` mask like production. Without
    // a context (it failed to build) we cannot know the mode: assume production.
    const development = ctx?.env.NODE_ENV === 'development';
    // A plain type, not zod's: it is part of the client SDK's public types.
    const zodError: FieldIssues | null =
      error.code === 'BAD_REQUEST' && error.cause instanceof ZodError ? z.flattenError(error.cause) : null;
    const hide = error.code === 'INTERNAL_SERVER_ERROR' && !development;
    // tRPC passes JSON.parse's own message on, which quotes the input back: say it plainly.
    const notJson = error.cause instanceof SyntaxError;
    // Seconds until a limit lets the client in again (limits/retry-later.ts); 0 for other errors.
    const retryAfter = retryAfterOf(error);
    let message = shape.message;
    if (zodError) message = 'Invalid input';
    else if (hide) message = INTERNAL_MESSAGE;
    else if (notJson) message = 'Malformed JSON input';
    return {
      ...shape,
      message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        zodError,
        // Also in the body: a streamed (jsonl) answer's headers left before the error happened.
        ...(retryAfter ? { retryAfter } : {}),
        // An UNAUTHORIZED about a password in the input, not the token: refreshing cannot help.
        ...(error.cause instanceof WrongPasswordError ? { reason: 'WRONG_PASSWORD' as const } : {}),
        // Stacks help only with our own failures, and only a developer may see them.
        ...(development && error.code === 'INTERNAL_SERVER_ERROR' ? { stack: error.stack } : {}),
      },
    };
  },
});

export const router = t.router;
export const mergeRouters = t.mergeRouters;

/**
 * Every procedure starts here: it runs within its client's fair share of the database
 * (limits/fair-share.ts), and failures of the database or of a limit reach clients with the
 * contract's codes.
 */
export const publicProcedure = t.procedure.use(async ({ ctx, signal, next }) => {
  const result = await ctx.limits.fairShare
    .run(ctx.clientKey, signal, () => next())
    .catch((error: unknown) => {
      throw toContractError(
        error instanceof TRPCError ? error : new TRPCError({ code: 'INTERNAL_SERVER_ERROR', cause: error }),
      );
    });
  if (!result.ok) throw toContractError(result.error);
  return result;
});

// One message for every kind of bad credential: a client learns nothing about why.
export const unauthorized = () => new TRPCError({ code: 'UNAUTHORIZED', message: 'Invalid or missing access token' });

/** Needs a valid access token of a live session; `ctx.user` is the caller from then on. */
export const protectedProcedure = publicProcedure.use(async ({ ctx, type, next }) => {
  const user = await ctx.viewer();
  if (!user) throw unauthorized();
  const result = await next({ ctx: { user } });
  if (result.ok && type === 'mutation') await markWrite(ctx, user.id);
  // A user deleted from the database takes their sessions along, and every process hears of it
  // (a trigger NOTIFYs the revocation channel), but a call may still have found the caller in the
  // token cache just before. Its write then refers to a user row that is gone (a foreign-key
  // failure): that token is void, as for any removed session, rather than a server error.
  if (!result.ok && isForeignKeyViolation(result.error) && !(await userExists(ctx.em, user.id))) {
    ctx.viewers.forget({ userId: user.id });
    throw unauthorized();
  }
  return result;
});

async function userExists(em: Context['em'], id: string): Promise<boolean> {
  // Straight to the database: the request's EntityManager may still hold the failed write.
  const rows = await em.getConnection().execute<unknown[]>('select 1 from "users" where "id" = ?', [id]);
  return rows.length > 0;
}

/**
 * Public, but personalised when a token comes along (`ctx.user` or null). A token that is sent
 * but not valid is still UNAUTHORIZED rather than silently ignored: that is what tells a client
 * (and the SDK) to refresh it, instead of showing a signed-in user anonymous answers.
 */
export const optionalAuthProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const user = await ctx.viewer();
  if (!user && ctx.sentCredentials) throw unauthorized();
  return next({ ctx: { user } });
});

/**
 * With read replicas: `userId` has just written, so their list reads stay on the primary until a
 * replica has replayed this (replicas/write-marks.ts). Every mutation of a signed-in caller records
 * it (protectedProcedure); a signup for the account it creates.
 */
export async function markWrite(ctx: Context, userId: string): Promise<void> {
  if (!ctx.replicas) return;
  try {
    await recordWrite(ctx.em, userId);
  } catch (error) {
    // The write itself succeeded: failing the call now would only make the client repeat it. The
    // price is that for up to DATABASE_REPLICA_MAX_LAG_MS this caller may read from a replica that
    // has not replayed it.
    ctx.log.warn({ err: { message: (error as Error).message } }, 'could not record a write for read replicas');
  }
}

/**
 * For list reads: `ctx.reader` is a read replica that has replayed the caller's own writes and is
 * not too far behind, else the primary (`ctx.em`, which anything that writes keeps using). A read
 * the replica fails for being unreachable, or cancels for a conflict with its replay, is answered by
 * the primary instead.
 */
export const fromReplica = t.middleware(async ({ ctx, next }) => {
  const { replicas } = ctx;
  if (!replicas) return next({ ctx: { reader: ctx.em } });
  // A caller who sent a token, also on public procedures: their own writes must show. (viewer() is
  // verified once per request: protected and optional-auth procedures have asked already.)
  const caller = ctx.sentCredentials ? await ctx.viewer() : null;
  const replica = await replicas.choose(ctx.em, caller?.id ?? null);
  if (!replica) return next({ ctx: { reader: ctx.em } });
  const result = await next({ ctx: { reader: replica.orm.em.fork() } });
  if (result.ok || !replicas.failedOn(replica, result.error)) return result;
  return next({ ctx: { reader: ctx.em } });
});
