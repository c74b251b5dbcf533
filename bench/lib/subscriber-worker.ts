// The subscribers of the realtime phase, in a worker thread (see subscribers.ts): thousands of open
// streams whose events must not wait behind autocannon's responses on the main thread's loop, and
// the fan-out test's author, so that posts.create returning and each event arriving are timed on
// one clock (performance.now() of this thread). It stops by itself with its parent.
import http from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';
import { openStream, type SseStream } from './sse-client.ts';

export interface SubscriberWorkerData {
  origin: string;
  /** GET path of the subscription, input included. */
  path: string;
}

export type Command =
  | { op: 'open'; tokens: string[] }
  /** Opens again the streams the server ended since the last time (with their own tokens). */
  | { op: 'reopen' }
  | { op: 'close'; count: number }
  | { op: 'counts' }
  | { op: 'fanout'; token: string; warmUp: number; posts: number; intervalMs: number; settleMs: number };

export interface Counts {
  open: number;
  /** Data events received on all streams since the worker started. */
  events: number;
  /** Streams the server ended (this client did not close them), with the first reasons. */
  ended: number;
  endReasons: string[];
}

export interface OpenResult {
  opened: number;
  failed: number;
  errors: string[];
  seconds: number;
}

export interface FanoutResult {
  subscribers: number;
  posts: number;
  /** Per subscriber per post: arrival − posts.create returned, and arrival − posts.create sent (ms). */
  fromReturnMs: number[];
  fromSendMs: number[];
  createMs: number[];
  /** Events that never came within settleMs, and events beyond one per stream per post. */
  missing: number;
  extra: number;
  /** This thread's event-loop utilisation during the test: near 1 would mean the client was the limit. */
  clientBusy: number;
}

const OPEN_CONCURRENCY = 100;
const KEPT_REASONS = 5;
const ID_MARK = '"id":"';
const UUID_LENGTH = 36;

const data = workerData as SubscriberWorkerData;
const origin = new URL(data.origin);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
const callAgent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const streams: SseStream[] = [];
const counts: Counts = { open: 0, events: 0, ended: 0, endReasons: [] };
/** Tokens of the streams the server ended, for 'reopen'. */
let endedTokens: string[] = [];
/** Post id → arrival times, only while a fan-out test records. */
let arrivals: Map<string, number[]> | null = null;

/**
 * The post id of a data event without parsing it: `{"type":"post","post":{"id":"<uuid>",…}}` and
 * `{"type":"delete","id":"<uuid>"}` both name it first (PostDto's first key).
 */
function postId(json: string): string | null {
  const at = json.indexOf(ID_MARK);
  return at < 0 ? null : json.slice(at + ID_MARK.length, at + ID_MARK.length + UUID_LENGTH);
}

/** One stream being opened; its end may come before openStream() resolves (same chunk as `connected`). */
interface Slot {
  stream?: SseStream;
  ended?: boolean;
}

const handlers = (self: Slot, token: string) => ({
  onData(json: string, at: number) {
    counts.events++;
    if (!arrivals) return;
    const id = postId(json);
    if (id === null) return;
    const list = arrivals.get(id);
    if (list) list.push(at);
    else arrivals.set(id, [at]);
  },
  onEnd(reason: string) {
    counts.ended++;
    endedTokens.push(token);
    if (counts.endReasons.length < KEPT_REASONS && !counts.endReasons.includes(reason)) counts.endReasons.push(reason);
    self.ended = true;
    const index = self.stream ? streams.indexOf(self.stream) : -1;
    if (index >= 0) streams.splice(index, 1);
  },
});

async function open(tokens: string[]): Promise<OpenResult> {
  const started = performance.now();
  const result = { opened: 0, failed: 0, errors: [] as string[] };
  let next = 0;
  const worker = async () => {
    while (next < tokens.length) {
      const token = tokens[next++]!;
      const self: Slot = {};
      try {
        self.stream = await openStream({ agent, origin, path: data.path, token }, handlers(self, token));
        if (!self.ended) streams.push(self.stream);
        result.opened++;
      } catch (error) {
        result.failed++;
        const message = (error as Error).message;
        if (result.errors.length < KEPT_REASONS && !result.errors.includes(message)) result.errors.push(message);
      }
    }
  };
  await Promise.all(Array.from({ length: OPEN_CONCURRENCY }, worker));
  return { ...result, seconds: (performance.now() - started) / 1000 };
}

/** posts.create over a keep-alive connection; resolves with the new post's id. */
function createPost(token: string, body: string): Promise<string> {
  const payload = JSON.stringify({ body });
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        agent: callAgent,
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
          const id = (JSON.parse(text) as { result?: { data?: { id?: string } } }).result?.data?.id;
          if (response.statusCode === 200 && id) resolve(id);
          else reject(new Error(`posts.create answered ${response.statusCode}: ${text.slice(0, 300)}`));
        });
      },
    );
    request.once('error', reject);
    request.end(payload);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function fanout(command: Extract<Command, { op: 'fanout' }>): Promise<FanoutResult> {
  const subscribers = streams.length;
  const sent: { id: string; sentAt: number; returnedAt: number }[] = [];
  arrivals = new Map();
  const busyBefore = performance.eventLoopUtilization();
  for (let i = 0; i < command.warmUp + command.posts; i++) {
    const sentAt = performance.now();
    const id = await createPost(command.token, `Realtime fan-out ${i + 1}: load test, please ignore.`);
    if (i >= command.warmUp) sent.push({ id, sentAt, returnedAt: performance.now() });
    await sleep(Math.max(0, sentAt + command.intervalMs - performance.now()));
  }
  const complete = () => sent.every(({ id }) => (arrivals?.get(id)?.length ?? 0) >= subscribers);
  for (const deadline = performance.now() + command.settleMs; !complete() && performance.now() < deadline;) {
    await sleep(20);
  }
  const clientBusy = performance.eventLoopUtilization(busyBefore).utilization;
  const result: FanoutResult = {
    subscribers,
    posts: sent.length,
    fromReturnMs: [],
    fromSendMs: [],
    createMs: sent.map(({ sentAt, returnedAt }) => returnedAt - sentAt),
    missing: 0,
    extra: 0,
    clientBusy,
  };
  for (const { id, sentAt, returnedAt } of sent) {
    const times = arrivals.get(id) ?? [];
    result.missing += Math.max(0, subscribers - times.length);
    result.extra += Math.max(0, times.length - subscribers);
    for (const at of times) {
      result.fromReturnMs.push(at - returnedAt);
      result.fromSendMs.push(at - sentAt);
    }
  }
  arrivals = null;
  return result;
}

async function run(command: Command): Promise<unknown> {
  switch (command.op) {
    case 'open':
      return open(command.tokens);
    case 'reopen': {
      const tokens = endedTokens;
      endedTokens = [];
      return open(tokens);
    }
    case 'close':
      for (const stream of streams.splice(Math.max(0, streams.length - command.count))) stream.close();
      endedTokens = [];
      return { open: streams.length };
    case 'counts':
      return { ...counts, open: streams.length };
    case 'fanout':
      return fanout(command);
  }
}

parentPort!.on('message', (message: { seq: number; command: Command }) => {
  run(message.command).then(
    (result) => parentPort!.postMessage({ seq: message.seq, result }),
    (error: unknown) => parentPort!.postMessage({ seq: message.seq, error: (error as Error).message }),
  );
});
