// npm run bench:timeline -- [--user NAME]... [--runs 5] [--pages 20] [--home-pages 10] [--plans]
//
// EXPLAIN (ANALYZE, BUFFERS) of the timeline's statements, exactly as the API sends them: they
// are recorded from server/posts/post-queries.ts timelinePosts as it runs (bench/lib/timeline-sql.ts),
// so this check cannot drift from the code it checks. For each user
// it explains the first page and a deep page (the one after --pages pages, reached by following
// real cursors), --runs times each, and prints one table. Exits 1 if any plan reads posts with a
// sequential scan. Without --user it picks a typical user (median follows) and the user who
// follows the most accounts. Then the same for home timelines (issue #17): the home read
// (server/timelines/home-read.ts, recorded as it runs) beside the pull query, for the same viewers
// and one who follows many authors merged at read time, page 1 and a page within the cap; and both
// paths' database time sampled over many viewers. See docs/benchmarks.md.
import type { EntityManager } from '@mikro-orm/postgresql';
import { runWithDatabase } from '../server/commands/run-with-database.ts';
import type { Position } from '../server/pagination/cursor.ts';
import { timelinePosts } from '../server/posts/post-queries.ts';
import { flags, grouped, intOption, parseOrExit } from './lib/args.ts';
import {
  describe,
  explain,
  explainJson,
  isPkLookup,
  isSeqScanOfPosts,
  kind,
  nodes,
  type Explained,
  type PlanNode,
} from './lib/plans.ts';
import { HOME_DEEP_PAGES, homeSampleTable, sampleHomeTimelines } from './lib/home-sample.ts';
import { homePlanTable, homeViewers } from './lib/home-plans.ts';
import { deepPosition, ms, sampleTable, sampleTimelines } from './lib/timeline-sample.ts';
import { namedViewers, pickViewers, type Viewer } from './lib/viewers.ts';
import { PAGE_SIZE, recordTimeline } from './lib/timeline-sql.ts';

// Per followed author, or newest-first for viewers who follow thousands (post-queries.ts).
const TIMELINE_INDEXES = ['posts_author_live_recent', 'posts_live_recent'];

const HELP = `Usage: npm run bench:timeline -- [options]

  --user NAME   a user whose timeline to explain (repeatable); default: a typical user (median
                number of follows) and the user who follows the most accounts
  --runs N      EXPLAIN ANALYZE runs per query (default 5)
  --pages N     how deep the deep page is: the page after N pages of ${PAGE_SIZE} (default 20)
  --home-pages N  the home timeline's deeper page: the page after N pages (default ${HOME_DEEP_PAGES}; the
                home timeline holds HOME_TIMELINE_CAP entries, 400 by default: 20 pages)
  --plans       also print the text plan of the last run of each query
  --sample N    also time the first and the deep page of N typical viewers, and of every power
                viewer (1,000+ follows) cycled N times, for percentiles (default 100; 0: skip);
                for home timelines, N typical viewers, the N following the most merged authors and
                every heavy follower, both paths
  --help        show this text
`;

const options = parseOrExit(() => {
  const values = flags(
    {
      user: { type: 'string', multiple: true },
      runs: { type: 'string' },
      pages: { type: 'string' },
      'home-pages': { type: 'string' },
      plans: { type: 'boolean', default: false },
      sample: { type: 'string' },
    },
    HELP,
  );
  return {
    users: values.user ?? [],
    runs: intOption('runs', values.runs, 5, 1, 100),
    pages: intOption('pages', values.pages, 20, 1, 10_000),
    homePages: intOption('home-pages', values['home-pages'], HOME_DEEP_PAGES, 1, 10_000),
    plans: values.plans,
    sample: intOption('sample', values.sample, 100, 0, 100_000),
  };
}, HELP);

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

interface Row {
  user: string;
  follows: string;
  page: string;
  rows: string;
  exec: string;
  wall: string;
  planning: string;
  buffers: string;
  firstRead: string;
  top: string;
  cost: string;
  statements: string;
  indexOnly: string;
}

const COLUMNS: [keyof Row, string][] = [
  ['user', 'user'],
  ['follows', 'follows'],
  ['page', 'page'],
  ['rows', 'rows'],
  ['exec', 'execution ms, median (min–max)'],
  ['wall', 'query ms¹'],
  ['planning', 'planning ms'],
  ['buffers', 'shared hit / read²'],
  ['firstRead', 'read, 1st run'],
  ['top', 'top plan node'],
  ['cost', 'est. cost³'],
  ['statements', 'statements⁴'],
  ['indexOnly', `posts via Index Only Scan on ${TIMELINE_INDEXES.join(' or ')}`],
];

function markdownTable(rows: Row[]): string {
  const widths = COLUMNS.map(([key, title]) => Math.max(title.length, ...rows.map((row) => row[key].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(COLUMNS.map(([, title]) => title)),
    line(widths.map((width) => '-'.repeat(width))),
    ...rows.map((row) => line(COLUMNS.map(([key]) => row[key]))),
  ].join('\n');
}

await runWithDatabase(async (database) => {
  const em = database.orm.em.fork() as EntityManager;
  const connection = em.getConnection();
  const setting = async (name: string) =>
    (await connection.execute<Record<string, string>[]>(`show ${name}`))[0]?.[name] ?? '?';

  const viewers = options.users.length ? await namedViewers(em, options.users) : await pickViewers(em);
  const [version] = await connection.execute<{ version: string }[]>('select version()');
  const [sizes] = await connection.execute<{ posts: string; follows: string; users: string }[]>(
    `select (select count(*) from posts) as posts, (select count(*) from follows) as follows,
            (select count(*) from users) as users`,
  );
  const jit = await setting('jit');
  const jitAboveCost = await setting('jit_above_cost');
  process.stdout.write(
    [
      `${version?.version.split(' on ')[0]}; shared_buffers ${await setting('shared_buffers')}, ` +
        `work_mem ${await setting('work_mem')}, jit ${jit} (jit_above_cost ${jitAboveCost})`,
      `data: ${grouped(Number(sizes?.users))} users, ${grouped(Number(sizes?.posts))} posts, ` +
        `${grouped(Number(sizes?.follows))} follows; ${options.runs} runs per query, page size ${PAGE_SIZE}`,
      '',
    ].join('\n'),
  );

  const table: Row[] = [];
  const seqScans: string[] = [];
  let jitPlans = 0;
  let maxCost = 0;
  for (const viewer of viewers) {
    // The first page is explained first, before anything else has read this user's authors, so
    // its first run shows what a cold shared_buffers costs (right after an embedded server starts).
    const cases: { page: string; after: () => Promise<Position | undefined> }[] = [
      { page: '1', after: () => Promise.resolve(undefined) },
      { page: String(options.pages + 1), after: () => deepOrNote(em, viewer) },
    ];
    for (const { page, after: position } of cases) {
      const after = await position();
      if (page !== '1' && !after) continue;
      // Run once as the API would (bounded by the statement timeout), to learn which statements
      // this page takes: heavy followers' pages take other ones (see timelinePosts).
      const { statements } = await recordTimeline(em, viewer.id, after);
      const label = `${viewer.username} page ${page}`;
      const planned = await Promise.all(statements.map((statement) => explainJson(em, statement, 'plan')));
      maxCost = Math.max(maxCost, ...planned.map((plan) => plan.Plan['Total Cost'] ?? 0));
      const scans = planned.flatMap((plan) => [...nodes(plan.Plan)]).filter(isSeqScanOfPosts);
      if (scans.length) {
        // Not analysed: a sequential scan per followed author could take minutes.
        seqScans.push(label);
        table.push({
          user: viewer.username,
          follows: grouped(viewer.follows),
          page,
          rows: '-',
          exec: 'not run',
          wall: '-',
          planning: '-',
          buffers: '-',
          firstRead: '-',
          top: planned.at(-1)!.Plan['Node Type'],
          cost: grouped(sum(planned, (plan) => plan.Plan['Total Cost'] ?? 0)),
          statements: statements.map(kind).join(', '),
          indexOnly: `NO: ${scans.length} Seq Scan on posts`,
        });
        break; // this user's deep page would be reached through the same plan, just as slowly
      }
      // runs[i] holds run i's plan of each statement, in order.
      const runs: Explained[][] = [];
      for (let run = 0; run < options.runs; run++) {
        const plans: Explained[] = [];
        for (const statement of statements) plans.push(await explainJson(em, statement, 'analyze'));
        runs.push(plans);
      }
      // The same page as the API reads it, without EXPLAIN's instrumentation, timed from here.
      const wall: number[] = [];
      for (let run = 0; run < options.runs; run++) {
        const started = performance.now();
        await timelinePosts(em, viewer.id, after, PAGE_SIZE + 1);
        wall.push(performance.now() - started);
      }

      const last = runs.at(-1)!;
      const all = last.flatMap((plan) => [...nodes(plan.Plan)]);
      if (runs.flat().some((plan) => [...nodes(plan.Plan)].some(isSeqScanOfPosts))) seqScans.push(label);
      jitPlans += runs.flat().filter((plan) => plan.JIT).length;
      const isTimelineIndex = (node: PlanNode) => TIMELINE_INDEXES.includes(node['Index Name'] ?? '');
      const indexOnly = all.filter((node) => node['Node Type'] === 'Index Only Scan' && isTimelineIndex(node));
      const otherPostsReads = all.filter(
        (node) => node['Relation Name'] === 'posts' && !isTimelineIndex(node) && !isPkLookup(node),
      );
      const exec = runs.map((plans) => sum(plans, (plan) => plan['Execution Time']));
      const pagePlan = last.at(-1)!.Plan;
      const sortMethod = pagePlan['Sort Method'] ? ` (${pagePlan['Sort Method']})` : '';
      table.push({
        user: viewer.username,
        follows: grouped(viewer.follows),
        page,
        rows: String(pagePlan['Actual Rows'] ?? '?'),
        exec: `${ms(median(exec))} (${ms(Math.min(...exec))}–${ms(Math.max(...exec))})`,
        wall: ms(median(wall)),
        planning: ms(median(runs.map((plans) => sum(plans, (plan) => plan['Planning Time'])))),
        buffers: `${grouped(sum(last, (plan) => plan.Plan['Shared Hit Blocks'] ?? 0))} / ${grouped(sum(last, (plan) => plan.Plan['Shared Read Blocks'] ?? 0))}`,
        firstRead: grouped(sum(runs[0]!, (plan) => plan.Plan['Shared Read Blocks'] ?? 0)),
        top: `${pagePlan['Node Type']}${sortMethod}`,
        cost: grouped(sum(last, (plan) => plan.Plan['Total Cost'] ?? 0)),
        statements: statements.map(kind).join(', '),
        indexOnly: indexOnly.length
          ? `yes: ${grouped(sum(indexOnly, (node) => node['Actual Loops'] ?? 0))} scans, ` +
            `${grouped(sum(indexOnly, (node) => (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 0)))} entries, ` +
            `${grouped(sum(indexOnly, (node) => node['Heap Fetches'] ?? 0))} heap fetches` +
            (otherPostsReads.length ? `; also ${otherPostsReads.map(describe).join(', ')}` : '')
          : `NO: ${all
              .filter((node) => node['Relation Name'] === 'posts')
              .map(describe)
              .join(', ')}`,
      });
      if (options.plans) {
        for (const statement of statements) {
          const text = await explain(em, statement, 'text');
          process.stdout.write(
            `\n-- ${label}, ${kind(statement)}\n${text.map((row) => (row as Record<string, string>)['QUERY PLAN']).join('\n')}\n`,
          );
        }
      }
    }
  }

  process.stdout.write(`\n${markdownTable(table)}\n\n`);
  process.stdout.write(
    [
      '¹ the query as the API sends it (no EXPLAIN), timed in this process: round trip included.',
      '² buffers of the last run: hits are pages found in shared_buffers; reads came from the OS (page cache or disk).',
      `³ the planner's estimate, all statements; JIT compiles plans above jit_above_cost (${jitAboveCost}).`,
      '⁴ the statements of this page, in order (post-queries.ts); times, buffers and costs are their sums.',
      '',
    ].join('\n'),
  );

  if (options.sample > 0) {
    process.stderr.write(`sampling ${options.sample} typical and power viewers' timelines...\n`);
    process.stdout.write(`\n${sampleTable(await sampleTimelines(em, options.sample, options.pages), options.pages)}\n`);
  }

  const [home] = await connection.execute<{ built: string; entries: string; merged: string }[]>(
    `select (select count(*) from home_timelines where built_at is not null) as built,
            (select count(*) from home_timeline_entries) as entries,
            (select count(*) from home_merged_authors) as merged`,
  );
  process.stdout.write(
    `\n## Home timelines\n\n${grouped(Number(home?.built))} built, ${grouped(Number(home?.entries))} entries, ` +
      `${grouped(Number(home?.merged))} authors merged at read time; ${options.runs} runs per query\n\n`,
  );
  if (Number(home?.built) === 0) {
    process.stderr.write('no home timeline is built: npm run bench:seed -- --timelines builds them\n');
  } else {
    const homeTable = await homePlanTable(em, await homeViewers(em, viewers), {
      runs: options.runs,
      pages: options.homePages,
      printPlans: options.plans,
      write: (text) => process.stdout.write(text),
    });
    process.stdout.write(`${homeTable}\n`);
    if (options.sample > 0) {
      process.stderr.write(`sampling ${options.sample} pages per group on both paths...\n`);
      const groups = await sampleHomeTimelines(em, options.sample, options.homePages);
      process.stdout.write(`\n${homeSampleTable(groups, options.homePages)}\n`);
    }
  }

  if (jit === 'on') {
    const used = jitPlans ? `JIT compiled ${jitPlans} of the runs above` : 'no run above was JIT compiled';
    process.stdout.write(
      `\nRecommendation: jit is on (${used}; highest estimated cost ${grouped(maxCost)}, jit_above_cost ` +
        `${jitAboveCost}). A timeline page is a short OLTP query: once its estimate passes jit_above_cost (the ` +
        `estimate grows with the number of accounts followed), compiling costs tens of milliseconds, more than ` +
        `the query. Turn it off for Warble's database: ALTER DATABASE <name> SET jit = off (or jit = off in ` +
        `postgresql.conf).\n`,
    );
  }
  if (seqScans.length) {
    process.stderr.write(
      `\n*** FAIL: a sequential scan of posts in the timeline plan of ${seqScans.join(', ')} ***\n` +
        `*** The timeline must read posts through ${TIMELINE_INDEXES.join(' or ')}; see docs/benchmarks.md. ***\n`,
    );
    process.exitCode = 1;
  }
});

function sum<T>(items: T[], value: (item: T) => number): number {
  return items.reduce((total, item) => total + value(item), 0);
}

async function deepOrNote(em: EntityManager, viewer: Viewer): Promise<Position | undefined> {
  const after = await deepPosition(em, viewer.id, options.pages);
  if (!after)
    process.stderr.write(`${viewer.username}: the timeline ends within ${options.pages} pages; no deep page\n`);
  return after;
}
