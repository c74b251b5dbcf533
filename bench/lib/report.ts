// Turns a run's results into the goals' verdicts, a Markdown report and the files under --out:
// <UTC timestamp>.{json,md,svg}, copied to latest.{json,md,svg}.
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FLOOD_GOAL, floodGoal, floodMarkdown } from './flood-report.ts';
import { homeBars, homeGoals, homeMarkdown } from './home-report.ts';
import { realtimeGoals, realtimeMarkdown } from './realtime-report.ts';
import { restGoals, restMarkdown } from './rest-report.ts';
import { mark, sourceOf, table } from './markdown.ts';
import type { Goal, Results } from './results.ts';
import { num } from './stats.ts';
import { ratioChart } from './svg.ts';

export const GOALS = { authTax: 0.9, appEfficiency: 0.8, logins: 0.9, storm: 1.2, flood: FLOOD_GOAL, rssMB: 150 };

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–');
const pct = (value: number) => (Number.isFinite(value) ? `${Math.round(value * 100)}%` : '–');
// autocannon records whole milliseconds.
const wholeMs = (value: number) => (value === 0 ? '<1' : num(value));

export function evaluateGoals(results: Omit<Results, 'goals'>): Goal[] {
  const closed = (id: string) => results.closedLoop.find((summary) => summary.id === id);
  const rps = (id: string) => closed(id)?.rps.median ?? NaN;
  const goals: Goal[] = [];

  const authTax = rps('noopAuthed') / rps('noop');
  goals.push({
    name: 'auth tax: bench.noopAuthed ÷ bench.noop (req/s)',
    measured: `${x(authTax)} (${num(rps('noopAuthed'))} vs ${num(rps('noop'))} req/s)`,
    goal: `≥ ${GOALS.authTax}×`,
    met: Number.isFinite(authTax) ? authTax >= GOALS.authTax : null,
  });

  const pg = results.pgbench;
  const efficiency = pg ? rps('timelineBeside') / pg.tps.median : NaN;
  goals.push({
    name: 'app efficiency: posts.timeline page 1 (app beside the load²) ÷ pgbench (same SQL, same users)',
    measured: pg
      ? `${x(efficiency)} (${num(rps('timelineBeside'))} req/s vs ${num(pg.tps.median)} tps)`
      : 'not measured',
    goal: `≥ ${GOALS.appEfficiency}×`,
    met: pg ? efficiency >= GOALS.appEfficiency : null,
    ...(pg ? {} : { note: 'pgbench is not installed' }),
  });

  const { bcrypt } = results;
  const logins = rps('login') / bcrypt.expectedLoginsPerSecond;
  goals.push({
    name: `logins/s at cost ${bcrypt.cost} ÷ (cores ÷ hash time)`,
    measured:
      `${pct(logins)} (${num(rps('login'))}/s vs ${bcrypt.serverCores} core(s) ÷ ${num(bcrypt.medianMs)} ms = ` +
      `${num(bcrypt.expectedLoginsPerSecond)}/s)`,
    goal: `≥ ${pct(GOALS.logins)}`,
    met: Number.isFinite(logins) ? logins >= GOALS.logins : null,
  });

  const storm = results.storm;
  goals.push({
    name: `timeline p99 during ${storm?.loginRate ?? 5} logins/s ÷ idle (open loop)`,
    measured: storm
      ? `${x(storm.ratio)} (${num(storm.stormP99Ms)} vs ${num(storm.idleP99Ms)} ms at ${num(storm.rate)} req/s)`
      : 'not measured',
    goal: `≤ ${GOALS.storm}×`,
    met: storm && Number.isFinite(storm.ratio) ? storm.ratio <= GOALS.storm : null,
  });

  goals.push(
    floodGoal(results.flood),
    floodGoal(results.floodFairShare, true),
    ...homeGoals(results.home),
    ...restGoals(results.rest),
    ...realtimeGoals(results.realtime),
  );

  const rss = results.rss.maxMB;
  const idle = results.rss.idleMB;
  goals.push({
    name: 'Warble process RSS under load (max)',
    measured:
      rss === null
        ? 'not measured'
        : `${num(rss)} MB (right after start: Warble ${num(idle.warble)}, peer ${num(idle.peer)}, ceiling ${num(idle.ceiling)} MB)`,
    goal: `< ${GOALS.rssMB} MB`,
    met: rss === null ? null : rss < GOALS.rssMB,
    ...(rss === null ? { note: '/proc is not available' } : {}),
  });
  return goals;
}

export function renderMarkdown(results: Results): string {
  const { meta, options } = results;
  const v = meta.versions;
  const sha = sourceOf(meta);
  const lines = [
    `# Warble benchmark ${results.startedAt}`,
    '',
    `- source: git ${sha}; Node ${v.node}, PostgreSQL ${v.postgresql}, fastify ${v.fastify}, @trpc/server ` +
      `${v['@trpc/server']}, @mikro-orm/core ${v['@mikro-orm/core']}, pg ${v.pg}`,
    `- machine: ${meta.machine.cpus} × ${meta.machine.cpuModel}, ${meta.machine.memoryGB} GB; ${results.pinning.note}`,
    `- method: ${String(options.rounds)} interleaved rounds, ${String(options.duration)} s per run, ` +
      `${String(options.connections)} connections (logins: ${String(options.loginConnections)}); medians over rounds`,
    `- data: ${results.database.source}; ${num(results.database.users)} users, ${num(results.database.posts)} posts, ` +
      `${num(results.database.follows)} follows; ${results.fixtures.users} typical users (median ` +
      `${results.fixtures.medianFollows} follows), each with its own token`,
    `- Warble: ${Object.entries(results.warbleEnv)
      .map(([key, value]) => `${key}=${value}`)
      .join(' ')}`,
    '',
    '## Throughput (closed loop)',
    '',
    table(
      ['target', 'req/s median (min–max)', 'p50 ms', 'p99 ms', '× ceiling', '× peer', 'non-2xx'],
      results.closedLoop.map((s) => [
        s.label,
        `${num(s.rps.median)} (${num(s.rps.min)}–${num(s.rps.max)})`,
        wholeMs(s.p50Ms),
        wholeMs(s.p99Ms),
        x(s.ratioCeiling),
        x(s.ratioPeer),
        String(s.non2xx + s.errors),
      ]),
    ),
    '',
  ];
  if (results.pgbench) {
    const pg = results.pgbench;
    lines.push(
      `pgbench, the timeline's SQL for the same users: ${num(pg.tps.median)} tps (${num(pg.tps.min)}–${num(pg.tps.max)}), ` +
        `${pg.clients} clients.`,
      '',
    );
  }
  lines.push(
    '## Latency at fixed rates (open loop, from the intended send time)',
    '',
    table(
      ['target', 'load', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'generator lag p99 ms', 'errors'],
      results.openLoop.map((s) => [
        s.label,
        pct(s.load),
        num(s.rate),
        num(s.p50Ms),
        num(s.p99Ms),
        num(s.maxMs),
        `${num(s.sendLagP99Ms)}${s.generatorBound ? ' ⚠' : ''}`,
        String(s.non2xx + s.errors),
      ]),
    ),
    '',
  );
  if (results.storm) {
    const s = results.storm;
    lines.push(
      `Login storm: posts.timeline at ${num(s.rate)} req/s has p99 ${num(s.idleP99Ms)} ms alone and ` +
        `${num(s.stormP99Ms)} ms while ${s.loginRate} logins/s run (${s.loginsOk} logins answered, p99 ${num(s.loginP99Ms)} ms).`,
      '',
    );
  }
  for (const flood of [results.flood, results.floodFairShare]) if (flood) lines.push(...floodMarkdown(flood));
  if (results.home) lines.push(...homeMarkdown(results.home));
  if (results.rest) lines.push(...restMarkdown(results.rest));
  if (results.realtime) lines.push(...realtimeMarkdown(results.realtime));
  lines.push(
    '## Goals',
    '',
    table(
      ['goal', 'measured', 'goal', 'met'],
      results.goals.map((g) => [g.name + (g.note ? ` (${g.note})` : ''), g.measured, g.goal, mark(g.met)]),
    ),
    '',
  );
  const notes = [...results.notes, ...derivedNotes(results)];
  lines.push('## Notes', '', ...notes.map((note) => `- ${note}`), '');
  return lines.join('\n');
}

function derivedNotes(results: Results): string[] {
  const notes: string[] = [];
  for (const s of results.closedLoop) {
    if (s.non2xx || s.errors)
      notes.push(`**${s.label}: ${s.non2xx} non-2xx responses, ${s.errors} errors** (expected none)`);
  }
  for (const s of results.openLoop) {
    if (s.non2xx || s.errors) notes.push(`**open loop, ${s.label}: ${s.non2xx} non-2xx, ${s.errors} errors**`);
  }
  if (results.openLoop.some((s) => s.generatorBound)) {
    notes.push(
      '⚠ the open-loop generator (node:http, on one core) sent late (p99 over 10 ms, or over 1 ms and a quarter ' +
        'of the p99 it measured) or below the rate: its own delay is part of those latencies, an upper bound',
    );
  }
  notes.push(
    "² a second Warble process pinned to the load generator's core(s), so that PostgreSQL has its core(s) to " +
      'itself, as when pgbench (whose client also runs beside the load) measures the same SQL',
  );
  if (results.pgbench) {
    notes.push(
      `pgbench: ${results.pgbench.version}, ${results.pgbench.clients} clients, -j 1, one script per user; ` +
        `Warble's pool holds ${results.database.poolMax} connections`,
    );
  }
  notes.push("closed-loop latencies are autocannon's, in whole milliseconds, at saturation (coordinated omission)");
  return notes;
}

export async function writeReport(outDir: string, results: Results): Promise<{ markdown: string; files: string[] }> {
  await mkdir(outDir, { recursive: true });
  const stamp = results.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');
  const markdown = renderMarkdown(results);
  const svg = ratioChart(
    'Warble: throughput relative to the ceiling and the peer (log scale)',
    `${results.startedAt}, git ${results.meta.git.sha?.slice(0, 12) ?? 'unknown'}` +
      `${results.meta.git.dirty ? ' (uncommitted changes)' : ''}; median req/s of ${String(results.options.rounds)} rounds`,
    [
      ...results.closedLoop.map((s) => ({ label: s.label, ratioCeiling: s.ratioCeiling, ratioPeer: s.ratioPeer })),
      ...(results.home ? homeBars(results.home, 'home: ') : []),
    ],
  );
  const contents: [string, string][] = [
    ['json', `${JSON.stringify(results, null, 2)}\n`],
    ['md', markdown],
    ['svg', svg],
  ];
  const files: string[] = [];
  for (const [extension, text] of contents) {
    const file = path.join(outDir, `${stamp}.${extension}`);
    await writeFile(file, text);
    await copyFile(file, path.join(outDir, `latest.${extension}`));
    files.push(file);
  }
  return { markdown, files };
}
