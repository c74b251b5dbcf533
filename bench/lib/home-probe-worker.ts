// The home phase's probe, in a worker thread (see home-probe.ts): its own event loop, so that
// neither its posts nor its polls wait behind autocannon's answers on the main thread. Two jobs:
//   - fan-out lag: a probe author posts every `intervalMs`; from posts.create returning, a poller
//     on a connection of its own asks every `pollMs` whether the post is in the home timelines of a
//     sample of the author's followers; lag = the poll that first finds it in all of them minus the
//     return (both on this thread's clock, performance.now());
//   - queue depth: every `sampleMs`, graphile-worker's jobs and the post-log rows the fan-out has not
//     read yet (after home_fanout_cursor), with the age of the oldest, on another connection.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import pg from 'pg';

export interface ProbeWorkerData {
  databaseUrl: string;
  /** Followers of the probe author whose home timelines are polled. */
  followerIds: string[];
  pollMs: number;
  sampleMs: number;
}

export type ProbeCommand =
  /** Samples the queue; with a token, also posts every `intervalMs`, and with `poll`, polls for the entries. */
  | { op: 'start'; origin: string; token: string | null; poll: boolean; intervalMs: number; label: string }
  | { op: 'stop'; settleMs: number };

export interface QueueSample {
  /** Since 'start'. */
  atMs: number;
  jobs: number;
  /** Post-log rows after the fan-out's cursor. */
  behind: number;
  /** Age of the oldest of them (0 when none). */
  oldestMs: number;
}

export interface ProbeResult {
  posts: number;
  /** posts.create returned → the entry in every sampled follower's home timeline, ms, per post. */
  lagsMs: number[];
  /** Posts whose entries had not all arrived `settleMs` after the probe stopped posting. */
  missing: number;
  /** posts.create's own latency (sent → returned), ms. */
  createMs: number[];
  failed: number;
  samples: QueueSample[];
  /** How long one poll took, median, ms: the resolution is pollMs plus this. */
  pollQueryMs: number;
}

const data = workerData as ProbeWorkerData;
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const poller = new pg.Client({ connectionString: data.databaseUrl, application_name: 'warble-bench-probe' });
const sampler = new pg.Client({ connectionString: data.databaseUrl, application_name: 'warble-bench-queue' });
await Promise.all([poller.connect(), sampler.connect()]);
// Entries are keyed (user_id, created_at, post_id): a short range per sampled follower, from the
// oldest post still awaited. Prepared once (named): a poll every few milliseconds must cost little.
const POLL = `select post_id, count(*)::int as n from home_timeline_entries
              where user_id = any($1::uuid[]) and created_at >= $2 and post_id = any($3::uuid[]) group by post_id`;

let run: {
  started: number;
  /** Post id → when posts.create returned (this thread's clock) and the post's created_at. */
  pending: Map<string, { returned: number; createdAt: string }>;
  result: ProbeResult;
  timers: NodeJS.Timeout[];
  poster?: NodeJS.Timeout;
  inFlight: Set<Promise<void>>;
  pollQueryMs: number[];
} | null = null;

function create(origin: URL, token: string, body: string): Promise<{ id: string; createdAt: string }> {
  const payload = JSON.stringify({ body });
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        agent,
        host: origin.hostname,
        port: origin.port,
        method: 'POST',
        path: '/trpc/posts.create',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => void (text += chunk));
        response.once('end', () => {
          const post = (JSON.parse(text) as { result?: { data?: { id?: string; createdAt?: string } } }).result?.data;
          if (response.statusCode === 200 && post?.id && post.createdAt)
            resolve({ id: post.id, createdAt: post.createdAt });
          else reject(new Error(`posts.create answered ${response.statusCode}: ${text.slice(0, 300)}`));
        });
      },
    );
    request.once('error', reject);
    request.end(payload);
  });
}

async function poll(): Promise<void> {
  if (!run || run.pending.size === 0) return;
  const current = run;
  const asked = performance.now();
  let oldest = '';
  for (const { createdAt } of current.pending.values()) if (!oldest || createdAt < oldest) oldest = createdAt;
  const { rows } = await poller.query<{ post_id: string; n: number }>({
    name: 'poll',
    text: POLL,
    values: [data.followerIds, oldest, [...current.pending.keys()]],
  });
  const now = performance.now();
  current.pollQueryMs.push(now - asked);
  for (const row of rows) {
    const post = current.pending.get(row.post_id);
    if (post === undefined || row.n < data.followerIds.length) continue;
    current.result.lagsMs.push(now - post.returned);
    current.pending.delete(row.post_id);
  }
}

async function sample(): Promise<void> {
  if (!run) return;
  const current = run;
  const { rows } = await sampler.query<{ jobs: number; behind: number; oldest_ms: number | null }>(
    // Jobs that may still run (one that ran out of attempts stays in the table, inert).
    `select (select count(*)::int from graphile_worker.jobs where attempts < max_attempts) as jobs,
            count(*)::int as behind,
            extract(epoch from clock_timestamp() - min(e.created_at))::float8 * 1000 as oldest_ms
     from home_fanout_cursor c join timeline_events e on (e.tx, e.id) > (c.tx, c.event_id)`,
  );
  const row = rows[0]!;
  current.result.samples.push({
    atMs: performance.now() - current.started,
    jobs: row.jobs,
    behind: row.behind,
    oldestMs: row.oldest_ms ?? 0,
  });
}

/** Runs `task` every `ms`, never two at once (a slow query skips ticks instead of piling up). */
function every(ms: number, task: () => Promise<void>): NodeJS.Timeout {
  let busy = false;
  return setInterval(() => {
    if (busy) return;
    busy = true;
    task()
      .catch((error: unknown) => process.stderr.write(`home probe: ${(error as Error).message}\n`))
      .finally(() => (busy = false));
  }, ms);
}

function start(command: Extract<ProbeCommand, { op: 'start' }>): void {
  const started = performance.now();
  run = {
    started,
    pending: new Map(),
    result: { posts: 0, lagsMs: [], missing: 0, createMs: [], failed: 0, samples: [], pollQueryMs: NaN },
    timers: [],
    inFlight: new Set(),
    pollQueryMs: [],
  };
  const current = run;
  if (command.poll) current.timers.push(every(data.sampleMs, sample));
  const { token } = command;
  if (!token) return;
  const origin = new URL(command.origin);
  if (command.poll) current.timers.push(every(data.pollMs, poll));
  // Posts leave on schedule, whether or not the last one has returned.
  const post = () => {
    const n = ++current.result.posts;
    const sent = performance.now();
    const call = create(origin, token, `Fan-out probe ${n} (${command.label}): load test, please ignore.`).then(
      ({ id, createdAt }) => {
        const returned = performance.now();
        current.result.createMs.push(returned - sent);
        if (command.poll) current.pending.set(id, { returned, createdAt });
      },
      () => void current.result.failed++,
    );
    current.inFlight.add(call);
    void call.finally(() => current.inFlight.delete(call));
  };
  current.poster = setInterval(post, command.intervalMs);
}

async function stop(settleMs: number): Promise<ProbeResult> {
  const current = run;
  if (!current) throw new Error('the probe is not running');
  clearInterval(current.poster);
  await Promise.all(current.inFlight);
  const deadline = performance.now() + settleMs;
  while (current.pending.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  for (const timer of current.timers) clearInterval(timer);
  run = null;
  const sorted = [...current.pollQueryMs].sort((a, b) => a - b);
  return {
    ...current.result,
    missing: current.pending.size,
    pollQueryMs: sorted[Math.floor(sorted.length / 2)] ?? NaN,
  };
}

parentPort!.on('message', (message: { seq: number; command: ProbeCommand }) => {
  const { seq, command } = message;
  const answer = (promise: Promise<unknown>) =>
    promise.then(
      (result) => parentPort!.postMessage({ seq, result }),
      (error: unknown) => parentPort!.postMessage({ seq, error: (error as Error).message }),
    );
  if (command.op === 'start') void answer(Promise.resolve(start(command)));
  else void answer(stop(command.settleMs));
});
