// Database time of a timeline page on both paths, across many viewers, for percentiles (issue #17):
// the home read (server/timelines/home-read.ts, recorded as it runs, plus the pull query after it
// when it cannot answer, as posts.timeline does) beside the pull query alone (timelinePosts), the
// first page and a deeper page of the same viewer. Used by bench:timeline and by bench's home phase.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Position } from '../../server/pagination/cursor.ts';
import { grouped } from './args.ts';
import { table } from './markdown.ts';
import { deepPosition, executionMs, ms, summary, type Percentiles } from './timeline-sample.ts';
import { pageStatements, recordTimeline } from './timeline-sql.ts';

/** Issue #17's goals for the database time of a home timeline page, p99. */
export const HOME_GOAL_P99_MS: Record<string, number> = { typical: 0.5, merged: 2, heavy: 2 };
/** The deeper page: after this many pages of 20, well within a home timeline's 400 entries. */
export const HOME_DEEP_PAGES = 10;

export interface PathTimes {
  home: Percentiles;
  pull: Percentiles;
  /** Samples whose page the home read could not answer (its time then includes the pull query's). */
  fallbacks: number;
  samples: number;
}

export interface HomeSampleGroup {
  name: string;
  /** How the viewers were chosen. */
  who: string;
  viewers: number;
  first: PathTimes;
  /** null when no viewer of the group has that many pages. */
  deep: PathTimes | null;
}

interface ViewerRow {
  id: string;
  follows: number;
  merged: number;
  kind: string;
}

/**
 * Typical viewers (a random `count` of those whose number of follows lies between the 25th and 75th
 * percentile), followers of merged authors (the `count` who follow the most authors merged at read
 * time, among those following fewer than 1,000) and heavy followers (everyone following 1,000 or more).
 */
export async function homeViewerGroups(em: EntityManager, count: number) {
  const rows = await em.getConnection().execute<ViewerRow[]>(
    `with counts as (
       select f.follower_id as id, count(*)::int as follows, count(m.author_id)::int as merged
       from follows f left join home_merged_authors m on m.author_id = f.followee_id
       group by f.follower_id
     ), bounds as (
       select percentile_disc(0.25) within group (order by follows) as low,
              percentile_disc(0.75) within group (order by follows) as high from counts
     )
     (select c.id, c.follows, c.merged, 'typical' as kind from counts c, bounds b
      where c.follows between b.low and b.high order by random() limit ?)
     union all
     (select id, follows, merged, 'merged' from counts where follows < 1000 order by merged desc, random() limit ?)
     union all
     (select id, follows, merged, 'heavy' from counts where follows >= 1000 order by follows desc)`,
    [count, count],
  );
  const of = (kind: string) => rows.filter((row) => row.kind === kind);
  const range = (list: ViewerRow[], key: 'follows' | 'merged') =>
    list.length
      ? `${grouped(Math.min(...list.map((r) => r[key])))}–${grouped(Math.max(...list.map((r) => r[key])))}`
      : '-';
  const describe = (list: ViewerRow[], what: string) =>
    `${what}; follow ${range(list, 'follows')}, of them ${range(list, 'merged')} merged authors`;
  return [
    { name: 'typical', who: describe(of('typical'), '25th–75th percentile of follows'), rows: of('typical') },
    { name: 'merged', who: describe(of('merged'), 'follow the most merged authors'), rows: of('merged') },
    { name: 'heavy', who: describe(of('heavy'), 'follow 1,000 or more'), rows: of('heavy') },
  ].filter((group) => group.rows.length > 0);
}

async function timePage(em: EntityManager, id: string, after: Position | undefined, homeFirst: boolean) {
  const home = async () => {
    const { statements, answeredBy } = await pageStatements(em, id, after, true);
    return { ms: await executionMs(em, statements), fellBack: answeredBy !== 'page' };
  };
  const pull = async () => executionMs(em, (await recordTimeline(em, id, after)).statements);
  // Alternating which path runs first: neither always finds the other's pages in shared_buffers.
  if (homeFirst) {
    const h = await home();
    return { home: h, pull: await pull() };
  }
  const p = await pull();
  return { home: await home(), pull: p };
}

function pathTimes(times: { home: { ms: number; fellBack: boolean }; pull: number }[]): PathTimes | null {
  if (times.length === 0) return null;
  return {
    home: summary(times.map((t) => t.home.ms)),
    pull: summary(times.map((t) => t.pull)),
    fallbacks: times.filter((t) => t.home.fellBack).length,
    samples: times.length,
  };
}

/** `samples` pages per group and depth, viewers cycled; the deeper page is the one after `pages` pages. */
export async function sampleHomeTimelines(
  em: EntityManager,
  samples: number,
  pages = HOME_DEEP_PAGES,
): Promise<HomeSampleGroup[]> {
  const results: HomeSampleGroup[] = [];
  for (const group of await homeViewerGroups(em, samples)) {
    const first: Parameters<typeof pathTimes>[0] = [];
    const deep: Parameters<typeof pathTimes>[0] = [];
    const deepOf = new Map<string, Position | undefined>();
    for (let i = 0; i < samples; i++) {
      const { id } = group.rows[i % group.rows.length]!;
      if (!deepOf.has(id)) deepOf.set(id, await deepPosition(em, id, pages));
      first.push(await timePage(em, id, undefined, i % 2 === 0));
      const after = deepOf.get(id);
      if (after) deep.push(await timePage(em, id, after, i % 2 === 1));
    }
    results.push({
      name: group.name,
      who: group.who,
      viewers: group.rows.length,
      first: pathTimes(first)!,
      deep: pathTimes(deep),
    });
  }
  return results;
}

/** The highest home p99 of a group (first and deeper page) against its goal. */
export function homeGroupGoal(group: HomeSampleGroup) {
  const goal = HOME_GOAL_P99_MS[group.name] ?? Infinity;
  const p99 = Math.max(group.first.home.p99, group.deep?.home.p99 ?? 0);
  return { goal, p99, met: p99 <= goal };
}

const f = (p: Percentiles) => `${ms(p.p50)} / ${ms(p.p99)} / ${ms(p.max)}`;

/** The Markdown table of sampleHomeTimelines, with the goals. */
export function homeSampleTable(groups: HomeSampleGroup[], pages = HOME_DEEP_PAGES): string {
  const rows = groups.flatMap((group) => {
    const { goal, met } = homeGroupGoal(group);
    return (
      [
        ['1', group.first],
        [String(pages + 1), group.deep],
      ] as const
    )
      .filter((entry): entry is [string, PathTimes] => entry[1] !== null)
      .map(([page, times]) => [
        `${group.name} (${grouped(group.viewers)})`,
        group.who,
        page,
        grouped(times.samples),
        f(times.home),
        f(times.pull),
        (times.home.p50 / times.pull.p50).toFixed(2),
        grouped(times.fallbacks),
        `home p99 ≤ ${goal} ms ${met ? '✓' : '✗'}`,
      ]);
  });
  return [
    `Database time per page, both paths (EXPLAIN ANALYZE, TIMING OFF; all statements the page sends), ms`,
    '',
    table(
      [
        'viewers',
        'who',
        'page',
        'samples',
        'home p50 / p99 / max',
        'pull p50 / p99 / max',
        'home ÷ pull (p50)',
        'home fell back¹',
        'goal',
      ],
      rows,
    ),
    '',
    '¹ pages the home read could not answer (below the floor, or not built): their time is the home read plus the ' +
      'pull query after it, as posts.timeline sends them.',
  ].join('\n');
}
