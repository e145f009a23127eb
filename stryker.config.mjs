// @ts-check
/**
 * Mutation testing of the engine's pure modules against the unit tier (`pnpm mutate`).
 * Not run by CI (minutes per run); its score is recorded in docs/testing.md.
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  vitest: { configFile: 'vitest.unit.config.ts', related: false },
  mutate: [
    'packages/worker/src/engine/transitions.ts',
    'packages/worker/src/engine/ops.ts',
    'packages/worker/src/engine/record.ts',
    'packages/worker/src/scheduler/assign.ts',
    'packages/worker/src/scheduler/heap.ts',
    'packages/worker/src/layout.ts',
    'packages/worker/src/log-events.ts',
  ],
  reporters: ['clear-text', 'progress', 'json'],
  jsonReporter: { fileName: '.zkjobs/mutation/report.json' },
  tempDirName: '.stryker-tmp',
  thresholds: { high: 90, low: 80, break: 80 },
  concurrency: 2,
  timeoutMS: 20_000,
};
