// bench:timeline's plans of the home read (server/timelines/home-read.ts, recorded as it runs) beside
// the pull query's for the same viewer and page: EXPLAIN (ANALYZE, BUFFERS) a few times each, and
// what the plan read (entries, posts of merged authors and the viewer's own).
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../../server/pagination/cursor.ts';
import { grouped } from './args.ts';
import { table } from './markdown.ts';
import { explain, explainJson, kind, nodes, type Explained, type PlanNode } from './plans.ts';
import { deepPosition, ms } from './timeline-sample.ts';
import { recordHomePage, recordTimeline, type Statement } from './timeline-sql.ts';
import type { Viewer } from './viewers.ts';

const ENTRIES_INDEX = 'home_timeline_entries_pkey';
const AUTHOR_INDEX = 'posts_author_live_recent';

export interface HomeViewer extends Viewer {
  merged: number;
  role: string;
}

/** Adds each viewer's number of followed merged authors, and the viewer who follows the most of them. */
export async function homeViewers(em: EntityManager, viewers: Viewer[]): Promise<HomeViewer[]> {
  const connection = em.getConnection();
  const mergedOf = async (id: string) =>
    Number(
      (
        await connection.execute<{ n: string }[]>(
          `select count(*) as n from follows f join home_merged_authors m on m.author_id = f.followee_id
           where f.follower_id = ?`,
          [id],
        )
      )[0]?.n ?? 0,
    );
  const result: HomeViewer[] = [];
  for (const [i, viewer] of viewers.entries())
    result.push({ ...viewer, merged: await mergedOf(viewer.id), role: i === 0 ? 'typical' : 'heavy' });
  const [top] = await connection.execute<{ id: string; username: string; follows: string; merged: string }[]>(
    `select u.id, u.username, count(*) as follows, count(m.author_id) as merged
     from follows f join users u on u.id = f.follower_id left join home_merged_authors m on m.author_id = f.followee_id
     group by u.id, u.username having count(*) < 1000
     order by count(m.author_id) desc, u.username limit 1`,
  );
  if (top && Number(top.merged) > 0 && !viewers.some((v) => v.id === top.id)) {
    result.splice(1, 0, {
      id: top.id,
      username: top.username,
      follows: Number(top.follows),
      merged: Number(top.merged),
      role: 'merged',
    });
  }
  return result;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const sum = <T>(items: T[], value: (item: T) => number) => items.reduce((total, item) => total + value(item), 0);

async function analyse(em: EntityManager, statements: Statement[], runs: number) {
  const all: Explained[][] = [];
  for (let run = 0; run < runs; run++) {
    const plans: Explained[] = [];
    for (const statement of statements) plans.push(await explainJson(em, statement, 'analyze'));
    all.push(plans);
  }
  const exec = all.map((plans) => sum(plans, (plan) => plan['Execution Time']));
  const last = all.at(-1)!;
  return {
    exec: `${ms(median(exec))} (${ms(Math.min(...exec))}–${ms(Math.max(...exec))})`,
    median: median(exec),
    hits: sum(last, (plan) => plan.Plan['Shared Hit Blocks'] ?? 0),
    reads: sum(last, (plan) => plan.Plan['Shared Read Blocks'] ?? 0),
    nodes: last.flatMap((plan) => [...nodes(plan.Plan)]),
  };
}

/** What the home read's plan read: entries, and posts by author (own and merged authors'). */
function readByHome(all: PlanNode[]): string {
  const on = (index: string) => all.filter((node) => node['Index Name'] === index);
  const entries = on(ENTRIES_INDEX);
  const byAuthor = on(AUTHOR_INDEX);
  const rows = (list: PlanNode[]) => sum(list, (node) => (node['Actual Rows'] ?? 0) * (node['Actual Loops'] ?? 0));
  const scanKinds = [...new Set(entries.map((node) => node['Node Type']))].join(', ');
  return (
    `entries: ${grouped(rows(entries))} (${scanKinds || 'not read'}, ${grouped(sum(entries, (n) => n['Heap Fetches'] ?? 0))} heap fetches); ` +
    `posts by author: ${grouped(sum(byAuthor, (n) => n['Actual Loops'] ?? 0))} scans, ${grouped(rows(byAuthor))} entries`
  );
}

/**
 * The table: per viewer, page 1 and the page after `pages` pages, the home read beside the pull
 * query, `runs` runs each. With `printPlans`, the text plan of the home read of each page.
 */
export async function homePlanTable(
  em: EntityManager,
  viewers: HomeViewer[],
  options: { runs: number; pages: number; printPlans: boolean; write: (text: string) => void },
): Promise<string> {
  const rows: string[][] = [];
  for (const viewer of viewers) {
    const after = await deepPosition(em, viewer.id, options.pages);
    const cases: [string, Position | undefined][] = [['1', undefined]];
    if (after) cases.push([String(options.pages + 1), after]);
    for (const [page, position] of cases) {
      const { statement, page: answer } = await recordHomePage(em, viewer.id, position);
      const { statements: pull } = await recordTimeline(em, viewer.id, position);
      const home = await analyse(em, [statement], options.runs);
      const pulled = await analyse(em, pull, options.runs);
      rows.push([
        `${viewer.role} ${viewer.username}`,
        grouped(viewer.follows),
        grouped(viewer.merged),
        page,
        answer.kind === 'page' ? `home (${answer.posts.length} rows)` : `${answer.kind}: pull`,
        home.exec,
        pulled.exec,
        (home.median / pulled.median).toFixed(2),
        `${grouped(home.hits)} / ${grouped(pulled.hits)}`,
        grouped(home.reads + pulled.reads),
        readByHome(home.nodes),
        pull.map(kind).join(', '),
      ]);
      if (options.printPlans) {
        const text = await explain(em, statement, 'text');
        options.write(
          `\n-- ${viewer.username} page ${page}, home read\n${text.map((row) => (row as Record<string, string>)['QUERY PLAN']).join('\n')}\n`,
        );
      }
    }
  }
  return table(
    [
      'viewer',
      'follows',
      'merged',
      'page',
      'answered by',
      'home read ms, median (min–max)',
      'pull ms',
      'home ÷ pull',
      'shared hits home / pull',
      'read',
      'what the home read read',
      'pull statements',
    ],
    rows,
  );
}
