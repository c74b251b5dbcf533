// The flood phase's goal and its section of the Markdown report (see flood.ts).
import { grouped } from './args.ts';
import { table } from './markdown.ts';
import type { FloodSummary, Goal } from './results.ts';
import { num } from './stats.ts';

/** The bystander's timeline p99 under the flood, at most this many times its p99 alone. */
export const FLOOD_GOAL = 2;

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–');
/** "35 × 200, 34,148 × 503" */
export const byStatus = (record: Record<string, number>) =>
  Object.entries(record)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([status, n]) => `${grouped(n)} × ${status}`)
    .join(', ') || 'none';

/** Met when the p99 stays within FLOOD_GOAL× of the idle one and none of the bystander's calls failed. */
export function floodGoal(flood: FloodSummary | null, fairShareOnly = false): Goal {
  return {
    name: fairShareOnly
      ? 'the same with the call budget off (the fair share alone; not a goal of its own)'
      : "bystander's timeline p99 while one address floods ÷ idle (open loop, default limits)",
    measured: flood
      ? `${x(flood.ratio)} (${num(flood.floodP99Ms)} vs ${num(flood.idleP99Ms)} ms at ${flood.rate} req/s; ` +
        `${flood.bystanderFailed} failed)`
      : 'not measured',
    goal: `≤ ${FLOOD_GOAL}×, none failed`,
    met:
      flood && Number.isFinite(flood.ratio) && !fairShareOnly
        ? flood.ratio <= FLOOD_GOAL && flood.bystanderFailed === 0
        : null,
  };
}

export function floodMarkdown(flood: FloodSummary): string[] {
  const fairShareOnly = flood.server === 'warble';
  const kb = (bytes: number) => `${num(bytes / 1024)} KB`;
  const mb = (bytes: number) => `${num(bytes / 1024 ** 2)} MB`;
  const served = flood.calls['200'] ?? 0;
  return [
    fairShareOnly
      ? '## One address floods, call budget off (the fair share of the database alone)'
      : '## One address floods, default limits',
    '',
    table(
      ['bystander: posts.timeline page 1, open loop', 'req/s', 'p50 ms', 'p99 ms', 'failed'],
      [
        ['alone', String(flood.rate), num(flood.idleP50Ms), num(flood.idleP99Ms), String(flood.bystanderIdleFailed)],
        [
          'while one address floods',
          String(flood.rate),
          num(flood.floodP50Ms),
          num(flood.floodP99Ms),
          String(flood.bystanderFailed),
        ],
      ],
    ),
    '',
    `Bystander: ${flood.bystander}, signed in. Flood: ${flood.connections} connections from one address (anonymous), ` +
      `each sending GET batches of ${flood.batchSize} posts.byUser (limit ${flood.limit}) of ${flood.author} ` +
      `(${num(flood.authorPosts)} posts; ${kb(flood.urlBytes)} URL, ${mb(flood.answerBytes)} answer) back to back, ` +
      `ignoring Retry-After. Its answers by HTTP status: ${byStatus(flood.responses)}; its calls by status: ` +
      `${byStatus(flood.calls)} (${grouped(served)} served, ${num(flood.callsPerSecond)} calls/s); ` +
      `${grouped(flood.floodErrors)} without an answer. p99 ratio ${x(flood.ratio)} (goal ≤ ${FLOOD_GOAL}×); ` +
      `bystander's generator lag p99 under the flood ${num(flood.sendLagP99Ms)} ms. ` +
      (fairShareOnly
        ? 'The per-minute call budget is off here (RATE_LIMIT_CALLS_PER_MINUTE=0): only the fair share stands between the two.'
        : 'Warble runs with the default limits (RATE_LIMIT_CALLS_PER_MINUTE=600 per client); the bystanders take turns, each within its budget.'),
    '',
  ];
}
