import { configDefaults, defineConfig } from 'vitest/config';

// Two projects, one run: `vitest run` runs both (and the CI json report counts both);
// `vitest run --project unit` runs only the unit tier, which needs no ZooKeeper server.
export default defineConfig({
  test: {
    pool: 'forks',
    maxWorkers: 2,
    teardownTimeout: 30_000,
    reporters: process.env['CI'] ? ['default', ['json', { outputFile: '.zkjobs/test-results.json' }]] : ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, 'test/unit/**'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
