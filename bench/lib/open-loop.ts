// Open loop: requests leave on a fixed schedule, whether or not earlier ones were answered, as
// independent users would send them. Latency is counted from when a request was *meant* to
// leave, so time spent waiting for a free connection or for a stalled server counts (a closed
// loop would send less while the server stalls, and hide exactly those waits: "coordinated
// omission"). The generator's own lateness is reported too, so a run it could not keep up with
// is visible as such.
import http from 'node:http';
import { build } from 'hdr-histogram-js';
import type { HttpRequest } from './http-request.ts';

const SPIN_MS = 1.5;
const REQUEST_TIMEOUT_MS = 30_000;
const DRAIN_TIMEOUT_MS = 30_000;

export interface OpenLoopOptions {
  /** Requests per second, spread evenly. */
  rate: number;
  durationSeconds: number;
  /** Most connections open at once; requests beyond wait (and that wait counts as latency). */
  connections: number;
}

export interface OpenLoopResult {
  rate: number;
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  /** How late the generator sent, p99: above a millisecond or so, it was the bottleneck. */
  sendLagP99Ms: number;
  /** Requests actually sent per second of the schedule. */
  sentRate: number;
}

/** Sends `requests` round-robin at `rate` per second to `origin` for the duration. */
export async function openLoop(origin: string, requests: HttpRequest[], options: OpenLoopOptions) {
  const { hostname, port } = new URL(origin);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latency = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const lag = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 120_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const total = Math.max(1, Math.round(options.rate * options.durationSeconds));
  const interval = 1000 / options.rate;
  const counts = { sent: 0, ok: 0, non2xx: 0, errors: 0, done: 0 };
  let allDone: () => void = () => {};
  const finished = new Promise<void>((resolve) => (allDone = resolve));

  const record = (intended: number, status: number | undefined) => {
    latency.recordValue(Math.max(1, Math.round((performance.now() - intended) * 1000)));
    if (status === undefined) counts.errors++;
    else if (status >= 200 && status < 300) counts.ok++;
    else counts.non2xx++;
    if (++counts.done === total) allDone();
  };

  const send = (index: number, intended: number) => {
    const spec = requests[index % requests.length]!;
    lag.recordValue(Math.max(1, Math.round((performance.now() - intended) * 1000)));
    counts.sent++;
    let settled = false;
    const settle = (status: number | undefined) => {
      if (settled) return;
      settled = true;
      record(intended, status);
    };
    const request = http.request(
      {
        agent,
        hostname,
        port,
        method: spec.method,
        path: spec.path,
        headers: spec.headers,
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response) => {
        response.on('data', () => {});
        response.once('end', () => settle(response.statusCode));
        response.once('error', () => settle(undefined));
      },
    );
    request.once('error', () => settle(undefined));
    request.once('timeout', () => request.destroy(new Error('timeout')));
    request.end(spec.body);
  };

  const start = performance.now();
  let next = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
      while (next < due) {
        send(next, start + next * interval);
        next++;
      }
      if (next >= total) return resolve();
      // Timers fire up to a millisecond late: sleep until just before the next send, then spin
      // (setImmediate still lets responses in between).
      const wait = start + next * interval - performance.now();
      if (wait > SPIN_MS) setTimeout(tick, wait - SPIN_MS);
      else setImmediate(tick);
    };
    tick();
  });
  const scheduleSeconds = (performance.now() - start) / 1000;

  // Late answers still count: waiting for them is part of the latency being measured.
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([finished, new Promise((resolve) => (drainTimer = setTimeout(resolve, DRAIN_TIMEOUT_MS)))]);
  clearTimeout(drainTimer);
  agent.destroy();

  const ms = (value: number) => value / 1000;
  const result: OpenLoopResult = {
    rate: options.rate,
    sent: counts.sent,
    ok: counts.ok,
    non2xx: counts.non2xx,
    errors: counts.errors + (total - counts.done),
    p50Ms: ms(latency.getValueAtPercentile(50)),
    p90Ms: ms(latency.getValueAtPercentile(90)),
    p99Ms: ms(latency.getValueAtPercentile(99)),
    maxMs: ms(latency.maxValue),
    sendLagP99Ms: ms(lag.getValueAtPercentile(99)),
    sentRate: counts.sent / Math.max(scheduleSeconds, options.durationSeconds),
  };
  latency.destroy();
  lag.destroy();
  return result;
}
