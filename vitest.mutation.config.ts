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
      'test/prisma/pager-scripted.test.ts',
      'test/prisma/pager-drift.property.test.ts',
      'test/store/pure.test.ts',
      'test/store/planner.test.ts',
      'test/store/keys.test.ts',
      'test/store/planner-lifecycle.test.ts',
    ],
    // The at-size test (a 5 MB report) is too slow to run per mutant on 2 shared cores.
    exclude: ['test/normalize/at-size.test.ts', 'node_modules/**'],
    // Property tests with fewer generated cases than in `npm test`, as each mutant runs them: the
    // normalizer's at 40 (300 in npm test), the pager's drift property (real HTTP against the
    // simulator) at 25 (80): it is what exercises the pager's re-alignment.
    env: { NORMALIZE_PROPERTY_RUNS: '40', PAGER_RUNS: '25' },
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
