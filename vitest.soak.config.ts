import { defineConfig } from 'vitest/config';

/** `npm run test:soak`: the long tier (SOAK_MINUTES, default 30) against the same DynamoDB Local setup as `npm test`. */
const minutes = Number(process.env.SOAK_MINUTES ?? 30);

export default defineConfig({
  test: {
    include: ['test/soak/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: (minutes + 10) * 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 1,
  },
});
