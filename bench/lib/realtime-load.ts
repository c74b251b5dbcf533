// The realtime phase's two measurements under traffic (see realtime.ts): fan-out latency to the
// open streams, and posts.create throughput with the streams open and with none.
import { closedLoop, type ClosedLoopResult } from './closed-loop.ts';
import type { HttpRequest } from './http-request.ts';
import { median, num, ratio, spread, type Spread } from './stats.ts';
import type { FanoutResult } from './subscriber-worker.ts';
import type { Subscribers } from './subscribers.ts';
import { cpuSeconds } from './children.ts';

export const FANOUT_INTERVAL_MS = 100;
export const FANOUT_WARM_UP = 3;
/** How long the last events may take before they count as missing. */
const FANOUT_SETTLE_MS = 5000;

export type FanoutSummary = Omit<FanoutResult, 'fromReturnMs' | 'fromSendMs' | 'createMs'> & {
  intervalMs: number;
  /** From posts.create returning to each subscriber's event (the goal's figures). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** From posts.create being sent: includes the call itself. */
  fromSendP50Ms: number;
  fromSendP99Ms: number;
  createP50Ms: number;
  /** Events read before posts.create's answer was (the NOTIFY beat the HTTP answer). */
  arrivedBeforeReturn: number;
  /** The server process's CPU time (all threads) during the test ÷ events delivered: what one costs. */
  serverCpuUsPerEvent: number;
};

export interface ThroughputSummary {
  none: Spread;
  with: Spread;
  /** with ÷ none, medians over the rounds. */
  ratio: number;
  /** Events the open streams received per second during the runs with streams (median). */
  eventsPerSecond: number;
  rounds: { none: ClosedLoopResult; with: ClosedLoopResult; events: number }[];
}

/** Nearest-rank percentile. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The author posts `posts` times, FANOUT_INTERVAL_MS apart; every open stream follows the author. */
export async function fanoutTest(
  serverPid: number,
  subscribers: Subscribers,
  authorToken: string,
  posts: number,
  log: (line: string) => void,
): Promise<FanoutSummary> {
  const cpuBefore = cpuSeconds(serverPid);
  const { fromReturnMs, fromSendMs, createMs, ...counts } = await subscribers.fanout({
    token: authorToken,
    warmUp: FANOUT_WARM_UP,
    posts,
    intervalMs: FANOUT_INTERVAL_MS,
    settleMs: FANOUT_SETTLE_MS,
  });
  if (posts > 0 && fromReturnMs.length === 0) throw new Error(`no event of ${posts} posts reached any subscriber`);
  const summary: FanoutSummary = {
    ...counts,
    intervalMs: FANOUT_INTERVAL_MS,
    p50Ms: percentile(fromReturnMs, 50),
    p99Ms: percentile(fromReturnMs, 99),
    maxMs: percentile(fromReturnMs, 100),
    fromSendP50Ms: percentile(fromSendMs, 50),
    fromSendP99Ms: percentile(fromSendMs, 99),
    createP50Ms: median(createMs),
    arrivedBeforeReturn: fromReturnMs.filter((ms) => ms < 0).length,
    // The test's posts.create calls and warm-up posts are in it too: a small overestimate.
    serverCpuUsPerEvent: ((cpuSeconds(serverPid) - cpuBefore) * 1e6) / fromReturnMs.length,
  };
  log(
    `realtime  fan-out  ${counts.posts} posts to ${counts.subscribers} subscribers: p50 ${num(summary.p50Ms)} ms, ` +
      `p99 ${num(summary.p99Ms)} ms, max ${num(summary.maxMs)} ms after posts.create returned ` +
      `(${counts.missing} missing, ${counts.extra} extra; server CPU ${num(summary.serverCpuUsPerEvent)} µs per event ` +
      `delivered; client busy ${Math.round(counts.clientBusy * 100)}%)`,
  );
  return summary;
}

/**
 * posts.create in closed loop (autocannon, as in the main table) with `streams` open and with none,
 * once each per round, alternating which goes first so that neither always follows the other.
 */
export async function throughputRounds(
  subscribers: Subscribers,
  streams: string[],
  target: { origin: string; requests: HttpRequest[]; connections: number; durationSeconds: number },
  rounds: number,
  log: (line: string) => void,
): Promise<ThroughputSummary> {
  const results: ThroughputSummary['rounds'] = [];
  for (let round = 1; round <= rounds; round++) {
    const measured: Partial<ThroughputSummary['rounds'][number]> = {};
    for (const side of round % 2 ? (['with', 'none'] as const) : (['none', 'with'] as const)) {
      const { open } = await subscribers.counts();
      if (side === 'none' && open > 0) await subscribers.close();
      if (side === 'with' && open < streams.length) await subscribers.openAll(streams.slice(open));
      const before = (await subscribers.counts()).events;
      measured[side] = await closedLoop(target.origin, target.requests, target);
      if (side === 'with') measured.events = (await subscribers.counts()).events - before;
    }
    const result = measured as ThroughputSummary['rounds'][number];
    results.push(result);
    log(
      `round ${round}/${rounds}  realtime     posts.create ${num(result.with.rps)} req/s with ${streams.length} streams ` +
        `open (${num(result.events / result.with.seconds)} events/s delivered), ${num(result.none.rps)} req/s with none`,
    );
  }
  const none = spread(results.map((r) => r.none.rps));
  const withStreams = spread(results.map((r) => r.with.rps));
  return {
    none,
    with: withStreams,
    ratio: ratio(withStreams.median, none.median),
    eventsPerSecond: median(results.map((r) => r.events / r.with.seconds)),
    rounds: results,
  };
}
