// A raw client for tRPC's server-sent events, as a browser's EventSource or curl would see them:
// one plain HTTP GET on a socket of its own (so closing it is a real disconnect), the body parsed
// by the SSE rules (WHATWG HTML §9.2), nothing from tRPC's client. What the server writes:
//   event: connected            (first, always)
//   data: <json> / id: <id>     (a `tracked` value: no event name, the id on its own line)
//   event: ping                 (keep-alive)
//   event: serialized-error     (the stream failed; data is the error shape; then it ends)
//   event: return               (the procedure's generator finished)
// A refusal that happens before tRPC (the admission hook, a transport check) is a plain JSON error
// answer instead; `ended` reports both kinds the same way.
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, onTestFinished } from 'vitest';
import type { TrpcErrorShape } from './trpc.ts';
import type { PostDto } from './social.ts';

/** Bounds on waiting, far above what any of this takes: they only turn a hang into a clear failure. */
export const SSE_WAIT_MS = 15_000;
/** After the last expected event arrived, how long to watch for one that must not come. */
export const SETTLE_MS = 300;

export interface SseEvent {
  /** The event type; `message` when the server named none (tRPC's data events). */
  event: string;
  data: string;
  /** The `id:` field of this event, if it had one. */
  id: string | undefined;
  /** When it arrived (Date.now()). */
  at: number;
}

export type SseEnd =
  /** An error: in-band (`serialized-error` in an HTTP 200) or a plain JSON error answer. */
  | { kind: 'error'; code: string; error: TrpcErrorShape; status: number; inBand: boolean; at: number }
  /** The server ended the stream normally (`event: return`). */
  | { kind: 'return'; at: number }
  /** The connection ended with neither (the server or the network cut it). */
  | { kind: 'closed'; at: number; cause?: string }
  /** This client closed it. */
  | { kind: 'closed-by-client'; at: number };

export interface SseOptions {
  /** Sent as `Authorization: Bearer …`. */
  token?: string;
  /** The procedure's input, sent as `?input=<json>`. */
  input?: unknown;
  /** More request headers (`last-event-id`, …). */
  headers?: Record<string, string>;
}

export interface SseStream {
  /** Every event so far, pings and `connected` included, in arrival order. */
  readonly events: SseEvent[];
  /** The HTTP status and content type, once the answer's head arrived. */
  readonly head: Promise<{ status: number; contentType: string }>;
  /** Resolves when the stream has ended, however it ended (never rejects). */
  readonly ended: Promise<SseEnd>;
  /** The end, if it has ended. */
  end(): SseEnd | undefined;
  /** Resolves once `condition` holds (re-checked on every event and at the end); rejects after `timeoutMs`. */
  until(what: string, condition: () => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves after the `connected` event; rejects if the stream ends first (with how it ended). */
  connected(timeoutMs?: number): Promise<void>;
  /** Stops reading (a slow reader: the server's writes back up) / reads again. */
  pause(): void;
  resume(): void;
  /** Destroys the socket: the server sees a client that went away. */
  close(): void;
}

function describeEnd(end: SseEnd | undefined): string {
  if (!end) return 'still open';
  if (end.kind === 'error') return `ended with ${end.code} (HTTP ${end.status}${end.inBand ? ', in-band' : ''})`;
  return `ended: ${end.kind}${'cause' in end && end.cause ? ` (${end.cause})` : ''}`;
}

/** Opens `GET <baseUrl>/trpc/<path>?input=…` as an SSE stream. */
export function openSse(baseUrl: string, path: string, options: SseOptions = {}): SseStream {
  const url = new URL(`${baseUrl}/trpc/${path}`);
  if (options.input !== undefined) url.searchParams.set('input', JSON.stringify(options.input));
  const headers: Record<string, string> = { accept: 'text/event-stream', 'cache-control': 'no-cache' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  Object.assign(headers, options.headers);

  const events: SseEvent[] = [];
  let finished: SseEnd | undefined;
  const watchers = new Set<() => void>();
  const changed = () => {
    for (const watcher of [...watchers]) watcher();
  };
  let resolveEnded!: (end: SseEnd) => void;
  const ended = new Promise<SseEnd>((resolve) => (resolveEnded = resolve));
  const finish = (end: SseEnd) => {
    if (finished) return;
    finished = end;
    resolveEnded(end);
    changed();
  };
  let resolveHead!: (head: { status: number; contentType: string }) => void;
  let rejectHead!: (error: Error) => void;
  const head = new Promise<{ status: number; contentType: string }>((resolve, reject) => {
    resolveHead = resolve;
    rejectHead = reject;
  });
  head.catch(() => {}); // a test that never looks at it must not see an unhandled rejection

  // Parser state (one event being built).
  let buffer = '';
  let eventType = '';
  let data: string[] = [];
  let id: string | undefined;
  let sawField = false;
  const dispatch = () => {
    // Unlike a browser, events with empty data (tRPC's pings) are kept: the tests count them.
    if (sawField) {
      const event: SseEvent = { event: eventType || 'message', data: data.join('\n'), id, at: Date.now() };
      events.push(event);
      if (event.event === 'serialized-error') {
        const error = JSON.parse(event.data) as TrpcErrorShape;
        finish({ kind: 'error', code: error.data.code, error, status: 200, inBand: true, at: event.at });
      } else if (event.event === 'return') {
        finish({ kind: 'return', at: event.at });
      }
      changed();
    }
    eventType = '';
    data = [];
    id = undefined;
    sawField = false;
  };
  const onLine = (line: string) => {
    if (line === '') return dispatch();
    if (line.startsWith(':')) return; // a comment
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    sawField = true;
    if (field === 'event') eventType = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id' && !value.includes('\0')) id = value;
  };

  let paused = false;
  let body: http.IncomingMessage | undefined;
  const request = http.get(url, { headers, agent: false }, (response) => {
    body = response;
    if (paused) response.pause();
    const status = response.statusCode ?? 0;
    const contentType = String(response.headers['content-type'] ?? '');
    resolveHead({ status, contentType });
    response.setEncoding('utf8');
    if (!contentType.startsWith('text/event-stream')) {
      // Refused before tRPC streamed anything: a plain JSON error answer.
      let body = '';
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        try {
          const error = (JSON.parse(body) as { error: TrpcErrorShape }).error;
          finish({ kind: 'error', code: error.data.code, error, status, inBand: false, at: Date.now() });
        } catch {
          finish({ kind: 'closed', at: Date.now(), cause: `HTTP ${status} ${contentType}: ${body.slice(0, 200)}` });
        }
      });
      return;
    }
    response.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, newline).replace(/\r$/, '');
        buffer = buffer.slice(newline + 1);
        onLine(line);
      }
    });
    response.on('end', () => finish({ kind: 'closed', at: Date.now(), cause: 'end of body' }));
    response.on('error', (error) => finish({ kind: 'closed', at: Date.now(), cause: error.message }));
    response.on('close', () => finish({ kind: 'closed', at: Date.now(), cause: 'connection closed' }));
  });
  request.on('error', (error) => {
    rejectHead(error);
    finish({ kind: 'closed', at: Date.now(), cause: error.message });
  });

  const stream: SseStream = {
    events,
    head,
    ended,
    end: () => finished,
    until(what, condition, timeoutMs = SSE_WAIT_MS) {
      // Made now, so that a timeout's stack shows the test line that waited.
      const failure = new Error(`gave up waiting ${timeoutMs} ms for ${what}`);
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!condition()) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          failure.message += `; stream ${describeEnd(finished)}`;
          reject(failure);
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      });
    },
    async connected(timeoutMs = SSE_WAIT_MS) {
      const isConnected = () => events.some((event) => event.event === 'connected');
      await stream.until('the connected event', () => isConnected() || finished !== undefined, timeoutMs);
      if (!isConnected()) throw new Error(`the stream never connected: ${describeEnd(finished)}`);
    },
    pause() {
      paused = true;
      body?.pause();
    },
    resume() {
      paused = false;
      body?.resume();
    },
    close() {
      finish({ kind: 'closed-by-client', at: Date.now() });
      request.destroy();
    },
  };
  return stream;
}

// ---------------------------------------------------------------------------------------------
// posts.onTimeline
// ---------------------------------------------------------------------------------------------

/** The data of one `posts.onTimeline` event. */
export type TimelineEventData = { type: 'post'; post: PostDto } | { type: 'delete'; id: string };

/** One tracked event: its id and its data. */
export interface Tracked<T> {
  id: string;
  data: T;
}

export interface TimelineStream extends SseStream {
  /** The data events so far (tracked), in arrival order. */
  received(): Tracked<TimelineEventData>[];
  /** Waits until at least `count` data events arrived (failing early if the stream ends); returns them all. */
  receive(count: number, timeoutMs?: number): Promise<Tracked<TimelineEventData>[]>;
  /** The id of the last data event (what a client resumes from). */
  lastId(): string;
}

export interface TimelineOptions {
  /** Resume from this id, in the input (as tRPC's httpSubscriptionLink does). */
  lastEventId?: string;
  /** Resume from this id, as the `Last-Event-ID` header (as a browser's EventSource does). */
  lastEventIdHeader?: string;
}

/** Opens `posts.onTimeline` for the holder of `token`. */
export function openTimeline(
  baseUrl: string,
  token: string | undefined,
  options: TimelineOptions = {},
): TimelineStream {
  const input = options.lastEventId ? { lastEventId: options.lastEventId } : {};
  const headers = options.lastEventIdHeader ? { 'last-event-id': options.lastEventIdHeader } : undefined;
  const stream = openSse(baseUrl, 'posts.onTimeline', { token, input, headers });
  // Parsed once each, as they arrive: a test may read thousands.
  const tracked: Tracked<TimelineEventData>[] = [];
  let seen = 0;
  const parse = () => {
    for (; seen < stream.events.length; seen++) {
      const event = stream.events[seen]!;
      if (event.event === 'message')
        tracked.push({ id: event.id ?? '', data: JSON.parse(event.data) as TimelineEventData });
    }
    return tracked;
  };
  const received = () => [...parse()];
  return Object.assign(stream, {
    received,
    async receive(count: number, timeoutMs = SSE_WAIT_MS) {
      const has = () => parse().length >= count;
      const got = () => `got ${parse().length}: [${describeEvents(parse().slice(0, 20)).join(', ')}]`;
      await stream
        .until(`${count} timeline events`, () => has() || !!stream.end(), timeoutMs)
        .catch((error: Error) => {
          error.message += `; ${got()}`;
          throw error;
        });
      if (!has()) {
        const end = stream.end();
        const how = end?.kind === 'error' ? `${end.code}: ${end.error.message}` : end?.kind;
        throw new Error(`the stream ended (${how}) before ${count} timeline events; ${got()}`);
      }
      return received();
    },
    lastId() {
      const last = parse().at(-1);
      if (!last) throw new Error('no event received yet');
      return last.id;
    },
  });
}

/** A compact picture of events for `toEqual`: `post:<body>` or `delete:<post id>`. */
export const describeEvents = (events: Tracked<TimelineEventData>[]) =>
  events.map(({ data }) => (data.type === 'post' ? `post:${data.post.body}` : `delete:${data.id}`));

/**
 * Whether `ids` are strictly increasing. The ids are opaque to clients, so "increasing" is read
 * the way a client could compare them: as integers when they all are decimal digits, else as text.
 */
export function isIncreasing(ids: string[]): boolean {
  const numeric = ids.every((id) => /^\d+$/.test(id));
  for (let i = 1; i < ids.length; i++) {
    const [a, b] = [ids[i - 1]!, ids[i]!];
    if (numeric ? BigInt(a) >= BigInt(b) : a >= b) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// Assertions shared by test/realtime.test.ts and test/realtime-resume.test.ts
// ---------------------------------------------------------------------------------------------

/** Opens `posts.onTimeline` and closes it when the test ends, however it ends. */
export function timelineOf(baseUrl: string, token: string, options: TimelineOptions = {}): TimelineStream {
  const stream = openTimeline(baseUrl, token, options);
  onTestFinished(() => stream.close());
  return stream;
}

/** How a stream ended, in a word: the error code, or the kind of end (undefined while open). */
export const endCode = (end: SseEnd | undefined) => (end?.kind === 'error' ? end.code : end?.kind);

/** Waits for exactly `expected` (as `describeEvents` puts them), and a moment more for anything extra. */
export async function expectExactly(stream: TimelineStream, expected: string[]) {
  await stream.receive(expected.length);
  await sleep(SETTLE_MS);
  expect(describeEvents(stream.received())).toEqual(expected);
}

/** Across `streams` in order, every event's id is new and larger than the one before. */
export function expectNothingRepeated(...streams: TimelineStream[]) {
  const ids = streams.flatMap((stream) => stream.received().map((event) => event.id));
  expect(new Set(ids).size, `ids ${ids.join(', ')}`).toBe(ids.length);
  expect(isIncreasing(ids), `ids ${ids.join(', ')}`).toBe(true);
}
