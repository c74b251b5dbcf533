// The replicas phase's goals (issue #18), its section of Markdown, and its files: <UTC time>-replicas.{json,md},
// copied to latest-replicas.* (also in a full run, whose latest.* does not hold this phase).
import { grouped } from './args.ts';
import { table, writePhaseOnly, type PhaseOnlyResults } from './markdown.ts';
import type { ReplicasSummary, ReplicaTarget } from './replicas.ts';
import { PAGE_TABLES, SCANNED_TABLES, type Scans } from './replicas-scans.ts';
import type { Goal } from './results.ts';
import { num } from './stats.ts';

/** Share of the page's table scans that the server with a replica must leave to the replica. */
export const REPLICA_GOALS = { routedShare: 0.99 };

const x = (value: number) => (Number.isFinite(value) ? `${value.toFixed(2)}×` : '–');
const wholeMs = (value: number) => (value === 0 ? '<1' : num(value));
const pageScans = (scans: Scans) => PAGE_TABLES.reduce((sum, table) => sum + scans[table], 0);
const target = (r: ReplicasSummary, id: 'none' | 'one') => r.targets.find((t) => t.id === id);

function routed(r: ReplicasSummary) {
  const one = target(r, 'one');
  const none = target(r, 'none');
  const onReplica = one ? pageScans(one.scans.replica) : 0;
  const total = one ? onReplica + pageScans(one.scans.primary) : 0;
  return {
    onReplica,
    total,
    share: total > 0 ? onReplica / total : NaN,
    strayNone: none ? pageScans(none.scans.replica) : NaN,
  };
}

export function replicasGoals(r: ReplicasSummary | null): Goal[] {
  if (!r) return [];
  const route = routed(r);
  return [
    {
      name: `replicas: scans of ${PAGE_TABLES.join(', ')} by Warble with one replica, on the replica`,
      measured:
        `${(route.share * 100).toFixed(2)}% (${grouped(route.onReplica)} of ${grouped(route.total)}); ` +
        `by Warble without: ${grouped(route.strayNone)} on the replica`,
      goal: `≥ ${REPLICA_GOALS.routedShare * 100}%, 0 without`,
      met: Number.isFinite(route.share) ? route.share >= REPLICA_GOALS.routedShare && route.strayNone === 0 : null,
    },
    {
      name: 'replicas: posts.timeline page 1 from both servers, the same answer',
      measured: `${r.identical.same} of ${r.identical.users} users`,
      goal: 'all',
      met: r.identical.users > 0 ? r.identical.same === r.identical.users : null,
    },
    {
      name: 'replicas: posts.timeline page 1, one replica ÷ none (req/s)',
      measured: `${x(r.ratio)} (${num(target(r, 'one')?.rps.median)} vs ${num(target(r, 'none')?.rps.median)} req/s)`,
      goal: 'printed: replica, primary and Warble share the server cores here',
      met: null,
    },
  ];
}

const scanRow = (label: string, scans: Scans, responses: number) => [
  label,
  ...SCANNED_TABLES.map((t) => (scans[t] === 0 ? '0' : `${num(scans[t] / responses)} (${grouped(scans[t])})`)),
];

export function replicasMarkdown(r: ReplicasSummary): string[] {
  const cores = r.serverCores ? `core(s) ${r.serverCores}` : 'all cores (not pinned)';
  const rows = (t: ReplicaTarget) => [
    t.label,
    `${num(t.rps.median)} (${num(t.rps.min)}–${num(t.rps.max)})`,
    x(t.rps.median / (target(r, 'none')?.rps.median ?? NaN)),
    wholeMs(t.p50Ms),
    wholeMs(t.p99Ms),
    `${num(t.cpuUs.warble)} / ${num(t.cpuUs.primary)} / ${num(t.cpuUs.replica)}`,
    String(t.non2xx + t.errors),
  ];
  return [
    '## Read replicas (issue #18)',
    '',
    `**The primary, the replica and both Warble processes share ${cores}: this phase shows that list reads reach ` +
      'the replica and answer the same, not what a replica on hardware of its own would add.**',
    '',
    `Two Warble processes, identical but for ${r.difference} (DATABASE_REPLICA_MAX_LAG_MS=${r.maxLagMs}); ` +
      `JOB_WORKER=false on both. Requests rotate over ${r.users} typical users. The replica: ${r.replica.dataDir}, ` +
      `slot ${r.replica.slot}, ${r.replica.seeded ? 'seeded by this run' : 'seeded by an earlier run'} ` +
      `(streaming after ${num(r.replica.startMs / 1000)} s, caught up ${num(r.replica.catchUpMs / 1000)} s later). ` +
      `The phase took ${Math.round(r.seconds)} s.`,
    '',
    table(
      [
        'posts.timeline, closed loop',
        'req/s median (min–max)',
        '× no replica',
        'p50 ms',
        'p99 ms',
        'CPU µs/call Warble / primary / replica',
        'non-2xx',
      ],
      r.targets.map(rows),
    ),
    '',
    `Page 1 of each of the ${r.identical.users} users from both servers after the warm-up: ` +
      `${r.identical.same} byte for byte the same.`,
    '',
    table(
      ['table scans per call (total)', ...SCANNED_TABLES],
      r.targets.flatMap((t) => [
        scanRow(`${t.label}: primary`, t.scans.primary, t.responses),
        scanRow(`${t.label}: replica`, t.scans.replica, t.responses),
      ]),
    ),
    '',
    "Scans: pg_stat_user_tables' seq_scan + idx_scan of each server over that Warble's runs (read 11 s after " +
      'each run, once the backends have flushed their counts), ÷ its answers. write_marks is the routing’s own ' +
      'lookup of the caller’s last write, on the primary; sessions the sign-in check. CPU per call: user + system ' +
      'time ÷ answers, of the Warble process and of each PostgreSQL (postmaster and every child).',
    '',
  ];
}

export interface ReplicasOnlyResults extends PhaseOnlyResults {
  replicas: ReplicasSummary | null;
}

/** The phase's section and goals, in files of their own (`--only replicas`, and after a full run). */
export function writeReplicasOnly(outDir: string, results: ReplicasOnlyResults) {
  const section = results.replicas ? replicasMarkdown(results.replicas) : [];
  return writePhaseOnly(
    outDir,
    { file: 'replicas', title: 'read replicas' },
    results,
    section,
    replicasGoals(results.replicas),
  );
}
