// Volume: 5,000 jobs through addBulk (no packet-limit errors, no huge parent), large payloads
// split over several multis, and retention of finished jobs.
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { BUCKETS, Queue, Worker, createLogger } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
let client: ZkClient;
const workers: Worker[] = [];

afterAll(async () => {
  for (const w of workers) await w.close({ graceMs: 200 }).catch(() => undefined);
  await client?.close();
});

async function connect(): Promise<ZkClient> {
  client ??= await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  return client;
}

describe('volume', () => {
  it('5,000 jobs in one addBulk: written without packet-limit errors, processed exactly once, no parent grows large', async () => {
    const c = await connect();
    const namespace = fileNamespace(import.meta.filename);
    const ns = c.usingNamespace(namespace);
    const queue = new Queue(c, { namespace, logger });
    const N = 5000;
    const t0 = Date.now();
    const jobs = await queue.addBulk(
      Array.from({ length: N }, (_, i) => ({ type: 'noop', data: { i, pad: 'x'.repeat(100) } })),
    );
    const submitMs = Date.now() - t0;
    expect(jobs).toHaveLength(N);
    // Pending markers (≤ 50 jobs each) are spread over the buckets: no huge parent.
    let markers = 0;
    let biggestBucket = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const { children } = await ns.getChildren(`/pending/${b.toString(16).padStart(2, '0')}`);
      markers += children.length;
      biggestBucket = Math.max(biggestBucket, children.length);
    }
    expect(markers).toBe(N / 50);
    expect(biggestBucket).toBeLessThan(20);
    let runs = 0;
    const seen = new Set<string>();
    for (let i = 0; i < 2; i++) {
      const w = new Worker(
        c,
        { noop: async (job) => void (runs++, seen.add(job.id)) },
        { namespace, logger, concurrency: 16 },
      );
      workers.push(w);
      await w.start();
    }
    // While they run, a consumer's queue never holds more than its prefetch.
    let maxQueued = 0;
    const sampler = setInterval(() => {
      for (const w of workers) {
        ns.getChildren(`/queue/${w.name!}`).then(
          async ({ children }) => {
            let n = 0;
            for (const a of children.filter((x) => x.startsWith('a-'))) {
              const d = await ns.getData(`/queue/${w.name!}/${a}`).catch(() => null);
              if (d) n += (JSON.parse(d.data.toString()) as { j: unknown[] }).j.length;
            }
            maxQueued = Math.max(maxQueued, n);
          },
          () => undefined,
        );
      }
    }, 100);
    try {
      await waitFor(() => seen.size === N, 80_000, 50, 'all jobs run');
    } finally {
      clearInterval(sampler);
    }
    const totalMs = Date.now() - t0;
    console.log(
      `5,000 jobs: submit ${submitMs} ms, all run ${totalMs} ms (${Math.round((N * 1000) / totalMs)} jobs/s); max queued per worker ${maxQueued}`,
    );
    expect(runs).toBe(N);
    expect(maxQueued).toBeLessThanOrEqual(workers[0]!.prefetch);
    await waitFor(
      async () => (await queue.getJobs({ state: 'completed' })).length === N,
      20_000,
      500,
      'records completed',
    );
  }, 90_000);

  it('payloads near the cap are split over several multis; retention removes finished records', async () => {
    const c = await connect();
    const namespace = fileNamespace(import.meta.filename);
    const queue = new Queue(c, { namespace, logger });
    const big = 'y'.repeat(200_000);
    const jobs = await queue.addBulk(Array.from({ length: 8 }, (_, i) => ({ type: 'keep', data: { i, big } })));
    expect((await queue.getJobs()).length).toBe(8);
    const w = new Worker(
      c,
      {
        keep: async (job) => (job.data as { i: number }).i,
        drop: async () => 'gone',
        bad: async () => {
          throw new Error('x');
        },
      },
      { namespace, logger },
    );
    workers.push(w);
    await w.start();
    await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 20_000 })));
    const completed: string[] = [];
    w.on('completed', (job) => completed.push(job.id));
    const drop = await queue.add('drop', {}, { removeOnComplete: true });
    const bad = await queue.add('bad', {}, { removeOnFail: true });
    const kept = await queue.add('drop', {});
    await waitFor(
      async () => (await queue.getJob(drop.id)) === null && (await queue.getJob(bad.id)) === null,
      10_000,
      50,
      'removed',
    );
    await queue.waitUntilFinished(kept.id, { timeoutMs: 10_000 });
    expect(completed).toContain(drop.id);
    expect((await queue.getJob(kept.id))!.state).toBe('completed');
    // Retention by age (ZooKeeper's clock): kept for `age` ms after finishing, then deleted.
    const aged = await queue.add('drop', {}, { removeOnComplete: { age: 1000 } });
    const agedFail = await queue.add('bad', {}, { removeOnFail: { age: 1000 } });
    const long = await queue.add('drop', {}, { removeOnComplete: { age: 60_000 } });
    await queue.waitUntilFinished(aged.id, { timeoutMs: 10_000 });
    await queue.waitUntilFinished(long.id, { timeoutMs: 10_000 });
    const finishedAt = Date.now();
    expect((await queue.getJob(aged.id))?.state).toBe('completed');
    await waitFor(
      async () => (await queue.getJob(aged.id)) === null && (await queue.getJob(agedFail.id)) === null,
      10_000,
      50,
      'aged out',
    );
    expect(Date.now() - finishedAt).toBeGreaterThanOrEqual(600);
    expect((await queue.getJob(long.id))?.state).toBe('completed');
  }, 60_000);
});
