// EXPLAIN of the timeline's statements, and how bench:timeline reads the plans.
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Statement } from './timeline-sql.ts';

/** A node of EXPLAIN (FORMAT JSON); only the fields read here. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Sort Method'?: string;
  'Total Cost'?: number;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Heap Fetches'?: number;
  'Shared Hit Blocks'?: number;
  'Shared Read Blocks'?: number;
  Plans?: PlanNode[];
}

export interface Explained {
  Plan: PlanNode;
  'Planning Time': number;
  'Execution Time': number;
  JIT?: { Functions: number; Timing?: { Total?: number } };
}

export function* nodes(node: PlanNode): Generator<PlanNode> {
  yield node;
  for (const child of node.Plans ?? []) yield* nodes(child);
}

const EXPLAIN = {
  analyze: 'explain (analyze, buffers, format json)',
  // Database time only: timing per node off, so instrumentation adds little (percentile samples).
  time: 'explain (analyze, timing off, format json)',
  text: 'explain (analyze, buffers)',
  // Without ANALYZE: the plan only, so a bad one is reported without waiting for it to run.
  plan: 'explain (format json)',
};

export async function explain(em: EntityManager, statement: Statement, mode: keyof typeof EXPLAIN): Promise<unknown[]> {
  const sql = `${EXPLAIN[mode]} ${statement.sql}`;
  if (!statement.native) return em.getConnection().execute<Record<string, unknown>[]>(sql, statement.params);
  // `$1` placeholders (the home read) go to the pg pool as they do in the app.
  const pool = await em.getConnection().getNativeClient();
  return (await pool.query<Record<string, unknown>>(sql, statement.params)).rows;
}

export async function explainJson(
  em: EntityManager,
  statement: Statement,
  mode: 'analyze' | 'time' | 'plan',
): Promise<Explained> {
  const rows = await explain(em, statement, mode);
  let plan = (rows[0] as Record<string, unknown>)['QUERY PLAN'];
  if (typeof plan === 'string') plan = JSON.parse(plan);
  return (plan as Explained[])[0]!;
}

/** Which of timelinePosts' statements this is (or the home read), for the table. */
export function kind({ sql }: Statement): string {
  if (/\bhome_timeline_entries\b/.test(sql)) return 'home';
  if (/cross join lateral/i.test(sql)) return 'per-author';
  if (/\bnewest\b/.test(sql)) return 'newest-first';
  if (/count\(\*\)/i.test(sql)) return 'follow count';
  return 'other';
}

export function isSeqScanOfPosts(node: PlanNode): boolean {
  return node['Relation Name'] === 'posts' && /Seq Scan/.test(node['Node Type']);
}

// The final join fetches the bodies of the page's posts by primary key: expected, and cheap.
export function isPkLookup(node: PlanNode): boolean {
  return node['Index Name'] === 'posts_pkey';
}

export function describe(node: PlanNode): string {
  return `${node['Node Type']}${node['Index Name'] ? ` on ${node['Index Name']}` : ''}`;
}
