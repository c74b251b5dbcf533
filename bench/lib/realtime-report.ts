// The realtime phase's goals (issue #14), its section of the Markdown report, and the files of a
// run with `--only realtime` (<UTC time>-realtime.{json,md}, copied to latest-realtime.*, so that a
// partial run never replaces the full run's latest.*).
import { grouped } from './args.ts';
import type { MemoryCurve } from './realtime-memory.ts';
import type { RealtimeSummary } from './realtime.ts';
import { table, writePhaseOnly, type PhaseOnlyResults } from './markdown.ts';
import type { Goal } from './results.ts';
import { num } from './stats.ts';

export const REALTIME_GOALS = { kbPerStream: 10, fanoutP99Ms: 100, createRatio: 0.8 };

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–');
const kb = (value: number) => `${num(value)} KB`;
const mb = (value: number) => `${num(value)} MB`;

export function realtimeGoals(realtime: RealtimeSummary | null): Goal[] {
  const r = realtime;
  const peer = r?.yardsticks.find((y) => y.label.includes('peer'))?.curve;
  const ceiling = r?.yardsticks.find((y) => y.label.includes('ceiling'))?.curve;
  const finite = (value: number | undefined) => value !== undefined && Number.isFinite(value);
  return [
    {
      name: `memory per open stream, idle (RSS after GC, 0 → ${grouped(r?.memory.points.at(-1)?.streams ?? 5000)} streams)`,
      measured: r
        ? `${kb(r.memory.kbPerStream)} (${mb(r.memory.points[0]!.rssMB)} → ${mb(r.memory.points.at(-1)!.rssMB)}; ` +
          `peer ${kb(peer?.kbPerStream ?? NaN)}, ceiling ${kb(ceiling?.kbPerStream ?? NaN)})`
        : 'not measured',
      goal: `≤ ${REALTIME_GOALS.kbPerStream} KB`,
      met: finite(r?.memory.kbPerStream) ? r!.memory.kbPerStream <= REALTIME_GOALS.kbPerStream : null,
    },
    {
      name: `fan-out: posts.create returned → event at each of ${grouped(r?.subscribers ?? 1000)} subscribers, p99`,
      measured: r
        ? `${num(r.fanout.p99Ms)} ms (p50 ${num(r.fanout.p50Ms)} ms, ${r.fanout.posts} posts, ${r.fanout.missing} missing)`
        : 'not measured',
      goal: `≤ ${REALTIME_GOALS.fanoutP99Ms} ms, none missing`,
      met: finite(r?.fanout.p99Ms) ? r!.fanout.p99Ms <= REALTIME_GOALS.fanoutP99Ms && r!.fanout.missing === 0 : null,
    },
    {
      name: `posts.create req/s with ${grouped(r?.subscribers ?? 1000)} streams open ÷ none`,
      measured: r
        ? `${x(r.throughput.ratio)} (${num(r.throughput.with.median)} vs ${num(r.throughput.none.median)} req/s)`
        : 'not measured',
      goal: `≥ ${REALTIME_GOALS.createRatio}×`,
      met: finite(r?.throughput.ratio) ? r!.throughput.ratio >= REALTIME_GOALS.createRatio : null,
    },
  ];
}

const memoryRow = (label: string, curve: MemoryCurve) => [
  label,
  ...curve.points.map((point) => mb(point.rssMB)),
  kb(curve.kbPerStream),
  kb(curve.kbPerStreamMarginal),
  kb(curve.heapKbPerStream),
];

export function realtimeMarkdown(r: RealtimeSummary): string[] {
  const f = r.fanout;
  const t = r.throughput;
  const streams = r.memory.points.map((point) => `${grouped(point.streams)} streams`);
  return [
    '## Realtime: posts.onTimeline (server-sent events)',
    '',
    table(
      ['idle streams on one process (RSS after GC)', ...streams, 'KB per stream', 'last step only', 'JS heap'],
      [memoryRow('Warble posts.onTimeline', r.memory), ...r.yardsticks.map((y) => memoryRow(y.label, y.curve))],
    ),
    '',
    `Warble's streams: ${r.subscribers} followers of ${r.author.username}, one stream each, then ` +
      `${(r.memory.points.at(-1)?.streams ?? 0) / r.subscribers} each (opened in ` +
      `${r.memory.openSeconds.map((s) => `${num(s)} s`).join(' and ')}; ${r.memory.failed} failed, ` +
      `${r.memory.ended} ended by the server right after opening and opened again` +
      `${r.memory.errors.length ? `: ${r.memory.errors.join('; ')}` : ''}). After all were closed: ` +
      `${mb(r.memoryAfterClose.rssMB)} (JS heap ${mb(r.memoryAfterClose.heapUsedMB)}, ` +
      `${mb(r.memory.points[0]!.heapUsedMB)} before).`,
    '',
    table(
      ['fan-out', 'subscribers', 'posts', 'p50 ms', 'p99 ms', 'max ms', 'from send p99 ms', 'missing', 'client busy'],
      [
        [
          `${r.author.username} posts every ${f.intervalMs} ms`,
          grouped(f.subscribers),
          String(f.posts),
          num(f.p50Ms),
          num(f.p99Ms),
          num(f.maxMs),
          num(f.fromSendP99Ms),
          String(f.missing + f.extra),
          `${Math.round(f.clientBusy * 100)}%`,
        ],
      ],
    ),
    '',
    `Latency from posts.create returning to the event read by each subscriber (posts.create itself: ` +
      `p50 ${num(f.createP50Ms)} ms; ${f.arrivedBeforeReturn} events arrived before its answer). Server CPU per ` +
      `event delivered: ${num(f.serverCpuUsPerEvent)} µs (all of the process's threads over the test ÷ events). ` +
      `Client busy: the subscribers' thread's event-loop utilisation during the test.`,
    '',
    table(
      ['posts.create, closed loop', 'req/s median (min–max)', '× none'],
      [
        ['no streams open', `${num(t.none.median)} (${num(t.none.min)}–${num(t.none.max)})`, x(1)],
        [
          `${grouped(r.subscribers)} streams open`,
          `${num(t.with.median)} (${num(t.with.min)}–${num(t.with.max)})`,
          x(t.ratio),
        ],
      ],
    ),
    '',
    `${r.posters} typical users post; the open streams received ${num(t.eventsPerSecond)} events/s meanwhile ` +
      `(median of the rounds). Streams the server ended during the phase: ${r.streamsEnded}` +
      `${r.endReasons.length ? ` (${r.endReasons.join('; ')})` : ''}. This process ran with ` +
      `${Object.entries(r.envChanges)
        .map(([key, value]) => `${key}=${value}`)
        .join(' ')} beside the run's Warble configuration.`,
    '',
  ];
}

export interface RealtimeOnlyResults extends PhaseOnlyResults {
  realtime: RealtimeSummary | null;
}

/** `--only realtime`: the phase's section and goals alone, in files of their own. */
export function writeRealtimeOnly(outDir: string, results: RealtimeOnlyResults) {
  const section = results.realtime ? realtimeMarkdown(results.realtime) : [];
  return writePhaseOnly(
    outDir,
    { file: 'realtime', title: 'realtime' },
    results,
    section,
    realtimeGoals(results.realtime),
  );
}
