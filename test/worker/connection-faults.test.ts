// Connection faults between one worker and ZooKeeper (a TCP proxy the test controls): dropped
// connections within the session, and a cut longer than the session timeout. Every job still
// completes exactly once, and none is left stuck.
import { afterAll, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { TcpProxy } from '@zkjobs/core/testing';
import { Queue, Worker, createLogger, type Job } from '@zkjobs/worker';
import { fileNamespace, sleep, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
});

function expectCompletedOnce(jobs: Job[], n: number): void {
  expect(jobs.length).toBe(n);
  const bad = jobs.filter(
    (j) => j.state !== 'completed' || j.history.filter((h) => h.outcome === 'completed').length !== 1,
  );
  expect(bad.map((j) => ({ id: j.id, state: j.state, history: j.history }))).toEqual([]);
}

async function setup(sessionTimeoutMs: number) {
  const [host, port] = zkConnect.split(',')[0]!.split(':');
  const proxy = await TcpProxy.start(host!, Number(port));
  cleanup.push(() => proxy.close());
  const namespace = fileNamespace(import.meta.filename);
  const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  cleanup.push(() => client.close());
  const queue = new Queue(client, { namespace, logger });
  const handlers = { work: async (job: Job<{ ms: number }>) => sleep(job.data.ms) };
  const direct = new Worker(zkConnect, handlers, { namespace, logger, concurrency: 8, sessionTimeoutMs: 4000 });
  const proxied = new Worker(proxy.address, handlers, { namespace, logger, concurrency: 8, sessionTimeoutMs });
  cleanup.push(
    () => direct.close({ graceMs: 100 }),
    () => proxied.close({ graceMs: 100 }),
  );
  await proxied.start(); // the proxied worker leads (lowest w- znode)
  await direct.start();
  return { proxy, queue, direct, proxied };
}

describe('connection faults', () => {
  it('connections dropped and re-made within the session: every job completes exactly once', async () => {
    const { proxy, queue, proxied } = await setup(4000);
    const jobs = await queue.addBulk(Array.from({ length: 300 }, (_, i) => ({ type: 'work', data: { i, ms: 15 } })));
    for (let i = 0; i < 5; i++) {
      await sleep(300);
      proxy.reset();
    }
    await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 40_000 })));
    expectCompletedOnce(await queue.getJobs(), 300);
    expect(proxied.stats()['completed']).toBeGreaterThan(0);
  }, 60_000);

  it('a cut longer than the session timeout: the cut worker loses its claims, they are re-run elsewhere, each job completes once', async () => {
    const { proxy, queue, proxied } = await setup(2000);
    const stalled: string[] = [];
    proxied.on('stalled', (id) => stalled.push(id));
    // A run whose worker's session ends uses an attempt: 3 leave room for the cut.
    const jobs = await queue.addBulk(
      Array.from({ length: 200 }, (_, i) => ({ type: 'work', data: { i, ms: 100 }, opts: { attempts: 3 } })),
    );
    await sleep(500);
    proxy.cut();
    await sleep(3500);
    proxy.heal();
    await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 40_000 })));
    const all = await queue.getJobs();
    expectCompletedOnce(all, 200);
    const requeued = all.filter((j) => j.history.some((h) => h.outcome === 'requeued'));
    console.log(`cut worker: ${stalled.length} claims lost; ${requeued.length} jobs requeued`);
    expect(requeued.length).toBeGreaterThan(0);
  }, 60_000);
});
