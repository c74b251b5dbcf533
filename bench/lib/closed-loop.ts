// Closed loop: `connections` clients, each sending its next request as soon as the previous one
// is answered. That finds the maximum throughput; its latencies are those of a saturated server
// (and suffer from coordinated omission), which is why latency is measured open-loop as well.
import autocannon from 'autocannon';
import type { HttpRequest } from './http-request.ts';

export interface ClosedLoopResult {
  /** Responses with a 2xx status per second. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  responses: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
}

export interface ClosedLoopOptions {
  connections: number;
  durationSeconds: number;
}

/** Every connection cycles through `requests` in order (so through every user's token). */
export async function closedLoop(
  origin: string,
  requests: HttpRequest[],
  { connections, durationSeconds }: ClosedLoopOptions,
): Promise<ClosedLoopResult> {
  const result = await autocannon({
    url: origin,
    connections,
    duration: durationSeconds,
    // Fresh copies: autocannon writes its encoded buffers into the objects it is given.
    requests: requests.map((request) => ({ ...request, headers: { ...request.headers } })),
    timeout: 30,
  });
  const responses = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  return {
    rps: result['2xx'] / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    responses,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
  };
}
