import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { inject } from 'vitest';
import { zookeeperInstalled } from '@zkjobs/core/testing';

/** Connect string of the run's shared ZooKeeper server. */
export const zkConnect: string = inject('zkConnect');

/** True when this machine can start its own servers (TestingServer / TestingCluster). */
export const canStartServers: boolean = zookeeperInstalled();

/**
 * A namespace (root path) unique to one test file and run: `/t/<file>-<random>`.
 * @param file - usually `import.meta.filename`
 */
export function fileNamespace(file: string): string {
  const name = basename(file)
    .replace(/\.test\.ts$/, '')
    .replace(/[^A-Za-z0-9_-]/g, '_');
  return `/t/${name}-${randomBytes(4).toString('hex')}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `predicate` every `intervalMs` until it is truthy or `timeoutMs` passes. */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  timeoutMs = 10_000,
  intervalMs = 25,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await predicate();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
