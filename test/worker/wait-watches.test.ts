import { describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { Queue, Worker } from '@zkjobs/worker';
import { fileNamespace, serverWatches, waitFor, zkConnect } from '../support/zk.js';
import { cleanupAfterAll, testLogger } from '../support/fixtures.js';

const logger = testLogger;

describe('waitUntilFinished', () => {
  const cleanup = cleanupAfterAll();

  it('200 waits that resolved leave no watch on the server and none in the client', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const worker = new Worker(
      zkConnect,
      { echo: async (job: { data: { n: number } }) => job.data.n * 2 },
      {
        namespace,
        concurrency: 8,
        logger,
        sessionTimeoutMs: 4000,
      },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    await waitFor(() => worker.isLeader(), 5000, 25, 'the worker to lead');
    const queue = new Queue(client, { namespace, logger });
    const before = await serverWatches(client);

    const jobs = await queue.addBulk(Array.from({ length: 200 }, (_, n) => ({ type: 'echo', data: { n } })));
    // Waits made while the jobs run (some answered by a watch event, most by their first read) …
    const early = await Promise.all(
      jobs.slice(0, 100).map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 30_000 })),
    );
    // … and waits on jobs already finished (answered by the read that armed the watch).
    const late = await Promise.all(jobs.slice(100).map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 30_000 })));
    expect([...early, ...late].map((j) => j.result)).toEqual(jobs.map((_, n) => n * 2));

    const after = await serverWatches(client);
    expect(after.filter((p) => p.includes('/jobs/'))).toEqual([]);
    expect(after.length).toBe(before.length);
    const mine = client.watchersForTesting();
    const jobPaths = (l: string[]) => l.filter((p) => p.includes('/jobs/'));
    expect([mine.client.data, mine.client.exist, mine.library.data, mine.library.exist].map(jobPaths)).toEqual([
      [],
      [],
      [],
      [],
    ]);
  }, 60_000);
});
