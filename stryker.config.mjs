// @ts-check
/**
 * Mutation testing of the pure modules (`npm run test:mutation`, not part of `npm test`): the
 * normalizer, the client's retry policy, rate limiter and pager, the store's keys, identity and write planner. Score and the
 * survivors judged equivalent: README, Development.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  mutate: [
    'lambda/normalize/**/*.ts',
    'lambda/prisma/retry-policy.ts',
    'lambda/prisma/rate-limiter.ts',
    'lambda/prisma/pager.ts',
    'lambda/store/keys.ts',
    'lambda/store/identity.ts',
    'lambda/store/planner.ts',
  ],
  coverageAnalysis: 'perTest',
  // One test process: the 2-core build machine is shared with other work.
  concurrency: 1,
  timeoutMS: 10_000,
  incremental: true,
  incrementalFile: 'reports/mutation/incremental.json',
  tempDirName: '.stryker-tmp',
  // A sandbox with its own biome.json makes `biome check .` fail while Stryker runs (a nested root
  // configuration); the sandbox needs no linter configuration.
  ignorePatterns: ['biome.json'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: 80 },
  ignoreStatic: true,
};
