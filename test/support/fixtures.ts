/**
 * Set-up shared by the engine's integration tests: a quiet logger, cleanups run after a file's
 * tests, and a client of the shared server. Each test file still works under its own namespace
 * (`fileNamespace` in `zk.ts`).
 */
import { afterAll } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { createLogger } from '@zkjobs/worker';
import { zkConnect } from './zk.js';

/** The engine's logger in tests: silent unless `TEST_LOG_LEVEL` names a level. */
export const testLogger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');

/**
 * Registers an `afterAll` that runs the cleanups given to the returned function, the last one
 * first; a cleanup that throws does not stop the others.
 */
export function cleanupAfterAll(): (...fns: (() => Promise<unknown>)[]) => void {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });
  return (...fns) => void cleanups.push(...fns);
}

/**
 * A client of the shared server (4 s session), closed by `cleanup`.
 * @param cleanup - from {@link cleanupAfterAll}
 */
export async function sharedClient(cleanup: (...fns: (() => Promise<unknown>)[]) => void): Promise<ZkClient> {
  const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  cleanup(() => client.close());
  return client;
}
