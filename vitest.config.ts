import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // One PostgreSQL server for the run; every test file gets its own database (test/helpers/database.ts).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 20_000,
    // Two files at a time even on two cores (vitest's default would be one): most of a test's time
    // is spent waiting for PostgreSQL, child processes and timers, and the run takes ~40% less.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    hookTimeout: 60_000,
  },
});
