// npm run fuzz [-- --runs N] [--seed S] [--only auth.login,posts.create] [--concurrency C] [--verbose]
//
// Sends N (default 10,000) hostile inputs to every procedure of a real Warble server that it
// starts itself (embedded PostgreSQL in a temporary folder, production settings, bcrypt cost 4,
// login limits raised, the other abuse limits off: FUZZ_ENV_OVERRIDES), prints progress while it
// runs and then, per procedure, how the calls were answered: 2xx, each 4xx code, 5xx, leaks.
// Exits 1 if any answer was a 5xx, leaked internals or otherwise broke the contract (see
// test/helpers/hostile/ for what is generated and what is checked, and FIXED_BUGS there for what
// it has found so far).
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MikroORM } from '@mikro-orm/postgresql';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../server/app.ts';
import { migrate, ormOptions } from '../server/db.ts';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../server/embedded-postgres.ts';
import { parseEnv } from '../server/env.ts';
import { createLogger } from '../server/logger.ts';
import { freePort } from '../test/helpers/free-port.ts';
import {
  caseArbitrary,
  CONTRACT_ERRORS,
  FUZZ_ENV_OVERRIDES,
  prepareWorld,
  PROCEDURES,
  recover,
  runCase,
  type ErrorCode,
  type Outcome,
  type ProcedureSpec,
  type World,
} from '../test/helpers/hostile/index.ts';

const { values: options } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    only: { type: 'string' },
    concurrency: { type: 'string', default: '4' },
    // The server's own error log (causes of 5xx included), as JSON lines on stderr.
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
});

if (options.help) {
  process.stdout.write(
    'usage: npm run fuzz -- [--runs N (10000)] [--seed S] [--only path,path] [--concurrency C (4)] [--verbose]\n',
  );
  process.exit(0);
}

const positive = (name: string, value: string | undefined) => {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1) {
    process.stderr.write(`--${name} must be a positive whole number, not ${JSON.stringify(value)}\n`);
    process.exit(2);
  }
  return number;
};
const runs = positive('runs', options.runs);
const concurrency = positive('concurrency', options.concurrency);
const seed = options.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(options.seed);
if (!Number.isSafeInteger(seed)) {
  process.stderr.write(`--seed must be a whole number\n`);
  process.exit(2);
}
const only = options.only?.split(',').map((name) => name.trim());
const selected = only ? PROCEDURES.filter((spec) => only.includes(spec.path)) : PROCEDURES;
if (only && selected.length !== only.length) {
  const known = new Set(PROCEDURES.map((spec) => spec.path));
  process.stderr.write(`unknown procedure(s): ${only.filter((name) => !known.has(name)).join(', ')}\n`);
  process.exit(2);
}

interface Tally {
  spec: ProcedureSpec;
  runs: number;
  ok: number;
  byCode: Map<string, number>;
  serverErrors: number;
  leaks: number;
  /** Calls with any problem (5xx, leak, a code the contract or the procedure does not allow, …). */
  failed: number;
  /** Failed calls explained by a bug in FIXED_BUGS. */
  known: number;
  /** How often each kind of problem was seen, and the first call that showed it. */
  kinds: Map<string, { count: number; example: Outcome }>;
  ms: number;
}

/** Control characters (a leaked NUL, say) escaped, so the report stays text; line breaks kept. */
const printable = (text: string) =>
  text.replace(/[^\P{Cc}\n]/gu, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** A problem without its details (the leaked text, the field values), to group calls by. */
const kindOf = (problem: string) => problem.replace(/:.*$/s, '').replace(/\(\d+ bytes\)/, '(n bytes)');

async function fuzzProcedure(world: World, spec: ProcedureSpec, tally: Tally, procedureSeed: number) {
  const started = performance.now();
  // fc.check (not assert): every input is sent and counted; nothing stops at the first failure.
  await fc.check(
    fc.asyncProperty(caseArbitrary(spec, world), async (hostile) => {
      const outcome = await runCase(world, spec, hostile);
      tally.runs++;
      if (outcome.status >= 200 && outcome.status < 300) tally.ok++;
      else if (outcome.status >= 500 || outcome.status === 0) tally.serverErrors++;
      else {
        const key = outcome.code ?? String(outcome.status);
        tally.byCode.set(key, (tally.byCode.get(key) ?? 0) + 1);
      }
      if (outcome.problems.length > 0) {
        tally.failed++;
        if (outcome.problems.some((problem) => problem.startsWith('the error leaks') || problem.includes('leaked')))
          tally.leaks++;
        if (outcome.knownBug) tally.known++;
        const kinds = outcome.knownBug ? [`known bug ${outcome.knownBug}`] : [...new Set(outcome.problems.map(kindOf))];
        for (const name of kinds) {
          const kind = tally.kinds.get(name);
          if (kind) kind.count++;
          else tally.kinds.set(name, { count: 1, example: outcome });
        }
        await recover(world, outcome);
      }
      return true;
    }),
    { numRuns: runs, seed: procedureSeed },
  );
  tally.ms = performance.now() - started;
}

/** Runs `tasks` with at most `limit` at once. */
async function pool(tasks: (() => Promise<void>)[], limit: number) {
  const queue = [...tasks];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let task = queue.shift(); task; task = queue.shift()) await task();
    }),
  );
}

const pad = (value: string | number, width: number, left = false) =>
  left ? String(value).padEnd(width) : String(value).padStart(width);

/** One row per procedure: runs, successes, each 4xx code seen (in status order), 5xx, leaks, failures. */
function table(tallies: Tally[]): string {
  const status = (code: string) => CONTRACT_ERRORS[code as ErrorCode] ?? 0;
  const codes = [...new Set(tallies.flatMap((tally) => [...tally.byCode.keys()]))].sort(
    (a, b) => status(a) - status(b) || a.localeCompare(b),
  );
  const columns: { title: string; cell: (tally: Tally) => number | string; left?: boolean }[] = [
    { title: 'procedure', cell: (tally) => tally.spec.path, left: true },
    { title: 'runs', cell: (tally) => tally.runs },
    { title: '2xx', cell: (tally) => tally.ok },
    ...codes.map((code) => ({
      title: `${status(code) || ''} ${code}`.trim(),
      cell: (tally: Tally) => tally.byCode.get(code) ?? 0,
    })),
    { title: '5xx', cell: (tally) => tally.serverErrors },
    { title: 'leaks', cell: (tally) => tally.leaks },
    { title: 'failed', cell: (tally) => tally.failed },
    { title: 'known bugs', cell: (tally) => tally.known },
    { title: 'seconds', cell: (tally) => (tally.ms / 1000).toFixed(1) },
  ];
  const rows = tallies.map((tally) => columns.map((column) => column.cell(tally)));
  const totals = columns.map((column, index) =>
    index === 0 ? 'total' : column.title === 'seconds' ? '' : rows.reduce((sum, row) => sum + Number(row[index]), 0),
  );
  const widths = columns.map((column, index) =>
    Math.max(column.title.length, ...[...rows, totals].map((row) => String(row[index]).length)),
  );
  const line = (cells: (number | string)[]) =>
    cells.map((cell, index) => pad(cell, widths[index]!, columns[index]!.left)).join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(columns.map((column) => column.title)), rule, ...rows.map(line), rule, line(totals)].join('\n');
}

/** What main() starts; cleanUp() stops it, once, on the way out or on Ctrl-C. */
const resources: { dir?: string; database?: EmbeddedPostgres; orm?: MikroORM; app?: FastifyInstance } = {};
let cleaning: Promise<void> | undefined;
const cleanUp = () =>
  (cleaning ??= (async () => {
    await resources.app?.close().catch(() => {});
    await resources.orm?.close().catch(() => {});
    await resources.database?.stop().catch(() => {});
    if (resources.dir) await rm(resources.dir, { recursive: true, force: true }).catch(() => {});
  })());

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\n${signal}: stopping and cleaning up\n`);
    void cleanUp().finally(() => process.exit(130));
  });
}
// A reader that goes away early (`npm run fuzz | head`) must not cut the clean-up short.
process.stdout.on('error', () => {});

async function main(): Promise<number> {
  const dir = (resources.dir = await mkdtemp(path.join(os.tmpdir(), 'warble-fuzz-')));
  try {
    // As root, PostgreSQL runs as the `postgres` user, which must be able to pass through.
    await chmod(dir, 0o755);
    process.stderr.write('starting PostgreSQL… ');
    const database = (resources.database = await startEmbeddedPostgres({
      dataDir: path.join(dir, 'data'),
      passwordFile: path.join(dir, 'password'),
      port: await freePort(),
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
    }));
    const parsed = parseEnv({
      NODE_ENV: 'production',
      JWT_SECRET: randomBytes(32).toString('base64url'),
      BCRYPT_COST: '4',
      LOG_LEVEL: options.verbose ? 'error' : 'silent',
      ...FUZZ_ENV_OVERRIDES,
    });
    if (!parsed.ok) throw new Error(`bad fuzz environment: ${parsed.problems.join('; ')}`);
    const env = parsed.env;
    const orm = (resources.orm = await MikroORM.init({
      ...ormOptions(env, database.url('warble')),
      ensureDatabase: true,
    }));
    await migrate(orm);
    const app = (resources.app = await buildApp({ orm, env, logger: createLogger(env, process.stderr) }));
    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    process.stderr.write(`serving ${url}\n`);

    const world = await prepareWorld(url);
    process.stderr.write(
      `fuzzing ${selected.length} procedure(s), ${runs} inputs each, seed ${seed}, ${concurrency} at a time\n`,
    );

    const tallies: Tally[] = selected.map((spec) => ({
      spec,
      runs: 0,
      ok: 0,
      byCode: new Map(),
      serverErrors: 0,
      leaks: 0,
      failed: 0,
      known: 0,
      kinds: new Map(),
      ms: 0,
    }));
    const started = performance.now();
    const progress = setInterval(() => {
      const done = tallies.reduce((total, tally) => total + tally.runs, 0);
      const failed = tallies.reduce((total, tally) => total + tally.failed, 0);
      const seconds = (performance.now() - started) / 1000;
      const active = tallies
        .filter((tally) => tally.runs > 0 && tally.runs < runs)
        .map((tally) => `${tally.spec.path} ${tally.runs}`)
        .join(', ');
      process.stderr.write(
        `  ${done}/${runs * tallies.length} calls, ${(done / seconds).toFixed(0)}/s, ${failed} failed` +
          `${active ? ` (${active})` : ''}\n`,
      );
    }, 5000);
    try {
      await pool(
        tallies.map((tally, index) => () => fuzzProcedure(world, tally.spec, tally, seed + index)),
        concurrency,
      );
    } finally {
      clearInterval(progress);
    }

    process.stdout.write(`\n${table(tallies)}\n`);
    process.stdout.write(`\n${((performance.now() - started) / 1000).toFixed(1)} s, seed ${seed}\n`);
    const failing = tallies.filter((tally) => tally.failed > 0);
    for (const tally of failing) {
      process.stdout.write(`\n${tally.spec.path}: ${tally.failed} failing call(s), by kind of problem:\n`);
      for (const [kind, { count, example }] of tally.kinds) {
        process.stdout.write(
          printable(
            `  - ${count} × ${kind}; the first:\n    ${example.problems.join('; ')}\n    request: ${example.request}\n` +
              `    status ${example.status}: ${example.response}`,
          ) + '\n',
        );
      }
    }
    const failed = tallies.reduce((sum, tally) => sum + tally.failed, 0);
    const known = tallies.reduce((sum, tally) => sum + tally.known, 0);
    if (failing.length === 0) process.stdout.write('\nOK: no 5xx, no leaks, only the contract’s errors\n');
    else
      process.stdout.write(
        `\nFAILED: ${failed} call(s) to ${failing.length} procedure(s) answered wrongly; ` +
          `${failed - known} of them not explained by a known bug (FIXED_BUGS in test/helpers/hostile/)\n`,
      );
    return failing.length > 0 ? 1 : 0;
  } finally {
    await cleanUp();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  process.stderr.write(`fuzz: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
}
