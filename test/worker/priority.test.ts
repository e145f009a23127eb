import { describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { BUCKETS, Queue, Worker, queueDir } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { cleanupAfterAll, testLogger } from '../support/fixtures.js';

const logger = testLogger;

describe('priority', () => {
  const cleanup = cleanupAfterAll();

  it('holds among jobs already handed to a busy worker (within its prefetch), not only in ZooKeeper', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const view = client.usingNamespace(namespace);
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    const order: number[] = [];
    const worker = new Worker(
      client,
      {
        block: async () => blocker,
        work: async (job: { data: { p: number } }) => void order.push(job.data.p),
      },
      { namespace, concurrency: 1, logger },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    await waitFor(() => worker.isLeader(), 5000, 25, 'the leader');
    const queue = new Queue(client, { namespace, logger });
    const first = await queue.add('block', null);
    await waitFor(async () => (await queue.getJob(first.id))?.state === 'active', 10_000, 25, 'the blocker to run');

    // One at a time, as separate submissions: each is assigned to the busy worker at once.
    const ids: string[] = [];
    for (const p of [50, 10, 1000, 0, 5]) ids.push((await queue.add('work', { p }, { priority: p })).id);
    // Wait until all five sit in the worker's own queue (assigned, not yet claimed).
    await waitFor(
      async () => {
        const dir = queueDir(worker.name!);
        const { children } = await view.getChildren(dir);
        const assigned = new Set<string>();
        for (const c of children.filter((n) => n.startsWith('a-'))) {
          const doc = JSON.parse((await view.getData(`${dir}/${c}`)).data.toString()) as { j: [string][] };
          for (const [id] of doc.j) assigned.add(id);
        }
        return ids.every((id) => assigned.has(id));
      },
      10_000,
      25,
      'the five jobs to be assigned to the worker',
    );
    release();
    await Promise.all(ids.map((id) => queue.waitUntilFinished(id, { timeoutMs: 15_000 })));
    expect(order).toEqual([0, 5, 10, 50, 1000]);
  });
  it('a bulk of equal priority runs in submit order (its markers share a czxid; each is taken whole, in order)', async () => {
    const namespace = `${fileNamespace(import.meta.filename)}-fifo`;
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const order: number[] = [];
    const worker = new Worker(
      client,
      { work: async (job: { data: { n: number } }) => void order.push(job.data.n) },
      {
        namespace,
        concurrency: 1,
        logger,
      },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    // Submitted before any worker runs: 400 jobs in 8 markers of 50 created by one multi.
    const queue = new Queue(client, { namespace, logger });
    await queue.addBulk(Array.from({ length: 400 }, (_, n) => ({ type: 'work', data: { n } })));
    const view = client.usingNamespace(namespace);
    expect(await markerCount(view)).toBe(8);
    await worker.start();
    await waitFor(() => order.length === 400, 20_000, 10, 'all 400 jobs to run');
    expect(order).toEqual(Array.from({ length: 400 }, (_, n) => n));
    expect(await markerCount(view)).toBe(0);
  });
});

async function markerCount(view: ZkClient): Promise<number> {
  let n = 0;
  for (let b = 0; b < BUCKETS; b++) {
    n += (await view.getChildren(`/pending/${b.toString(16).padStart(2, '0')}`)).children.length;
  }
  return n;
}
