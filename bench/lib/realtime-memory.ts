// Memory per open stream: a server's RSS, read from /proc after it has collected its garbage
// (bench/servers/gc-hook.ts), with 0 streams, then with more and more idle streams open; on Warble
// and on two yardsticks (bench/servers/sse-bare.ts and sse-trpc.ts) that serve idle streams only.
import { readFile, rm } from 'node:fs/promises';
import { memoryReportFile } from '../servers/gc-hook.ts';
import { freePort } from '../../test/helpers/free-port.ts';
import { grouped } from './args.ts';
import { rssBytes, startServer } from './children.ts';
import type { Pinning } from './cpu.ts';
import { num } from './stats.ts';
import { Subscribers } from './subscribers.ts';

const REPORT_TIMEOUT_MS = 15_000;
/** Streams just opened may still have work queued (first pings, buffers): let it pass before a GC. */
const QUIET_MS = 1000;
const MB = 1024 ** 2;

export interface MemoryPoint {
  streams: number;
  /** VmRSS after two full collections. */
  rssMB: number;
  /** What V8 and Node report at the same moment: the JS heap in use, and memory outside it. */
  heapUsedMB: number;
  externalMB: number;
}

export interface MemoryCurve {
  points: MemoryPoint[];
  /** (RSS at the most streams − RSS at 0) ÷ streams: the goal's figure. */
  kbPerStream: number;
  /** Between the last two points: without whatever the first streams of each user cost once. */
  kbPerStreamMarginal: number;
  heapKbPerStream: number;
  /** Seconds to open the streams of each step after the first (0 streams). */
  openSeconds: number[];
  failed: number;
  /** Streams the server ended right after they opened, opened again (subscribers.openAll). */
  ended: number;
  errors: string[];
}

export interface YardstickMemory {
  label: string;
  curve: MemoryCurve;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Asks the server for two full GCs (SIGUSR2) and reads its RSS once it reports back. */
export async function settledMemory(pid: number, streams: number): Promise<MemoryPoint> {
  const file = memoryReportFile(pid);
  await rm(file, { force: true });
  await sleep(QUIET_MS);
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + REPORT_TIMEOUT_MS;
  for (;;) {
    const report = await readFile(file, 'utf8').then(
      (text) => JSON.parse(text) as NodeJS.MemoryUsage,
      () => null,
    );
    if (report) {
      await rm(file, { force: true });
      const rss = rssBytes(pid) ?? report.rss;
      return { streams, rssMB: rss / MB, heapUsedMB: report.heapUsed / MB, externalMB: report.external / MB };
    }
    if (performance.now() > deadline) throw new Error(`process ${pid} did not report its memory after SIGUSR2`);
    await sleep(50);
  }
}

/**
 * Measures at 0 streams, then opens streams step by step (`steps[i]` tokens each, one stream per
 * token) and measures after each step. The streams stay open: the caller closes them.
 */
export async function memoryCurve(pid: number, subscribers: Subscribers, steps: string[][]): Promise<MemoryCurve> {
  const points = [await settledMemory(pid, 0)];
  const openSeconds: number[] = [];
  let failed = 0;
  let ended = 0;
  const errors: string[] = [];
  for (const tokens of steps) {
    const result = await subscribers.openAll(tokens);
    failed += result.failed;
    ended += result.ended;
    errors.push(...result.errors.filter((error) => !errors.includes(error)));
    openSeconds.push(result.seconds);
    points.push(await settledMemory(pid, result.open));
  }
  const first = points[0]!;
  const last = points.at(-1)!;
  const before = points.at(-2)!;
  const perStream = (from: number, to: number, streams: number) => (streams > 0 ? ((to - from) * 1024) / streams : NaN);
  return {
    points,
    kbPerStream: perStream(first.rssMB, last.rssMB, last.streams),
    kbPerStreamMarginal: perStream(before.rssMB, last.rssMB, last.streams - before.streams),
    heapKbPerStream: perStream(first.heapUsedMB, last.heapUsedMB, last.streams),
    openSeconds,
    failed,
    ended,
    errors,
  };
}

/** Memory per idle stream on a yardstick server (bench/servers/sse-*.ts), started and stopped here. */
export async function yardstick(
  pinning: Pinning,
  label: string,
  script: string,
  steps: number[],
): Promise<YardstickMemory> {
  const server = await startServer(
    { name: label, script, port: await freePort(), env: { NODE_ENV: 'production' }, readyPath: '/trpc/hello' },
    pinning,
  );
  const subscribers = new Subscribers({ origin: server.origin, path: '/trpc/idle' });
  try {
    await subscribers.open(Array<string>(100).fill('-'));
    await subscribers.close();
    // These servers take no token: any will do.
    const tokens = steps.map((n) => Array<string>(n).fill('-'));
    return { label, curve: await memoryCurve(server.pid, subscribers, tokens) };
  } finally {
    await subscribers.stop();
    await server.stop();
  }
}

export const logMemory = (log: (line: string) => void, label: string, curve: MemoryCurve) =>
  log(
    `realtime  memory  ${label.padEnd(36)} RSS ${curve.points.map((p) => `${num(p.rssMB)} MB at ${grouped(p.streams)}`).join(', ')}` +
      `: ${num(curve.kbPerStream)} KB per stream (JS heap ${num(curve.heapKbPerStream)} KB)` +
      (curve.ended ? `  !! the server ended ${curve.ended} new streams (opened again)` : '') +
      (curve.failed ? `  !! ${curve.failed} streams failed: ${curve.errors.join('; ')}` : ''),
  );
