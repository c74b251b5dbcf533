// The flooder of bench/lib/flood.ts, in a worker thread: its own event loop, so reading megabytes
// of answers never delays the bystander's sends and reads on the main thread's loop. `connections`
// loops, each sending the same GET batch again as soon as the previous answer has been read (a
// closed loop, as an attacker would: Retry-After is ignored). It stops by itself at `maxSeconds`
// or after `maxBatches`, or earlier when the main thread posts 'stop'; calls still in flight then
// get `drainMs` to finish before their connections are cut.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface FloodWorkerData {
  origin: string;
  path: string;
  batchSize: number;
  connections: number;
  maxSeconds: number;
  maxBatches: number;
  drainMs: number;
}

/** What the worker posts: 'answered' at its first answer, then 'done' with the counts. */
export type FloodMessage = { type: 'answered' } | { type: 'done'; result: FloodResult };

export interface FloodResult {
  connections: number;
  batches: number;
  /** Answers by HTTP status: 200 all calls served, 207 some refused, 503/429 all refused. */
  responses: Record<string, number>;
  /** Calls by status (200 = served), read from each answer's `error.data.httpStatus`. */
  calls: Record<string, number>;
  /** Requests without an answer: connection errors, timeouts, and those cut at the end. */
  errors: number;
  /** Of those, cut at the end (still unanswered `drainMs` after the stop). */
  cut: number;
  bytes: number;
  /** From the first send to the last answer (the calls it had in flight when told to stop included). */
  seconds: number;
  /** Calls served (status 200) per second of `seconds`. */
  callsPerSecond: number;
}

const REQUEST_TIMEOUT_MS = 30_000;
const ERROR_PAUSE_MS = 10;
const STATUS_MARK = Buffer.from('"httpStatus":');

const data = workerData as FloodWorkerData;
const { hostname, port } = new URL(data.origin);
const agent = new http.Agent({ keepAlive: true, maxSockets: data.connections });
const counts = { batches: 0, errors: 0, bytes: 0 };
const responses: Record<string, number> = {};
const calls: Record<string, number> = {};
const add = (into: Record<string, number>, status: number | string, n: number) =>
  void (into[status] = (into[status] ?? 0) + n);
let stopped = false;
let answered = false;
let inFlight = 0;

/** Counts the calls of a mixed (207) answer by the status each error names; the rest were served. */
function countMixed(body: Buffer): void {
  let refused = 0;
  for (let at = body.indexOf(STATUS_MARK); at >= 0; at = body.indexOf(STATUS_MARK, at + 1)) {
    const status = body.toString('latin1', at + STATUS_MARK.length, at + STATUS_MARK.length + 3);
    add(calls, status, 1);
    refused++;
  }
  add(calls, 200, data.batchSize - refused);
}

function sendOne(): Promise<void> {
  inFlight++;
  return new Promise((resolve) => {
    let settled = false;
    const settle = (status: number | undefined, body?: Buffer) => {
      if (settled) return;
      settled = true;
      inFlight--;
      if (status === undefined) counts.errors++;
      else {
        add(responses, status, 1);
        if (status === 207 && body) countMixed(body);
        else add(calls, status, data.batchSize);
        if (!answered) {
          answered = true;
          parentPort!.postMessage({ type: 'answered' } satisfies FloodMessage);
        }
      }
      resolve();
    };
    const request = http.get({ agent, hostname, port, path: data.path, timeout: REQUEST_TIMEOUT_MS }, (response) => {
      const status = response.statusCode;
      // Only a mixed answer is read for its calls' statuses; the others are counted and dropped.
      const chunks: Buffer[] | null = status === 207 ? [] : null;
      response.on('data', (chunk: Buffer) => {
        counts.bytes += chunk.length;
        chunks?.push(chunk);
      });
      response.once('end', () => settle(status, chunks ? Buffer.concat(chunks) : undefined));
      response.once('error', () => settle(undefined));
    });
    request.once('error', () => settle(undefined));
    request.once('timeout', () => request.destroy(new Error('timeout')));
  });
}

async function connectionLoop(): Promise<void> {
  while (!stopped && counts.batches < data.maxBatches) {
    counts.batches++;
    const errorsBefore = counts.errors;
    await sendOne();
    // A refused connection answers at once: do not spin on it.
    if (counts.errors > errorsBefore) await new Promise((resolve) => setTimeout(resolve, ERROR_PAUSE_MS));
  }
}

const started = performance.now();
let stopped$: () => void = () => {};
const stopping = new Promise<void>((resolve) => (stopped$ = resolve));
const stop = () => {
  stopped = true;
  stopped$();
};
const deadline = setTimeout(stop, data.maxSeconds * 1000);
parentPort!.on('message', (message) => {
  if (message === 'stop') stop();
});

// A loop returns once its last call has settled (or at maxBatches); calls still stuck after
// drainMs are cut, and counted as such.
const loops = Promise.all(Array.from({ length: data.connections }, connectionLoop)).then(stop);
await stopping;
clearTimeout(deadline);
let drainTimer: NodeJS.Timeout | undefined;
await Promise.race([loops, new Promise((resolve) => (drainTimer = setTimeout(resolve, data.drainMs)))]);
clearTimeout(drainTimer);
const cut = inFlight;
const seconds = (performance.now() - started) / 1000;
agent.destroy();

const result: FloodResult = {
  connections: data.connections,
  batches: counts.batches,
  responses,
  calls,
  errors: counts.errors + cut,
  cut,
  bytes: counts.bytes,
  seconds,
  callsPerSecond: (calls['200'] ?? 0) / seconds,
};
parentPort!.postMessage({ type: 'done', result } satisfies FloodMessage);
parentPort!.close();
