// Database time of timeline pages across many viewers, for percentiles: one viewer's timings say
// little about "a typical user's p99". Each sample is the sum of the Execution Time that
// EXPLAIN (ANALYZE, TIMING OFF) reports for every statement of the page (timing per node off, so
// instrumentation adds little), first page and a deep page of the same viewer.
import type { EntityManager } from '@mikro-orm/postgresql';
import { decodeCursor, toPage, type Position } from '../../server/pagination/cursor.ts';
import { grouped } from './args.ts';
import { explainJson } from './plans.ts';
import { PAGE_SIZE, recordTimeline, type Statement } from './timeline-sql.ts';

// Issue #7's goals for the database time of a timeline page at 1M posts.
const GOAL_P99_MS: Record<string, number> = { typical: 5, power: 20 };
const DEEP_RATIO_GOAL = 1.2;

export const ms = (value: number) =>
  value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);

export interface SampleGroup {
  name: string;
  /** How the viewers were chosen. */
  who: string;
  viewers: number;
  samples: number;
  first: Percentiles;
  deep: Percentiles;
}

export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
}

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

export const summary = (values: number[]): Percentiles => ({
  p50: percentile(values, 50),
  p99: percentile(values, 99),
  max: Math.max(...values),
});

/** The sum of the statements' Execution Time (EXPLAIN ANALYZE, TIMING OFF), in ms. */
export async function executionMs(em: EntityManager, statements: Statement[]): Promise<number> {
  let total = 0;
  for (const statement of statements) total += (await explainJson(em, statement, 'time'))['Execution Time'];
  return total;
}

/** The position after `pages` pages, reached as a client would; undefined if the timeline is shorter. */
export async function deepPosition(em: EntityManager, viewerId: string, pages: number): Promise<Position | undefined> {
  const list = `timeline:${viewerId}`;
  let after: Position | undefined;
  for (let page = 0; page < pages; page++) {
    const { posts } = await recordTimeline(em, viewerId, after);
    const { nextCursor } = toPage(posts, PAGE_SIZE, list, (post) => post);
    if (!nextCursor) return undefined;
    after = decodeCursor(nextCursor, list);
  }
  return after;
}

async function sampleViewers(
  em: EntityManager,
  group: { name: string; who: string; ids: string[] },
  samples: number,
  pages: number,
): Promise<SampleGroup | undefined> {
  if (group.ids.length === 0) return undefined;
  const first: number[] = [];
  const deep: number[] = [];
  const deepOf = new Map<string, Position | undefined>();
  for (let i = 0; i < samples; i++) {
    const id = group.ids[i % group.ids.length]!;
    if (!deepOf.has(id)) deepOf.set(id, await deepPosition(em, id, pages));
    first.push(await executionMs(em, (await recordTimeline(em, id, undefined)).statements));
    const after = deepOf.get(id);
    if (after) deep.push(await executionMs(em, (await recordTimeline(em, id, after)).statements));
  }
  return {
    name: group.name,
    who: group.who,
    viewers: group.ids.length,
    samples,
    first: summary(first),
    deep: summary(deep),
  };
}

/**
 * Typical viewers (a random `samples` of those whose number of follows lies between the 25th and
 * 75th percentile) and power viewers (everyone following 1,000 or more, cycled to `samples`).
 */
export async function sampleTimelines(em: EntityManager, samples: number, pages: number): Promise<SampleGroup[]> {
  const rows = await em.getConnection().execute<{ id: string; follows: number; kind: string }[]>(
    `with counts as (select follower_id as id, count(*)::int as follows from follows group by follower_id),
          bounds as (select percentile_disc(0.25) within group (order by follows) as low,
                            percentile_disc(0.75) within group (order by follows) as high from counts)
     (select c.id, c.follows, 'typical' as kind from counts c, bounds b
       where c.follows between b.low and b.high order by random() limit ?)
     union all
     (select id, follows, 'power' from counts where follows >= 1000 order by follows desc)`,
    [samples],
  );
  const typical = rows.filter((row) => row.kind === 'typical');
  const power = rows.filter((row) => row.kind === 'power');
  const range = (list: typeof rows) =>
    list.length ? `${Math.min(...list.map((r) => r.follows))}–${Math.max(...list.map((r) => r.follows))}` : '-';
  const groups = [
    { name: 'typical', who: `follow ${range(typical)} (25th–75th percentile)`, ids: typical.map((r) => r.id) },
    { name: 'power', who: `follow ${range(power)} (1,000 or more)`, ids: power.map((r) => r.id) },
  ];
  const results: SampleGroup[] = [];
  for (const group of groups) {
    const result = await sampleViewers(em, group, samples, pages);
    if (result) results.push(result);
  }
  return results;
}

/** The Markdown table of sampleTimelines, with the goals. */
export function sampleTable(groups: SampleGroup[], pages: number): string {
  const f = (p: { p50: number; p99: number; max: number }) => `${ms(p.p50)} / ${ms(p.p99)} / ${ms(p.max)}`;
  const mark = (ok: boolean) => (ok ? '✓' : '✗');
  const lines = [
    `Database time per page (EXPLAIN ANALYZE, TIMING OFF; all statements of the page), ms; deep page = after ${pages} pages`,
    '',
    '| viewers | who | samples | first page p50 / p99 / max | deep page p50 / p99 / max | deep ÷ first (p50) | goal |',
    '| ------- | --- | ------- | -------------------------- | ------------------------- | ------------------ | ---- |',
  ];
  for (const group of groups) {
    const goal = GOAL_P99_MS[group.name] ?? Infinity;
    const ratio = group.deep.p50 / group.first.p50;
    const p99 = Math.max(group.first.p99, Number.isNaN(group.deep.p99) ? 0 : group.deep.p99);
    lines.push(
      `| ${group.name} (${grouped(group.viewers)}) | ${group.who} | ${grouped(group.samples)} | ${f(group.first)} | ` +
        `${f(group.deep)} | ${ratio.toFixed(2)} | p99 ≤ ${goal} ms ${mark(p99 <= goal)}; deep ≤ ${DEEP_RATIO_GOAL}× ${mark(!(ratio > DEEP_RATIO_GOAL))} |`,
    );
  }
  return lines.join('\n');
}
