import { defineConfig } from 'vitest/config';

// The unit tier alone (no ZooKeeper, no global set-up): what `pnpm mutate` (StrykerJS) runs
// against each mutant. `vitest.config.ts` runs it as the `unit` project beside the integration tests.
export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
  },
});
