import type { TestProject } from 'vitest/node';
import { TestingServer } from '@zkjobs/core/testing';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Connect string of the shared server (or of `$ZK_CONNECT`). */
    zkConnect: string;
  }
}

let server: TestingServer | undefined;

/**
 * Starts one shared standalone ZooKeeper server for the whole run (tickTime 500 ms), unless
 * `ZK_CONNECT` points at an existing ensemble. Each test file works under its own namespace
 * (see `test/support/zk.ts`), so files never see each other's znodes.
 */
export async function setup(project: TestProject): Promise<void> {
  const external = process.env['ZK_CONNECT'];
  if (external) {
    project.provide('zkConnect', external);
    return;
  }
  server = await TestingServer.start({ tickTime: 500 });
  project.provide('zkConnect', server.connectString);
}

export async function teardown(): Promise<void> {
  await server?.close();
}
