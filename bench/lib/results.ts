// The shape of a run's results: what the JSON file holds and what the Markdown is rendered from.
import type { ClosedLoopResult } from './closed-loop.ts';
import type { Pinning } from './cpu.ts';
import type { FloodResult } from './flood-worker.ts';
import type { HomeSummary } from './home.ts';
import type { Meta } from './meta.ts';
import type { OpenLoopResult } from './open-loop.ts';
import type { PgbenchResult } from './pgbench.ts';
import type { RealtimeSummary } from './realtime.ts';
import type { RestSummary } from './rest.ts';
import type { Spread } from './stats.ts';

export interface ClosedLoopSummary {
  id: string;
  label: string;
  server: string;
  connections: number;
  durationSeconds: number;
  rps: Spread;
  /** Medians over the rounds. */
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  ratioCeiling: number;
  ratioPeer: number;
  rounds: ClosedLoopResult[];
}

export interface OpenLoopSummary {
  id: string;
  label: string;
  /** Share of the target's median closed-loop throughput. */
  load: number;
  rate: number;
  /** Medians over the rounds (max: the highest of all rounds). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  sendLagP99Ms: number;
  /** The generator sent late or slow: latency then includes its own delay. */
  generatorBound: boolean;
  non2xx: number;
  errors: number;
  rounds: OpenLoopResult[];
}

export interface StormSummary {
  rate: number;
  loginRate: number;
  idleP99Ms: number;
  stormP99Ms: number;
  ratio: number;
  loginsOk: number;
  loginP99Ms: number;
  idle: OpenLoopResult[];
  storm: OpenLoopResult[];
  logins: OpenLoopResult[];
}

export interface FloodSummary {
  /** The bystander: one typical signed-in user reading its timeline's first page at `rate`/s. */
  /** Which server: Warble with the limits off but the fair share, or with the default limits. */
  server: 'warble' | 'warbleDefaults';
  /** The bystanders, signed-in users taking turns. */
  bystander: string;
  rate: number;
  /** The flood: `connections` connections from one address, GET batches of `batchSize` posts.byUser. */
  connections: number;
  batchSize: number;
  limit: number;
  author: string;
  authorPosts: number;
  urlBytes: number;
  /** The size of one batch's answer, sent alone before the phase. */
  answerBytes: number;
  /** The bystander's latency, medians over the rounds. */
  idleP50Ms: number;
  idleP99Ms: number;
  floodP50Ms: number;
  floodP99Ms: number;
  ratio: number;
  /** The bystander's non-2xx answers and errors, during the floods and alone. */
  bystanderFailed: number;
  bystanderIdleFailed: number;
  sendLagP99Ms: number;
  /** The flood's answers by HTTP status and its calls by status (200 = served), all rounds. */
  responses: Record<string, number>;
  calls: Record<string, number>;
  floodErrors: number;
  /** Calls served per second, median over the rounds. */
  callsPerSecond: number;
  idle: OpenLoopResult[];
  flooded: OpenLoopResult[];
  floods: FloodResult[];
}

export interface PgbenchSummary {
  clients: number;
  version: string;
  tps: Spread;
  rounds: PgbenchResult[];
}

export interface Goal {
  name: string;
  measured: string;
  goal: string;
  /** null: not measured on this machine (say why in `note`). */
  met: boolean | null;
  note?: string;
}

export interface Results {
  startedAt: string;
  finishedAt: string;
  options: Record<string, unknown>;
  meta: Meta;
  pinning: Pinning;
  database: { source: string; users: number; posts: number; follows: number; poolMax: number; pinned: boolean };
  /** The Warble server's configuration (the JWT secret is generated per run and never recorded). */
  warbleEnv: Record<string, string>;
  fixtures: { users: number; medianFollows: number; deepPages: number; deepUsers: number; loginUsers: number };
  closedLoop: ClosedLoopSummary[];
  openLoop: OpenLoopSummary[];
  storm: StormSummary | null;
  /** The flood against Warble with the default limits (the goal), and with only the fair share. */
  flood: FloodSummary | null;
  floodFairShare: FloodSummary | null;
  /** The hot procedures over /api beside /trpc, and what their output checks cost (issue #16). */
  rest: RestSummary | null;
  /** Open posts.onTimeline streams: memory, fan-out latency, posts.create beside them (issue #14). */
  realtime: RealtimeSummary | null;
  /** Home timelines against the pull query: reads, writes, fan-out lag and queue, disk (issue #17). */
  home: HomeSummary | null;
  bcrypt: { cost: number; hashMs: number[]; medianMs: number; serverCores: number; expectedLoginsPerSecond: number };
  pgbench: PgbenchSummary | null;
  /** Warble's maximum under load, per target; every server's right after start, for scale. */
  rss: { idleMB: Record<string, number>; maxMB: number | null; byTargetMB: Record<string, number> };
  goals: Goal[];
  notes: string[];
}
