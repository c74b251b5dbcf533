// The home phase's goals (issue #17), its section of the Markdown report, its bars in the chart, and
// the files of a run with `--only home` (<UTC time>-home.{json,md,svg}, copied to latest-home.*, so
// that a partial run never replaces the full run's latest.*).
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CreateRun } from './home-create.ts';
import { OPEN_LOAD, PROBE_INTERVAL_MS } from './home-create.ts';
import { grouped } from './args.ts';
import { homeGroupGoal, homeSampleTable } from './home-sample.ts';
import type { HomeSummary } from './home.ts';
import { table, writePhaseOnly, type PhaseOnlyResults } from './markdown.ts';
import type { Goal } from './results.ts';
import { median, num, ratio } from './stats.ts';
import { ratioChart, type Bar } from './svg.ts';
import { percentile } from './timeline-sample.ts';

export const HOME_GOALS = { peer: 0.25, pgbench: 0.8, create: 0.7, lagMs: 1000 };

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–');
const wholeMs = (value: number) => (value === 0 ? '<1' : num(value));
const rpsOf = (h: HomeSummary, id: string) => h.reads.targets.find((t) => t.id === id)?.rps.median ?? NaN;

/** Fan-out lag over runs: every probe post of every run. */
function lagOf(runs: CreateRun[]) {
  const lags = runs.flatMap((run) => run.lag?.lagsMs ?? []);
  return {
    posts: lags.length,
    missing: runs.reduce((sum, run) => sum + (run.lag?.missing ?? 0), 0),
    p50: percentile(lags, 50),
    p99: percentile(lags, 99),
    max: lags.length ? Math.max(...lags) : NaN,
  };
}

const lagText = (lag: ReturnType<typeof lagOf>) =>
  `p99 ${num(lag.p99)} ms (p50 ${num(lag.p50)}, max ${num(lag.max)} ms; ${lag.posts} posts, ${lag.missing} missing)`;

export function homeGoals(h: HomeSummary | null): Goal[] {
  if (!h) return [];
  const goals: Goal[] = [];
  const peer = rpsOf(h, 'home') / rpsOf(h, 'peer');
  goals.push({
    name: 'home: posts.timeline page 1 from home timelines ÷ tRPC hello (peer)',
    measured:
      `${x(peer)} (${num(rpsOf(h, 'home'))} vs ${num(rpsOf(h, 'peer'))} req/s); pull: ` +
      `${x(rpsOf(h, 'pull') / rpsOf(h, 'peer'))}; home ÷ pull ${x(rpsOf(h, 'home') / rpsOf(h, 'pull'))}`,
    goal: `≥ ${HOME_GOALS.peer}×`,
    met: Number.isFinite(peer) ? peer >= HOME_GOALS.peer : null,
  });
  const pg = h.reads.pgbench;
  const efficiency = pg ? rpsOf(h, 'homeBeside') / pg.home.tps.median : NaN;
  goals.push({
    name: 'home: posts.timeline page 1, home, app beside the load² ÷ pgbench (the home read, same users)',
    measured: pg
      ? `${x(efficiency)} (${num(rpsOf(h, 'homeBeside'))} req/s vs ${num(pg.home.tps.median)} tps); pull: ` +
        `${x(rpsOf(h, 'pullBeside') / pg.pull.tps.median)} (${num(rpsOf(h, 'pullBeside'))} vs ${num(pg.pull.tps.median)})`
      : 'not measured',
    goal: `≥ ${HOME_GOALS.pgbench}×`,
    met: pg ? efficiency >= HOME_GOALS.pgbench : null,
    ...(pg ? {} : { note: 'pgbench is not installed' }),
  });
  const names: Record<string, string> = {
    typical: 'typical viewers',
    merged: "followers of merged authors (celebrities')",
    heavy: 'heavy followers',
  };
  for (const group of h.database) {
    const { goal, p99, met } = homeGroupGoal(group);
    goals.push({
      name: `home: database time per page, p99, ${names[group.name] ?? group.name} (pages 1 and ${h.deepPages + 1})`,
      measured: `${num(p99)} ms (pull: ${num(Math.max(group.first.pull.p99, group.deep?.pull.p99 ?? 0))} ms)`,
      goal: `≤ ${goal} ms`,
      met,
    });
  }
  const w = h.writes;
  const drained = [...w.closed.home, ...(w.open?.runs ?? [])].every((run) => run.drainMs !== null);
  const maxDrain = Math.max(...w.closed.home.map((run) => run.drainMs ?? Infinity));
  goals.push({
    name: 'home: posts.create with home timelines and the worker ÷ without (HOME_TIMELINE_CAP=0, JOB_WORKER=false), queue drained',
    measured:
      `${x(w.closed.ratio)} (${num(w.closed.homeRps.median)} vs ${num(w.closed.pullRps.median)} req/s); queue ≤ ` +
      `${num(Math.max(...w.closed.home.map((run) => run.queue?.maxBehind ?? 0)))} log rows, ` +
      (drained ? `drained ≤ ${num(maxDrain)} ms after the load` : 'NOT drained within 120 s'),
    goal: `≥ ${HOME_GOALS.create}×, drained`,
    met: Number.isFinite(w.closed.ratio) ? w.closed.ratio >= HOME_GOALS.create && drained : null,
  });
  if (w.open) {
    const lag = lagOf(w.open.runs);
    goals.push({
      name: `home: fan-out lag, posts.create returned → entry in followers' home timelines, at ${num(w.open.rate)} posts/s (${OPEN_LOAD * 100}% of its maximum, open loop)`,
      measured: lagText(lag),
      goal: `p99 ≤ ${HOME_GOALS.lagMs / 1000} s`,
      met: lag.posts > 0 ? lag.p99 <= HOME_GOALS.lagMs && lag.missing === 0 : null,
    });
  }
  const saturated = lagOf(w.closed.home);
  goals.push({
    name: "home: fan-out lag at posts.create's maximum (closed loop)",
    measured: lagText(saturated),
    goal: `p99 ≤ ${HOME_GOALS.lagMs / 1000} s`,
    met: saturated.posts > 0 ? saturated.p99 <= HOME_GOALS.lagMs && saturated.missing === 0 : null,
  });
  goals.push({
    name: 'home: disk, home timelines at this scale',
    measured:
      `${grouped(h.size.entries)} entries, ${num(h.size.entriesMB)} MB (+ ${num(h.size.timelinesMB)} MB of ` +
      `${grouped(h.size.timelines)} timelines)`,
    goal: 'printed',
    met: true,
  });
  return goals;
}

function createRow(label: string, runs: CreateRun[], base: number): string[] {
  const rps = runs.map((run) => run.rps);
  const sum = (key: 'posts' | 'entries' | 'walBytes') => runs.reduce((total, run) => total + run[key], 0);
  const queues = runs.map((run) => run.queue).filter((q) => q !== null);
  const lag = lagOf(runs);
  return [
    label,
    `${num(median(rps))} (${num(Math.min(...rps))}–${num(Math.max(...rps))})`,
    `${num(median(runs.map((r) => r.p50Ms)))} / ${num(median(runs.map((r) => r.p99Ms)))}`,
    x(ratio(median(rps), base)),
    `${num(median(runs.map((r) => r.warbleCpuUs)))} / ${num(median(runs.map((r) => r.postgresCpuUs)))}`,
    num(sum('walBytes') / sum('posts')),
    runs.some((run) => run.mode === 'home') ? num(sum('entries') / sum('posts')) : '–',
    queues.length
      ? `${num(Math.max(...queues.map((q) => q.maxBehind)))} / ${num(Math.max(...queues.map((q) => q.endBehind)))} / ${num(Math.max(...queues.map((q) => q.maxOldestMs)))} / ${Math.max(...queues.map((q) => q.maxJobs))}`
      : '–',
    runs.some((run) => run.mode === 'home') ? num(median(runs.map((run) => run.jobs))) : '–',
    runs.some((run) => run.mode === 'home')
      ? runs.every((run) => run.drainMs !== null)
        ? num(Math.max(...runs.map((run) => run.drainMs!)))
        : 'not within 120 s'
      : '–',
    lag.posts ? `${num(lag.p50)} / ${num(lag.p99)} / ${num(lag.max)} (${lag.posts}, ${lag.missing} missing)` : '–',
    String(runs.reduce((total, run) => total + run.failed, 0)),
  ];
}

export function homeMarkdown(h: HomeSummary): string[] {
  const { reads, writes: w, size } = h;
  const pg = reads.pgbench;
  const answered = Object.entries(h.answeredBy)
    .map(([kind, count]) => `${count} ${kind === 'page' ? 'by the home read' : kind}`)
    .join(', ');
  const quietLag = lagOf([{ lag: w.quiet } as CreateRun]);
  return [
    '## Home timelines (issue #17)',
    '',
    `HOME_TIMELINE_CAP=${h.settings.cap}, HOME_TIMELINE_MERGE_FOLLOWERS=${h.settings.mergeFollowers}; "pull" is the ` +
      `same Warble with ${Object.entries(h.modeEnv.pull)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}. Requests rotate over ${h.users} typical users (first pages answered: ${answered}).`,
    '',
    table(
      [
        'posts.timeline, closed loop',
        'req/s median (min–max)',
        'p50 ms',
        'p99 ms',
        '× ceiling',
        '× peer',
        'server CPU µs/call',
        'PostgreSQL CPU µs/call',
        'non-2xx',
      ],
      [
        ...reads.targets.map((t) => [
          t.label,
          `${num(t.rps.median)} (${num(t.rps.min)}–${num(t.rps.max)})`,
          wholeMs(t.p50Ms),
          wholeMs(t.p99Ms),
          x(t.ratioCeiling),
          x(t.ratioPeer),
          num(t.serverCpuUs),
          num(t.postgresCpuUs),
          String(t.non2xx + t.errors),
        ]),
        ...(pg
          ? (['home', 'pull'] as const).map((path) => [
              `pgbench, the ${path === 'home' ? 'home read' : "pull query's statements"} (${pg.clients} clients)`,
              `${num(pg[path].tps.median)} (${num(pg[path].tps.min)}–${num(pg[path].tps.max)}) tps`,
              '',
              '',
              x(pg[path].tps.median / rpsOf(h, 'ceiling')),
              x(pg[path].tps.median / rpsOf(h, 'peer')),
              '',
              num(pg[path].postgresCpuUs),
              '',
            ])
          : []),
      ],
    ),
    '',
    `Home ÷ pull: ${x(rpsOf(h, 'home') / rpsOf(h, 'pull'))} (Warble and PostgreSQL on the server cores), ` +
      `${x(rpsOf(h, 'homeBeside') / rpsOf(h, 'pullBeside'))} (app beside the load²). CPU per call: the server ` +
      "process's user + system time over the run (all threads, /proc) ÷ answers; PostgreSQL's: its postmaster and " +
      'every child (backends, background processes), the same way' +
      (pg
        ? `. pgbench replays each path's page-1 statements for the same users, parameters inlined, one script per ` +
          'user: the home read prepared once per connection (`-M prepared`, as the app names it), the pull ' +
          "query's planned on every call (as the ORM sends them)."
        : '.'),
    '',
    homeSampleTable(h.database, h.deepPages),
    '',
    table(
      [
        'posts.create',
        'req/s median (min–max)',
        'p50 / p99 ms',
        "× today's",
        'CPU µs/post Warble / PostgreSQL',
        'WAL B/post',
        'entries/post',
        'queue: rows behind max / at end / oldest ms / jobs waiting',
        'jobs created per run',
        'drained ms after',
        'fan-out lag ms p50 / p99 / max (posts)',
        'failed',
      ],
      [
        createRow("today's: HOME_TIMELINE_CAP=0, JOB_WORKER=false", w.closed.pull, w.closed.pullRps.median),
        createRow('home timelines + worker, closed loop', w.closed.home, w.closed.pullRps.median),
        ...(w.open
          ? [
              createRow(
                `home timelines + worker, ${num(w.open.rate)}/s open loop`,
                w.open.runs,
                w.closed.pullRps.median,
              ),
            ]
          : []),
      ],
    ),
    '',
    `Fan-out lag: posts.create returned → the post in the home timelines of ${h.probe.sampled} of ` +
      `${h.probe.author}'s ${grouped(h.probe.followers)} followers (not merged, about as many followers as the posters on average), ` +
      `which posts every ${PROBE_INTERVAL_MS} ms during each run (in the runs without home timelines too); polled every ${h.probe.pollMs} ms on a connection of its own (resolution ` +
      `~${h.probe.pollMs} ms + one poll, ${num(median(w.closed.home.map((r) => r.lag?.pollQueryMs ?? NaN)))} ms), from ` +
      `a worker thread. Alone (no other load): ${lagText(quietLag)}. Queue: graphile-worker's jobs and the post-log ` +
      `rows after home_fanout_cursor, sampled every ${h.probe.sampleMs} ms. Each run on a fresh Warble process alone ` +
      `on the server cores; its posts and their entries are taken out after it. ${w.posters} posters. CPU and WAL ` +
      'per post: from the start of the load until the fan-out had drained, ÷ posts written (the probe’s included).',
    '',
    table(
      ['disk', 'rows', 'MB'],
      [
        ['home_timeline_entries (table)', grouped(size.entries), num(size.entriesHeapMB)],
        ['home_timeline_entries (primary key)', '', num(size.entriesIndexMB)],
        ['home_timelines', grouped(size.timelines), num(size.timelinesMB)],
        ['home_merged_authors', grouped(size.mergedAuthors), ''],
        ['for scale: posts, follows (indexes included)', '', `${num(size.postsMB)}, ${num(size.followsMB)}`],
      ],
    ),
    '',
    `The runs' trims raised the floor of ${grouped(h.floorsRaised)} home timelines (their posts taken out, those ` +
      'would hold fewer entries than the cap): the phase puts back the copy of the home timelines it took at its start.',
    '',
  ];
}

/** The phase's throughputs as bars of the ratio chart (posts.create against the reads' yardsticks). */
export function homeBars(h: HomeSummary, prefix = ''): Bar[] {
  const ceiling = rpsOf(h, 'ceiling');
  const peer = rpsOf(h, 'peer');
  const bar = (label: string, rps: number): Bar => ({
    label: `${prefix}${label}`,
    ratioCeiling: ratio(rps, ceiling),
    ratioPeer: ratio(rps, peer),
  });
  const pg = h.reads.pgbench;
  return [
    ...h.reads.targets.map((t) => bar(t.label.replace('posts.timeline, page 1, ', 'timeline p1, '), t.rps.median)),
    ...(pg ? [bar('pgbench, home read', pg.home.tps.median), bar('pgbench, pull statements', pg.pull.tps.median)] : []),
    bar('posts.create, pull, no worker', h.writes.closed.pullRps.median),
    bar('posts.create, home + worker', h.writes.closed.homeRps.median),
  ];
}

export interface HomeOnlyResults extends PhaseOnlyResults {
  home: HomeSummary | null;
}

/** `--only home`: the phase's section, goals and chart alone, in files of their own. */
export async function writeHomeOnly(outDir: string, results: HomeOnlyResults) {
  const section = results.home ? homeMarkdown(results.home) : [];
  const written = await writePhaseOnly(
    outDir,
    { file: 'home', title: 'home timelines' },
    results,
    section,
    homeGoals(results.home),
  );
  if (!results.home) return written;
  const svg = ratioChart(
    'Warble home timelines: throughput relative to the ceiling and the peer (log scale)',
    `${results.startedAt}, git ${results.meta.git.sha?.slice(0, 12) ?? 'unknown'}` +
      `${results.meta.git.dirty ? ' (uncommitted changes)' : ''}; median of ${String(results.options.rounds)} rounds`,
    homeBars(results.home),
  );
  const file = written.files[0]!.replace(/\.json$/, '.svg');
  await writeFile(file, svg);
  await copyFile(file, path.join(outDir, 'latest-home.svg'));
  return { ...written, files: [...written.files, file] };
}
