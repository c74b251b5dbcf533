// The REST phase's goals (issue #16), its section of the Markdown report, and the files of a run
// with `--only rest` (<UTC time>-rest.{json,md}, copied to latest-rest.*, so that a partial run never
// replaces the full run's latest.*).
import type { RestSummary, TransportSummary } from './rest.ts';
import { table, writePhaseOnly, type PhaseOnlyResults } from './markdown.ts';
import type { Goal } from './results.ts';
import { num } from './stats.ts';

export const REST_GOALS = { restRatio: 0.9, checkShare: 0.02 };

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–');
const pct = (value: number) => (Number.isFinite(value) ? `${(value * 100).toFixed(2)}%` : '–');
// autocannon records whole milliseconds.
const wholeMs = (value: number) => (value === 0 ? '<1' : num(value));

/** The lowest (or highest) of `values` by `key`, or undefined when none is finite. */
function extreme<T>(values: T[], key: (value: T) => number, highest: boolean): T | undefined {
  const finite = values.filter((value) => Number.isFinite(key(value)));
  return finite.reduce<T | undefined>(
    (best, value) => (best === undefined || (highest ? key(value) > key(best) : key(value) < key(best)) ? value : best),
    undefined,
  );
}

export function restGoals(rest: RestSummary | null): Goal[] {
  const slowest = rest && extreme(rest.pairs, (pair) => pair.ratio, false);
  const dearest = rest && extreme(rest.checks, (check) => check.shareOfCpu, true);
  const ratios = rest?.pairs.map((pair) => pair.ratio).filter(Number.isFinite) ?? [];
  const cpuRatios = rest?.pairs.map((pair) => pair.cpuRatio).filter(Number.isFinite) ?? [];
  return [
    {
      name: 'REST ÷ tRPC req/s, same procedure, same process (the lowest of the hot procedures)',
      measured: slowest
        ? `${x(slowest.ratio)} ${slowest.label} (${num(slowest.rest.rps.median)} vs ${num(slowest.trpc.rps.median)} ` +
          `req/s); all: ${x(Math.min(...ratios))}–${x(Math.max(...ratios))}; Warble's CPU per call, REST ÷ tRPC: ` +
          `${x(Math.min(...cpuRatios))}–${x(Math.max(...cpuRatios))}`
        : 'not measured',
      goal: `≥ ${REST_GOALS.restRatio}×`,
      met: slowest ? ratios.every((value) => value >= REST_GOALS.restRatio) : null,
    },
    {
      name: 'output check (schema.parse, in the server) ÷ Warble’s CPU per call (the highest of the hot procedures)',
      measured: dearest
        ? `${pct(dearest.shareOfCpu)} ${dearest.label} (${num(dearest.serverUs)} µs of ` +
          `${num(dearest.cpuUsPerCall)} µs; ÷ 1/req/s: ${pct(dearest.shareOfCall)})`
        : 'not measured',
      goal: `≤ ${pct(REST_GOALS.checkShare)}`,
      met: dearest ? rest.checks.every((check) => check.shareOfCpu <= REST_GOALS.checkShare) : null,
    },
  ];
}

const range = (values: number[]) => (values.length ? `${x(Math.min(...values))}–${x(Math.max(...values))}` : '–');
const latency = (t: TransportSummary) => `${wholeMs(t.p50Ms)} / ${wholeMs(t.p99Ms)}`;

export function restMarkdown(r: RestSummary): string[] {
  return [
    '## REST under /api beside /trpc, and the output checks (issue #16)',
    '',
    table(
      [
        'procedure, closed loop',
        'tRPC req/s median (min–max)',
        'REST req/s median (min–max)',
        'REST ÷ tRPC',
        'per round',
        'p50 / p99 ms tRPC',
        'REST',
        'Warble CPU µs/call tRPC',
        'REST',
        'REST ÷ tRPC',
        'non-2xx',
      ],
      r.pairs.map((p) => [
        p.label,
        `${num(p.trpc.rps.median)} (${num(p.trpc.rps.min)}–${num(p.trpc.rps.max)})`,
        `${num(p.rest.rps.median)} (${num(p.rest.rps.min)}–${num(p.rest.rps.max)})`,
        x(p.ratio),
        range(p.roundRatios),
        latency(p.trpc),
        latency(p.rest),
        num(p.trpc.cpuUsPerCall),
        num(p.rest.cpuUsPerCall),
        x(p.cpuRatio),
        String(p.trpc.non2xx + p.trpc.errors + p.rest.non2xx + p.rest.errors),
      ]),
    ),
    '',
    `Both transports on one Warble process of their own, one after the other in every round (alternating which ` +
      `goes first); requests rotate over ${r.users} typical users' tokens (posts.byId: over ${r.posts} posts, no token). ` +
      `Per round: REST ÷ tRPC of the two runs of a round, which ran back to back. Routes: ${r.pairs.map((p) => `${p.trpc.route} vs ${p.rest.route}`).join('; ')}. Warble CPU: the process's ` +
      `user + system time over the run (all threads, /proc) ÷ responses.`,
    '',
    table(
      [
        'output check of a real answer',
        'JSON bytes',
        'schema.parse µs in the server',
        'in a loop',
        'JSON.stringify in a loop',
        'call µs (1 ÷ req/s)',
        'Warble CPU µs/call',
        'check ÷ call',
        'check ÷ CPU',
      ],
      r.checks.map((c) => [
        c.label,
        num(c.bytes),
        num(c.serverUs),
        num(c.loopUs),
        num(c.stringifyUs),
        num(c.callUs),
        num(c.cpuUsPerCall),
        pct(c.shareOfCall),
        pct(c.shareOfCpu),
      ]),
    ),
    '',
    "In the server: every call of the procedure's `schema.parse()` timed inside Warble during the runs above " +
      '(bench/servers/check-timer.ts), the median over its runs both ways; the shares are of this figure. In a loop: ' +
      'the schema the procedure carries (`.output()`), timed in the bench process on an answer sampled from the ' +
      'server (medians of batches of ~10 ms after 300 ms of warm-up, interleaved with JSON.stringify of the same ' +
      "answer; both take turns over 64 copies of it): the check's floor, hot and meeting one schema only. The call's " +
      "figures are the /trpc side of the table above: 1 ÷ req/s is the server's time per call at saturation (Warble " +
      "and PostgreSQL share its cores); Warble's CPU per call is the stricter base, and the goal's.",
    '',
  ];
}

export interface RestOnlyResults extends PhaseOnlyResults {
  rest: RestSummary | null;
}

/** `--only rest`: the phase's section and goals alone, in files of their own. */
export function writeRestOnly(outDir: string, results: RestOnlyResults) {
  const section = results.rest ? restMarkdown(results.rest) : [];
  return writePhaseOnly(outDir, { file: 'rest', title: 'REST' }, results, section, restGoals(results.rest));
}
