import { defineConfig } from 'vitest/config';

/**
 * Pure unit tests: no DynamoDB Local, no server, no child process. A test here that needs more than
 * seconds is hung (a pager or a limiter that never ends), so it fails fast.
 */
export const UNIT_TESTS = [
  'test/common/backoff.test.ts',
  'test/common/errors.test.ts',
  'test/normalize/**/*.test.ts',
  'test/prisma/retry-policy.test.ts',
  'test/prisma/rate-limiter.test.ts',
  'test/prisma/rate-limiter-limits.test.ts',
  'test/prisma/retry-policy-limits.test.ts',
  'test/prisma/pager-unit.test.ts',
  'test/prisma/url.test.ts',
  'test/prisma/schema.test.ts',
  'test/store/pure.test.ts',
  'test/store/planner.test.ts',
  'test/store/keys.test.ts',
  'test/store/planner-lifecycle.test.ts',
  'test/sync/decisions.test.ts',
  'test/sync/figures.test.ts',
  'test/sync/page-groups.test.ts',
  'test/simulator/lru-cache.test.ts',
  'test/config.test.ts',
  'test/architecture/functions.test.ts',
  'test/architecture/messages.test.ts',
  'test/wiring.test.ts',
];

/**
 * Two tiers with their own timeouts. `unit`: 30 s per test (a property test on 2 loaded cores takes
 * seconds; a hung one fails within the minute). `integration` (DynamoDB Local, the simulator over
 * HTTP, the CLI as a child process): 180 s per test, down from one global 240 s. Measured with seven
 * test runs sharing the 2-core machine (load average about 30): most integration tests take under
 * 30 s, the slowest of other folders 120 s (a SIGKILLed CLI sync re-run); the longest reliability
 * files (crash, lease, oracle) set their own `describe` timeout.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: UNIT_TESTS, testTimeout: 30_000, hookTimeout: 30_000 },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT_TESTS, 'test/soak/**', 'node_modules/**'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
