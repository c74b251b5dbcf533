// The flood phase: does one client's flood take the server from everyone else? Bystanders
// (signed-in users) read their timelines open-loop at a modest fixed rate, first alone, then while
// one anonymous address floods Warble with the heaviest calls an attacker found: GET batches of 50
// posts.byUser with limit 100 for the user with the most posts (a 4.4 KB URL, an answer of over a
// megabyte), sent again and again over 100 connections. run.ts runs it twice: against Warble with
// the default limits (the goal: p99 within 2× of idle), and against the bench's Warble with the
// per-minute call budget off, where only the fair share (server/limits/fair-share.ts) stands between.
import { Worker } from 'node:worker_threads';
import { grouped } from './args.ts';
import { trpcPath, type BenchUser } from './fixtures.ts';
import { byStatus } from './flood-report.ts';
import type { FloodMessage, FloodResult, FloodWorkerData } from './flood-worker.ts';
import { openLoop, type OpenLoopResult } from './open-loop.ts';
import type { PhaseContext } from './phases.ts';
import type { FloodSummary } from './results.ts';
import { median, num, ratio } from './stats.ts';
import { timelineRequests } from './targets.ts';

/**
 * Timeline reads per second of the bystander: a busy reader, far below the server's capacity, yet
 * enough answers for a p99 (100 in a 5-s run). Its connections let an answer take up to a second
 * before requests queue on our side (which would count, as the open loop counts every wait).
 */
export const BYSTANDER_RATE = 20;
const BYSTANDER_CONNECTIONS = 20;
export const FLOOD_BATCH = 50;
export const FLOOD_LIMIT = 100;
/** The flood runs this long before the bystander starts, so it is measured in full swing. */
const RAMP_MS = 1000;
/** How long to wait for the flood's first answer before measuring anyway. */
const FIRST_ANSWER_TIMEOUT_MS = 10_000;
/** The flood stops by itself this long after its planned end, should nobody tell it to stop. */
const OVERRUN_SECONDS = 30;
const DRAIN_MS = 5000;
/** A safety bound on the batches of one flood (far above what 100 connections send in a run). */
const MAX_BATCHES = 1_000_000;
/** Time for the server to finish what the flood left queued before the next measurement. */
const SETTLE_MS = 1000;
const WARM_UP_SECONDS = 2;

export interface FloodOptions {
  server: 'warble' | 'warbleDefaults';
  /** Signed-in users taking turns (several stay within the default call budget each). */
  bystanders: BenchUser[];
  /** The user with the most posts: the one whose pages are the largest answers. */
  author: { username: string; posts: number };
  connections: number;
  durationSeconds: number;
}

/** One GET batch of FLOOD_BATCH posts.byUser calls, as a tRPC client (httpBatchLink) sends it. */
export function floodPath(username: string): string {
  const procedures = Array.from({ length: FLOOD_BATCH }, () => 'posts.byUser').join(',');
  const input = Object.fromEntries(
    Array.from({ length: FLOOD_BATCH }, (_, i) => [String(i), { username, limit: FLOOD_LIMIT }]),
  );
  return trpcPath(procedures, input).replace('?input=', '?batch=1&input=');
}

/** One batch, sent alone before the phase: the request must be served (200), and its size is recorded. */
async function probe(origin: string, path: string): Promise<number> {
  const response = await fetch(`${origin}${path}`);
  const body = await response.arrayBuffer();
  if (response.status !== 200) {
    const text = new TextDecoder().decode(body.slice(0, 300));
    throw new Error(`the flood's batch answered ${response.status} when sent alone: ${text}`);
  }
  return body.byteLength;
}

/** Starts the flood in a worker; `stop()` ends it and resolves with its counts. */
function startFlood(origin: string, path: string, connections: number, plannedSeconds: number) {
  const workerData: FloodWorkerData = {
    origin,
    path,
    batchSize: FLOOD_BATCH,
    connections,
    maxSeconds: plannedSeconds + OVERRUN_SECONDS,
    maxBatches: MAX_BATCHES,
    drainMs: DRAIN_MS,
  };
  const worker = new Worker(new URL('./flood-worker.ts', import.meta.url), { workerData });
  let firstAnswer: () => void = () => {};
  const answered = new Promise<void>((resolve) => (firstAnswer = resolve));
  const done = new Promise<FloodResult>((resolve, reject) => {
    worker.on('message', (message: FloodMessage) => {
      if (message.type === 'answered') firstAnswer();
      else resolve(message.result);
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the flood worker exited (code ${code}) without its counts`)));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, FIRST_ANSWER_TIMEOUT_MS)));
  return {
    /** Resolves at the flood's first answer (or after a timeout: then it is measured anyway). */
    started: Promise.race([answered, timeout, done.then(() => {})]).finally(() => clearTimeout(timer)),
    async stop(): Promise<FloodResult> {
      worker.postMessage('stop');
      try {
        return await done;
      } finally {
        await worker.terminate();
      }
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sum = (records: Record<string, number>[]) => {
  const total: Record<string, number> = {};
  for (const record of records) for (const [key, n] of Object.entries(record)) total[key] = (total[key] ?? 0) + n;
  return total;
};

export async function floodPhase(ctx: PhaseContext, options: FloodOptions): Promise<FloodSummary> {
  const origin = ctx.origins[options.server];
  const path = floodPath(options.author.username);
  const answerBytes = await probe(origin, path);
  const rate = BYSTANDER_RATE;
  ctx.log(
    `flood: ${options.connections} connections, GET batches of ${FLOOD_BATCH} posts.byUser (limit ${FLOOD_LIMIT}) ` +
      `of ${options.author.username} (${num(options.author.posts)} posts): ${num(path.length / 1024)} KB URL, ` +
      `${num(answerBytes / 1024 ** 2)} MB answer; ${options.bystanders.length} bystander(s) at ${rate} timelines/s ` +
      `on ${options.server === 'warble' ? 'Warble, limits off (the fair share alone)' : 'Warble with the default limits'}`,
  );
  const requests = timelineRequests(options.bystanders);
  const bystander = {
    rate,
    durationSeconds: options.durationSeconds,
    connections: BYSTANDER_CONNECTIONS,
  };
  // The bystanders' first calls on a server that has served nothing yet (JIT, token cache,
  // connections) would count as the idle figure: warm it up with the same load first.
  await openLoop(origin, requests, { ...bystander, durationSeconds: WARM_UP_SECONDS });
  const idle: OpenLoopResult[] = [];
  const flooded: OpenLoopResult[] = [];
  const floods: FloodResult[] = [];
  for (let round = 1; round <= ctx.rounds; round++) {
    ctx.rss.label = 'bystander (idle)';
    const quiet = await openLoop(origin, requests, bystander);
    idle.push(quiet);
    ctx.rss.label = 'bystander + flood';
    const flood = startFlood(origin, path, options.connections, RAMP_MS / 1000 + options.durationSeconds);
    const busy = await flood.started
      .then(() => sleep(RAMP_MS))
      .then(() => openLoop(origin, requests, bystander))
      .catch(async (error: unknown) => {
        await flood.stop().catch(() => {}); // it would stop by itself too, but later
        throw error;
      });
    const result = await flood.stop();
    flooded.push(busy);
    floods.push(result);
    await sleep(SETTLE_MS);
    ctx.log(
      `round ${round}/${ctx.rounds}  flood        bystander's timeline at ${rate} req/s: p99 ${num(quiet.p99Ms)} ms idle, ` +
        `${num(busy.p99Ms)} ms under the flood (${busy.non2xx + busy.errors} failed, generator lag p99 ` +
        `${num(busy.sendLagP99Ms)} ms); flood: ${grouped(result.batches)} batches (${byStatus(result.responses)}), ` +
        `${num(result.callsPerSecond)} calls/s served`,
    );
  }
  const idleP99Ms = median(idle.map((r) => r.p99Ms));
  const floodP99Ms = median(flooded.map((r) => r.p99Ms));
  return {
    server: options.server,
    bystander: options.bystanders.map((user) => user.username).join(', '),
    rate,
    connections: options.connections,
    batchSize: FLOOD_BATCH,
    limit: FLOOD_LIMIT,
    author: options.author.username,
    authorPosts: options.author.posts,
    urlBytes: path.length,
    answerBytes,
    idleP50Ms: median(idle.map((r) => r.p50Ms)),
    idleP99Ms,
    floodP50Ms: median(flooded.map((r) => r.p50Ms)),
    floodP99Ms,
    ratio: ratio(floodP99Ms, idleP99Ms),
    bystanderFailed: flooded.reduce((total, r) => total + r.non2xx + r.errors, 0),
    bystanderIdleFailed: idle.reduce((total, r) => total + r.non2xx + r.errors, 0),
    sendLagP99Ms: median(flooded.map((r) => r.sendLagP99Ms)),
    responses: sum(floods.map((r) => r.responses)),
    calls: sum(floods.map((r) => r.calls)),
    floodErrors: floods.reduce((total, r) => total + r.errors, 0),
    callsPerSecond: median(floods.map((r) => r.callsPerSecond)),
    idle,
    flooded,
    floods,
  };
}
