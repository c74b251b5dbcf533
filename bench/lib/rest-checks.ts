// What the output checks cost (issue #16): tRPC runs every procedure's answer through its
// `.output()` schema (`schema.parse()`, as @trpc/server's getParseFn calls it for zod) on /trpc and
// on /api alike. Timed twice:
//   - inside the server, during the closed-loop runs (bench/servers/check-timer.ts): what a call
//     pays, and what the shares and the goal are taken from;
//   - in a loop in this process (the same CPU model, on the load generator's core) on a real answer
//     fetched from the server, beside `JSON.stringify` of the same answer, which every call pays as
//     well. The timed calls take turns over copies of the answer: the server checks a new object
//     every call. A loop like this runs hot (caches, branch predictors, inline caches that only ever
//     met this schema): it is the check's floor, not what the server pays.
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { appRouter } from '../../server/trpc/router.ts';
import { checkTimesFile, type CheckTimes } from '../servers/check-timer.ts';
import type { RestPairSummary } from './rest.ts';
import { median } from './stats.ts';

const WARM_UP_MS = 300;
const BATCH_MS = 10;
const BATCHES = 31;
/** Distinct copies of an answer the timed calls take turns with, as the server's are distinct objects. */
const COPIES = 64;
const REPORT_TIMEOUT_MS = 15_000;

/** The schemas bench/servers/check-timer.ts times. */
export type CheckedSchema = 'PostPage' | 'Post' | 'Profile';

interface Parser {
  parse(value: unknown): unknown;
}

export interface CheckCost {
  /** The pair whose answer this is (rest.ts), and the procedure whose schema checks it. */
  id: string;
  procedure: string;
  label: string;
  /** The answer's size as JSON. */
  bytes: number;
  /** µs per check inside Warble: the median over the pair's closed-loop runs (both transports). */
  serverUs: number;
  /** In a loop in this process: medians of µs per call over the batches. */
  loopUs: number;
  stringifyUs: number;
  /** The call over /trpc: 1 ÷ its closed-loop req/s (the server's time per call at saturation). */
  callUs: number;
  /** Warble's CPU per /trpc call (all its threads, over the closed-loop runs). */
  cpuUsPerCall: number;
  /** serverUs ÷ callUs and ÷ cpuUsPerCall. */
  shareOfCall: number;
  shareOfCpu: number;
}

/** What the server's checks took since the last read (SIGUSR2, then its report file). */
export async function readCheckTimes(pid: number): Promise<CheckTimes> {
  const file = checkTimesFile(pid);
  await rm(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  const deadline = performance.now() + REPORT_TIMEOUT_MS;
  for (;;) {
    // A file read while it is being written does not parse: read again.
    const report = await readFile(file, 'utf8').then(
      (text) => JSON.parse(text) as CheckTimes,
      () => null,
    );
    if (report) {
      await rm(file, { force: true });
      return report;
    }
    if (performance.now() > deadline) throw new Error(`process ${pid} did not report its output checks`);
    await sleep(20);
  }
}

const CHECKED: { id: string; procedure: string; label: string }[] = [
  { id: 'timeline', procedure: 'posts.timeline', label: 'posts.timeline page, 20 posts' },
  { id: 'timeline100', procedure: 'posts.timeline', label: 'posts.timeline page, 100 posts' },
  { id: 'profile', procedure: 'users.profile', label: 'users.profile, a Profile' },
  { id: 'byId', procedure: 'posts.byId', label: 'posts.byId, a Post' },
  { id: 'create', procedure: 'posts.create', label: 'posts.create, a Post' },
];

/** The schema tRPC checks the procedure's answers with: the procedure's own `.output()`. */
function outputSchema(procedure: string): Parser {
  // Flat, by path (`posts.timeline`), whatever the router's type says.
  const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { output?: unknown } }>;
  const output = procedures[procedure]?._def.output as Parser | undefined;
  if (typeof output?.parse !== 'function') throw new Error(`${procedure} has no output schema`);
  return output;
}

let sink = 0;

/** ms for `n` calls of `fn`. */
function batch(fn: () => unknown, n: number): number {
  const started = performance.now();
  for (let i = 0; i < n; i++) if (fn()) sink++;
  return performance.now() - started;
}

/** Calls per batch so that one batch takes about BATCH_MS (after WARM_UP_MS of calls, for the JIT). */
function batchSize(fn: () => unknown): number {
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < WARM_UP_MS) {
    fn();
    calls++;
  }
  return Math.max(1, Math.round((calls * BATCH_MS) / WARM_UP_MS));
}

/** µs per call of `a` and of `b`, their batches interleaved so that both see the same machine. */
function timePair(a: () => unknown, b: () => unknown): [number, number] {
  const sizes = [batchSize(a), batchSize(b)] as const;
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < BATCHES; i++) {
    times[0].push((batch(a, sizes[0]) * 1000) / sizes[0]);
    times[1].push((batch(b, sizes[1]) * 1000) / sizes[1]);
  }
  return [median(times[0]), median(times[1])];
}

/** Times the check of each pair's sampled answer against that pair's /trpc call. */
export function measureChecks(answers: Map<string, unknown>, pairs: RestPairSummary[]): CheckCost[] {
  const costs = CHECKED.flatMap(({ id, procedure, label }): CheckCost[] => {
    const answer = answers.get(id);
    const pair = pairs.find((p) => p.id === id);
    if (answer === undefined || !pair) return [];
    const schema = outputSchema(procedure);
    // The answer must pass (else the server would not have sent it): a failing parse would time
    // the error path instead.
    schema.parse(answer);
    const copies = Array.from({ length: COPIES }, () => structuredClone(answer));
    let parsed = 0;
    let stringified = 0;
    const [loopUs, stringifyUs] = timePair(
      () => schema.parse(copies[parsed++ % COPIES]),
      () => JSON.stringify(copies[stringified++ % COPIES]),
    );
    const callUs = 1e6 / pair.trpc.rps.median;
    const cpuUsPerCall = pair.trpc.cpuUsPerCall;
    const serverUs = median([...pair.trpc.rounds, ...pair.rest.rounds].map((run) => run.checkUs));
    return [
      {
        id,
        procedure,
        label,
        bytes: Buffer.byteLength(JSON.stringify(answer)),
        serverUs,
        loopUs,
        stringifyUs,
        callUs,
        cpuUsPerCall,
        shareOfCall: serverUs / callUs,
        shareOfCpu: serverUs / cpuUsPerCall,
      },
    ];
  });
  if (sink < 0) throw new Error('unreachable: keeps the timed calls from being optimised away');
  return costs;
}
