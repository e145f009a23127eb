import { describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { Queue, Worker } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { cleanupAfterAll, testLogger } from '../support/fixtures.js';

const logger = testLogger;

describe('leadership handover', () => {
  const cleanup = cleanupAfterAll();

  it('the next in line takes over a graceful close with the pending jobs it watched as a standby, and schedules them and new ones once each', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const runs = new Map<string, string[]>();
    const handler = (who: string) => async (job: { id: string }) => {
      runs.set(job.id, [...(runs.get(job.id) ?? []), who]);
    };
    const mk = (who: string, types: string[]) => {
      const w = new Worker(zkConnect, Object.fromEntries(types.map((t) => [t, handler(who)])), {
        namespace,
        concurrency: 2,
        logger,
        sessionTimeoutMs: 4000,
        // No safety re-listing within the test: what the new leader knows comes from its watches.
        safetyPollMs: 60_000,
        autorun: false, // started in the order that decides who leads
      });
      cleanup(() => w.close({ graceMs: 100 }));
      return w;
    };
    // a leads; b is next in line. Neither handles 'late', so those jobs wait in pending markers.
    const a = mk('a', ['now']);
    const b = mk('b', ['now']);
    await a.start();
    await waitFor(() => a.isLeader(), 5000, 10, 'a to lead');
    await b.start();
    const queue = new Queue(client, { namespace, logger });
    const waiting = await queue.addBulk(Array.from({ length: 30 }, (_, n) => ({ type: 'late', data: { n } })));
    const first = await queue.addBulk(Array.from({ length: 10 }, (_, n) => ({ type: 'now', data: { n } })));
    await waitFor(() => first.every((j) => runs.has(j.id)), 8000, 10, 'the first jobs to run');

    let elected = 0;
    b.on('leader-elected', () => elected++);
    await a.close({ graceMs: 1000 });
    const after = await queue.add('now', { n: 99 });
    await waitFor(() => b.isLeader() && elected === 1, 5000, 10, 'b to take over');
    await waitFor(() => runs.has(after.id), 5000, 10, 'the job submitted after the close to run');
    expect(runs.get(after.id)).toEqual(['b']);

    // A worker for 'late' joins: the new leader hands it the jobs that were waiting before it led.
    const c = mk('c', ['late']);
    await c.start();
    await waitFor(() => waiting.every((j) => runs.has(j.id)), 8000, 10, "the waiting 'late' jobs to run");
    for (const j of [...waiting, ...first, after]) expect(runs.get(j.id)).toHaveLength(1);
    expect(new Set(waiting.map((j) => runs.get(j.id)![0]))).toEqual(new Set(['c']));
    const completed = await queue.getJobs({ state: 'completed' });
    expect(completed.length).toBe(41);
  });
});
