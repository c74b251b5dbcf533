// The door of /trpc, an onRequest hook that runs before anything else costs us: no body parsing,
// no session lookup, no procedure. It finds out who is calling (client-key.ts), charges the
// request's calls to that client's budget, and turns the request away at once when the client
// already has a full line of calls waiting for the database (fair-share.ts): refusing a flood's
// batch here costs a small answer, where refusing it call by call would cost fifty.
//
// The budget (calls per minute, every call of a batch counted) is kept in this process's memory,
// not in the database: a shared count would cost a database write per request, more than most
// calls it protects. Behind a balancer that spreads one client over N processes, the budget is up
// to N times as large (docs/operations.md).
import { setTimeout as sleep } from 'node:timers/promises';
import { TRPCError } from '@trpc/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { sendError } from '../http/error-reply.ts';
import type { ClientIdentifier } from './client-key.ts';
import type { FairShare } from './fair-share.ts';
import { RetryLaterError } from './retry-later.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Whose allowances this request uses (client-key.ts); set on /trpc before the procedures run. */
    clientKey: string;
  }
}

const TOO_MANY = 'Too many requests; slow down';

// A refused request's answer is held back for a second (never longer than its Retry-After). A flood
// is many connections that each send the next request as soon as an answer arrives: answered at
// once, they would make us refuse as many requests as the CPU can parse, and that CPU is the one
// every other client's calls (and, on a shared host, PostgreSQL) need. Held, each flooding
// connection costs one request a second. An honest client told to retry later loses nothing.
const HOLD_MS = 1000;
const hold = (refusal: RetryLaterError) => sleep(Math.min(HOLD_MS, refusal.retryAfterSeconds * 1000));

/** How many procedure calls a /trpc request makes: a batch names them all in its path. */
export function callsIn(request: FastifyRequest): number {
  const { path } = request.params as { path?: string };
  const { batch } = request.query as { batch?: string };
  return batch === '1' && path ? path.split(',').length : 1;
}

export interface AdmissionOptions {
  identify: ClientIdentifier;
  /** RATE_LIMIT_CALLS_PER_MINUTE; 0: no budget. */
  callsPerMinute: number;
  fairShare: FairShare;
}

export function admission({ identify, callsPerMinute, fairShare }: AdmissionOptions) {
  const budget = callsPerMinute > 0 ? new RateLimiterMemory({ points: callsPerMinute, duration: 60 }) : undefined;

  async function charge(key: string, calls: number): Promise<RetryLaterError | undefined> {
    try {
      await budget?.consume(key, calls);
      return undefined;
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      return new RetryLaterError('TOO_MANY_REQUESTS', TOO_MANY, rejection.msBeforeNext);
    }
  }

  return async (request: FastifyRequest, reply: FastifyReply) => {
    const key = (request.clientKey = await identify(request));
    const calls = callsIn(request);
    const refusal = (await charge(key, calls)) ?? fairShare.refusal(key, calls);
    if (!refusal) return;
    await hold(refusal);
    reply.header('retry-after', String(refusal.retryAfterSeconds));
    return sendError(reply, new TRPCError({ code: refusal.code, message: refusal.message, cause: refusal }));
  };
}
