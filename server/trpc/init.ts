import { initTRPC, TRPCError } from '@trpc/server';
import { z, ZodError } from 'zod';
import { toContractError } from '../errors.ts';
import type { Context } from './context.ts';

const INTERNAL_MESSAGE = 'Internal server error';

/** `error.data.zodError` of a BAD_REQUEST: problems of the whole input, and per field. */
export interface FieldIssues {
  formErrors: string[];
  fieldErrors: Record<string, string[] | undefined>;
}

const t = initTRPC.context<Context>().create({
  // Explicit: tRPC otherwise guesses from NODE_ENV and leaks stacks (and SQL text) when it guesses wrong.
  isDev: false,
  errorFormatter({ shape, error, ctx }) {
    // Without a context (it failed to build) we cannot know the mode: assume production.
    const development = ctx?.env.NODE_ENV === 'development';
    // A plain type, not zod's: it is part of the client SDK's public types.
    const zodError: FieldIssues | null =
      error.code === 'BAD_REQUEST' && error.cause instanceof ZodError ? z.flattenError(error.cause) : null;
    const hide = error.code === 'INTERNAL_SERVER_ERROR' && !development;
    // tRPC passes JSON.parse's own message on, which quotes the input back: say it plainly.
    const notJson = error.cause instanceof SyntaxError;
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
        // Stacks help only with our own failures, and only a developer may see them.
        ...(development && error.code === 'INTERNAL_SERVER_ERROR' ? { stack: error.stack } : {}),
      },
    };
  },
});

export const router = t.router;
export const mergeRouters = t.mergeRouters;

/** Every procedure starts here, so database failures reach clients with the contract's codes. */
export const publicProcedure = t.procedure.use(async ({ next }) => {
  const result = await next();
  if (!result.ok) throw toContractError(result.error);
  return result;
});

// One message for every kind of bad credential: a client learns nothing about why.
export const unauthorized = () => new TRPCError({ code: 'UNAUTHORIZED', message: 'Invalid or missing access token' });

/** Needs a valid access token of a live session; `ctx.user` is the caller from then on. */
export const protectedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  const user = await ctx.viewer();
  if (!user) throw unauthorized();
  return next({ ctx: { user } });
});

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
