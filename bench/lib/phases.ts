// The measurements of a run, in the order run.ts calls them. Every phase interleaves its targets
// within each round (round 1: A, B, C; round 2: A, B, C; ...), so a slow drift of the machine
// (another job, thermal limits, a growing table) spreads over all targets instead of hitting one.
import bcrypt from 'bcrypt';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { RssSampler } from './children.ts';
import type { Pinning } from './cpu.ts';
import { closedLoop, type ClosedLoopResult } from './closed-loop.ts';
import type { HttpRequest } from './http-request.ts';
import { openLoop, type OpenLoopResult } from './open-loop.ts';
import type { Pgbench, PgbenchResult } from './pgbench.ts';
import type { ClosedLoopSummary, OpenLoopSummary, PgbenchSummary, StormSummary } from './results.ts';
import { median, num, ratio, spread } from './stats.ts';
import type { ServerName, Target } from './targets.ts';

export const OPEN_LOOP_LOADS = [0.5, 0.8];
const WARM_UP_SECONDS = 1;
const LAG_NOISE_MS = 1;
const LAG_LIMIT_MS = 10;
const LAG_SHARE_LIMIT = 0.25;
const SENT_RATE_LIMIT = 0.98;

export interface PhaseContext {
  rounds: number;
  origins: Record<ServerName, string>;
  rss: RssSampler;
  log: (line: string) => void;
}

/** JIT, connection pools and caches of every server warm up before anything is recorded. */
export async function warmUp(ctx: PhaseContext, targets: Target[]): Promise<void> {
  for (const target of targets.filter((t) => t.openLoop)) {
    ctx.rss.label = target.id;
    await closedLoop(ctx.origins[target.server], target.requests, {
      connections: target.connections,
      durationSeconds: WARM_UP_SECONDS,
    });
  }
  // The open-loop generator's own code (node:http's client) warms up too.
  const first = targets[0]!;
  await openLoop(ctx.origins[first.server], first.requests, { rate: 500, durationSeconds: 1, connections: 10 });
}

export async function closedLoopRounds(
  ctx: PhaseContext,
  targets: Target[],
  pgbench: { bench: Pgbench; clients: number; durationSeconds: number; after: string } | null,
): Promise<{ closed: ClosedLoopSummary[]; pgbench: PgbenchSummary | null }> {
  const results = new Map<string, ClosedLoopResult[]>(targets.map((target) => [target.id, []]));
  const pgRounds: PgbenchResult[] = [];
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const target of targets) {
      ctx.rss.label = target.id;
      const result = await closedLoop(ctx.origins[target.server], target.requests, target);
      results.get(target.id)!.push(result);
      const problems = result.non2xx || result.errors ? `  !! ${result.non2xx} non-2xx, ${result.errors} errors` : '';
      ctx.log(
        `round ${round}/${ctx.rounds}  closed loop  ${target.label.padEnd(36)} ${num(result.rps).padStart(7)} req/s` +
          `  p50 ${num(result.p50Ms)} ms  p99 ${num(result.p99Ms)} ms${problems}`,
      );
      if (pgbench && target.id === pgbench.after) {
        ctx.rss.label = 'pgbench';
        const pg = await pgbench.bench.run(pgbench.clients, pgbench.durationSeconds);
        pgRounds.push(pg);
        ctx.log(
          `round ${round}/${ctx.rounds}  pgbench      ${'same timeline SQL, same users'.padEnd(36)} ${num(pg.tps).padStart(7)} tps` +
            `  avg ${num(pg.latencyAvgMs)} ms${pg.failed ? `  !! ${pg.failed} failed` : ''}`,
        );
      }
    }
  }
  const byId = (id: string) => results.get(id) ?? [];
  const ceiling = median(byId('ceiling').map((r) => r.rps));
  const peer = median(byId('peer').map((r) => r.rps));
  const closed = targets.map((target): ClosedLoopSummary => {
    const rounds = byId(target.id);
    const rps = spread(rounds.map((r) => r.rps));
    return {
      id: target.id,
      label: target.label,
      server: target.server,
      connections: target.connections,
      durationSeconds: target.durationSeconds,
      rps,
      p50Ms: median(rounds.map((r) => r.p50Ms)),
      p99Ms: median(rounds.map((r) => r.p99Ms)),
      non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
      errors: rounds.reduce((sum, r) => sum + r.errors, 0),
      ratioCeiling: ratio(rps.median, ceiling),
      ratioPeer: ratio(rps.median, peer),
      rounds,
    };
  });
  const pgSummary = pgbench
    ? {
        clients: pgbench.clients,
        version: pgbench.bench.version,
        tps: spread(pgRounds.map((r) => r.tps)),
        rounds: pgRounds,
      }
    : null;
  return { closed, pgbench: pgSummary };
}

export async function openLoopRounds(
  ctx: PhaseContext,
  targets: Target[],
  closed: ClosedLoopSummary[],
  durationSeconds: number,
): Promise<OpenLoopSummary[]> {
  const runs = targets
    .filter((target) => target.openLoop)
    .flatMap((target) => {
      const max = closed.find((summary) => summary.id === target.id)?.rps.median ?? 0;
      return OPEN_LOOP_LOADS.filter(() => max > 0).map((load) => ({ target, load, rate: max * load }));
    });
  const results = runs.map((): OpenLoopResult[] => []);
  for (let round = 1; round <= ctx.rounds; round++) {
    for (const [i, { target, load, rate }] of runs.entries()) {
      ctx.rss.label = target.id;
      const result = await openLoop(ctx.origins[target.server], target.requests, {
        rate,
        durationSeconds,
        connections: target.connections,
      });
      results[i]!.push(result);
      ctx.log(
        `round ${round}/${ctx.rounds}  open loop    ${target.label.padEnd(36)} ${String(load * 100).padStart(3)}% = ` +
          `${num(rate)} req/s  p50 ${num(result.p50Ms)} ms  p99 ${num(result.p99Ms)} ms  max ${num(result.maxMs)} ms` +
          `  (generator lag p99 ${num(result.sendLagP99Ms)} ms${isGeneratorBound(result) ? ', too much' : ''})`,
      );
    }
  }
  return runs.map(({ target, load, rate }, i): OpenLoopSummary => {
    const rounds = results[i]!;
    return {
      id: target.id,
      label: target.label,
      load,
      rate,
      p50Ms: median(rounds.map((r) => r.p50Ms)),
      p99Ms: median(rounds.map((r) => r.p99Ms)),
      maxMs: Math.max(...rounds.map((r) => r.maxMs)),
      sendLagP99Ms: median(rounds.map((r) => r.sendLagP99Ms)),
      generatorBound: rounds.some(isGeneratorBound),
      non2xx: rounds.reduce((sum, r) => sum + r.non2xx, 0),
      errors: rounds.reduce((sum, r) => sum + r.errors, 0),
      rounds,
    };
  });
}

/**
 * The generator itself was late (its event loop busy with more responses than one core can take,
 * or the core taken by something else) by enough to matter next to the latency it measured, or
 * it could not send at the rate.
 */
function isGeneratorBound(result: OpenLoopResult): boolean {
  const late =
    result.sendLagP99Ms > LAG_LIMIT_MS ||
    (result.sendLagP99Ms > LAG_NOISE_MS && result.sendLagP99Ms > result.p99Ms * LAG_SHARE_LIMIT);
  return late || result.sentRate < result.rate * SENT_RATE_LIMIT;
}

/** The timeline at a fixed rate, alone and while a second generator sends logins at `loginRate`. */
export async function loginStorm(
  ctx: PhaseContext,
  timeline: { requests: HttpRequest[]; rate: number; connections: number },
  logins: HttpRequest[],
  loginRate: number,
  durationSeconds: number,
): Promise<StormSummary> {
  const origin = ctx.origins.warble;
  const idle: OpenLoopResult[] = [];
  const storm: OpenLoopResult[] = [];
  const loginResults: OpenLoopResult[] = [];
  const options = { rate: timeline.rate, durationSeconds, connections: timeline.connections };
  for (let round = 1; round <= ctx.rounds; round++) {
    ctx.rss.label = 'timeline (idle)';
    const quiet = await openLoop(origin, timeline.requests, options);
    idle.push(quiet);
    ctx.rss.label = 'timeline + logins';
    const [busy, login] = await Promise.all([
      openLoop(origin, timeline.requests, options),
      openLoop(origin, logins, { rate: loginRate, durationSeconds, connections: timeline.connections }),
    ]);
    storm.push(busy);
    loginResults.push(login);
    ctx.log(
      `round ${round}/${ctx.rounds}  login storm  timeline at ${num(timeline.rate)} req/s: p99 ${num(quiet.p99Ms)} ms idle, ` +
        `${num(busy.p99Ms)} ms with ${loginRate} logins/s (logins: ${login.ok} ok, p99 ${num(login.p99Ms)} ms)`,
    );
  }
  const idleP99Ms = median(idle.map((r) => r.p99Ms));
  const stormP99Ms = median(storm.map((r) => r.p99Ms));
  return {
    rate: timeline.rate,
    loginRate,
    idleP99Ms,
    stormP99Ms,
    ratio: ratio(stormP99Ms, idleP99Ms),
    loginsOk: loginResults.reduce((sum, r) => sum + r.ok, 0),
    loginP99Ms: median(loginResults.map((r) => r.p99Ms)),
    idle,
    storm,
    logins: loginResults,
  };
}

/** How long one bcrypt hash takes here, on the load generator's core while nothing else runs. */
export async function bcryptHashMs(cost: number, runs: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await bcrypt.hash('bench-password', cost);
    times.push(performance.now() - started);
  }
  return times;
}

/**
 * What a phase that runs on a Warble process of its own needs (realtime.ts, rest.ts): they start
 * their own server after the shared ones stopped, on the same database and settings.
 */
export interface SoloPhaseOptions {
  pinning: Pinning;
  databaseUrl: string;
  /** Warble's configuration in this run (servers.ts), without the secret and the database URL. */
  warbleEnv: Record<string, string>;
  em: () => EntityManager;
  rounds: number;
  durationSeconds: number;
  connections: number;
  log: (line: string) => void;
  /** Registers a clean-up that must also run on Ctrl-C. */
  defer: (name: string, run: () => Promise<unknown>) => void;
}
