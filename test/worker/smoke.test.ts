import { describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { Queue, Worker } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { cleanupAfterAll, testLogger } from '../support/fixtures.js';

const logger = testLogger;

describe('engine smoke', () => {
  const cleanup = cleanupAfterAll();

  it('two in-process workers complete 200 jobs once each', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const runs = new Map<string, number>();
    const mk = () =>
      new Worker(
        zkConnect,
        {
          echo: async (job: { id: string; data: { n: number } }) => {
            runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
            return job.data.n * 2;
          },
        },
        { namespace, concurrency: 4, logger, sessionTimeoutMs: 4000, safetyPollMs: Number(process.env['POLL'] ?? 500) },
      );
    const w1 = mk();
    const w2 = mk();
    cleanup(
      () => w1.close({ graceMs: 100 }),
      () => w2.close({ graceMs: 100 }),
    );
    await w1.start();
    await w2.start();
    await waitFor(() => w1.isLeader() || w2.isLeader(), 5000, 25, 'a leader');
    const queue = new Queue(client, { namespace, logger });
    const jobs = await queue.addBulk(Array.from({ length: 200 }, (_, n) => ({ type: 'echo', data: { n } })));
    const t0 = Date.now();
    await waitFor(() => runs.size === 200, 8_000, 25, 'all jobs run');
    const done = await queue.waitUntilFinished(jobs[7]!.id, { timeoutMs: 5000 });
    expect(done.result).toBe(14);
    expect([...runs.values()].every((v) => v === 1)).toBe(true);
    const completed = await queue.getJobs({ state: 'completed' });
    expect(completed.length).toBe(200);
    console.log(`200 jobs in ${Date.now() - t0} ms; stats`, w1.stats(), w2.stats());
  });
});
