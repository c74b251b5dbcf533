// Property: whatever a client sends to any procedure (inputs shaped like its schema with hostile
// values, the wrong type entirely, deep nesting, prototype keys, extra keys, plausible but wrong
// ids and cursors; with a valid token, none, or a bad one), the answer is never a 5xx, never leaks
// internals, and is one of the contract's errors. A bounded run; `npm run fuzz` runs far more.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '../server/trpc/router.ts';
import { testEnv, useTestApp } from './helpers/app.ts';
import {
  caseArbitrary,
  FUZZ_ENV_OVERRIDES,
  inputText,
  FIXED_BUGS,
  fixedBugReproductions,
  prepareWorld,
  PROCEDURES,
  recover,
  runCase,
  type World,
} from './helpers/hostile/index.ts';

describe('hostile inputs to every procedure', () => {
  const t = useTestApp({ env: testEnv({ ...FUZZ_ENV_OVERRIDES }) });
  let world: World;

  beforeAll(async () => {
    world = await prepareWorld(t.url);
  });

  it('covers every query and mutation of the router', () => {
    // The subscription (posts.onTimeline) answers in an event stream; its bad inputs are in
    // test/realtime*.test.ts.
    const procedures = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;
    const served = Object.keys(procedures)
      .filter((path) => procedures[path]!._def.type !== 'subscription')
      .sort();
    expect(PROCEDURES.map((spec) => spec.path).sort()).toEqual(served);
  });

  for (const spec of PROCEDURES) {
    it(`${spec.path}: no 5xx, no leak, only the contract's errors`, { timeout: 45_000 }, async () => {
      const seen = new Map<string, number>();
      await fc.assert(
        fc.asyncProperty(caseArbitrary(spec, world), async (hostile) => {
          const outcome = await runCase(world, spec, hostile);
          const key = outcome.code ?? String(outcome.status);
          seen.set(key, (seen.get(key) ?? 0) + 1);
          if (outcome.problems.length > 0) {
            await recover(world, outcome);
            throw new Error(
              `${outcome.problems.join('; ')}\n  request: ${outcome.request}\n  status ${outcome.status}: ${outcome.response}`,
            );
          }
        }),
        { numRuns: spec.testRuns, interruptAfterTimeLimit: 35_000, markInterruptAsFailure: false },
      );
      // The run got past validation to the procedure itself: some calls succeeded (and their output was checked).
      expect(seen.get('200'), JSON.stringify(Object.fromEntries(seen))).toBeGreaterThan(0);
    });
  }

  // Server bugs this catalogue found, kept as regression tests with their exact inputs.
  for (const [bug, description] of Object.entries(FIXED_BUGS)) {
    it(`fixed bug stays fixed: ${description}`, async () => {
      for (const call of fixedBugReproductions(world).filter((candidate) => candidate.bug === bug)) {
        const spec = PROCEDURES.find((candidate) => candidate.path === call.path)!;
        const outcome = await runCase(world, spec, {
          input: call.input,
          auth: { kind: 'valid' },
          transport: { kind: 'normal' },
          userAgent: undefined,
        });
        expect(outcome.problems, `${call.path} ${inputText(call.input)}`).toEqual([]);
      }
    });
  }
});
