import { defineConfig } from 'vitest/config';

/**
 * The pure unit tests Stryker runs against each mutant (`npm run test:mutation`): no DynamoDB Local
 * (no global setup), one fork, unit-sized timeouts so a mutant that loops fails fast.
 */
export default defineConfig({
  test: {
    include: [
      'test/normalize/**/*.test.ts',
      'test/prisma/retry-policy.test.ts',
      'test/prisma/rate-limiter.test.ts',
      'test/prisma/rate-limiter-limits.test.ts',
      'test/prisma/retry-policy-limits.test.ts',
      'test/prisma/pager.test.ts',
      'test/prisma/pager-unit.test.ts',
      'test/prisma/pager-drift.property.test.ts',
      'test/store/pure.test.ts',
      'test/store/planner.test.ts',
      'test/store/keys.test.ts',
      'test/store/planner-lifecycle.test.ts',
    ],
    // The normalizer's property and at-size tests run every mutant hundreds of times over: too slow
    // for 2 shared cores, and the example-based tests cover the same rules.
    exclude: ['test/normalize/properties.test.ts', 'test/normalize/at-size.test.ts', 'node_modules/**'],
    // The drift property (real HTTP against the simulator) at 25 generated cases instead of 80: it is
    // what exercises the pager's re-alignment, and each pager mutant runs it.
    env: { PAGER_RUNS: '25' },
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
