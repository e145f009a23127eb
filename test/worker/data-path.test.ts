/**
 * What the data path sends per job: claims read their records in multiReads, and an assignment
 * whose jobs are all settled is deleted inside the completion multi of its last jobs. Counted by
 * the worker's own client (`ZkClient.requestStats`), so these are facts about requests, not
 * timings.
 */
import { describe, expect, it } from 'vitest';
import { Queue, Worker } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { cleanupAfterAll, sharedClient, testLogger } from '../support/fixtures.js';

describe('data path requests', () => {
  const cleanup = cleanupAfterAll();

  it('a worker reads no record per job and sends no delete of its own per assignment', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await sharedClient(cleanup);
    const runs = new Map<string, number>();
    const worker = new Worker(
      zkConnect,
      {
        noop: async (job: { id: string }) => {
          runs.set(job.id, (runs.get(job.id) ?? 0) + 1);
        },
      },
      { namespace, concurrency: 4, logger: testLogger, sessionTimeoutMs: 4000 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    await waitFor(() => worker.isLeader(), 5000, 25, 'leader');
    const queue = new Queue(client, { namespace, logger: testLogger });
    const before = worker.zk!.requestStats();
    const n = 300;
    await queue.addBulk(Array.from({ length: n }, () => ({ type: 'noop', data: {} })));
    await waitFor(async () => (await queue.getJobCounts('completed')).completed === n, 20_000, 50, 'all completed');
    const after = worker.zk!.requestStats();
    const sent = (op: string): number => (after.requests[op] ?? 0) - (before.requests[op] ?? 0);
    expect(runs.size).toBe(n);
    expect([...runs.values()].every((v) => v === 1)).toBe(true);
    // Records come in multiReads of many: far fewer requests than jobs.
    expect(sent('multiRead')).toBeGreaterThan(0);
    expect(sent('getData')).toBeLessThan(n / 4);
    // Every assignment znode is gone, and none was deleted by a request of its own.
    expect(sent('delete')).toBe(0);
    const queues = (await client.getChildren(`${namespace}/queue`)).children;
    for (const q of queues) {
      const left = (await client.getChildren(`${namespace}/queue/${q}`)).children;
      expect(left.filter((c) => c.startsWith('a-') /* assignments (docs/architecture.md, Tree) */)).toEqual([]);
    }
  });

  it('an idle leader claims its own jobs inside the assignment multi: one write between submit and start', async () => {
    const namespace = `${fileNamespace(import.meta.filename)}-local`;
    const client = await sharedClient(cleanup);
    const seen: { id: string; token: number; attempt: number }[] = [];
    const worker = new Worker(
      zkConnect,
      {
        noop: async (job: { id: string }, { token, attempt }: { token: number; attempt: number }) => {
          seen.push({ id: job.id, token, attempt });
        },
      },
      { namespace, concurrency: 2, logger: testLogger, sessionTimeoutMs: 4000 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    await waitFor(() => worker.isLeader(), 5000, 25, 'leader');
    const queue = new Queue(client, { namespace, logger: testLogger });
    const n = 5;
    for (let i = 0; i < n; i++) {
      // One at a time, each on an idle worker.
      const job = await queue.add('noop', { i });
      const done = await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });
      expect(done.state).toBe('completed');
      expect(done.history).toHaveLength(1);
      expect(done.history[0]).toMatchObject({ attempt: 1, outcome: 'completed', worker: worker.name });
    }
    const stats = worker.stats();
    expect(stats['localClaims']).toBe(n);
    // The leader read each job's record with its marker (the marker's name gives the id): no read of its own.
    expect(stats['prefetchedClaims']).toBe(n);
    expect(stats['claimed']).toBe(n);
    // The consumer made no claim multi of its own, and read no record to claim.
    expect(stats['claimMultis']).toBe(0);
    expect(stats['recordReads']).toBe(0);
    // A token per claim: the record's version after the claim (created at 0, claimed once).
    expect(seen.map((s) => [s.token, s.attempt])).toEqual(Array.from({ length: n }, () => [1, 1]));
  });

  it('records too big to read together are read in smaller multiReads (the reply limit is 1 MiB)', async () => {
    const namespace = `${fileNamespace(import.meta.filename)}-big`;
    const client = await sharedClient(cleanup);
    const done = new Set<string>();
    const worker = new Worker(
      zkConnect,
      {
        big: async (job: { id: string; data: { blob: string } }) => {
          done.add(job.id);
          return job.data.blob.length;
        },
      },
      { namespace, concurrency: 8, logger: testLogger, sessionTimeoutMs: 4000, autorun: false },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    const queue = new Queue(client, { namespace, logger: testLogger });
    // Submitted before the worker starts, so its first claim takes all eight (1.6 MB of records) at once.
    const jobs = await queue.addBulk(
      Array.from({ length: 8 }, (_, n) => ({ type: 'big', data: { blob: String(n).repeat(200_000) } })),
    );
    await worker.start();
    await waitFor(() => done.size === 8, 20_000, 50, 'all eight ran');
    for (const j of jobs) expect((await queue.waitUntilFinished(j.id, { timeoutMs: 10_000 })).result).toBe(200_000);
  });
});
