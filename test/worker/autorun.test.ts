// A Worker starts when constructed (BullMQ's `autorun`, default true); `autorun: false` waits
// for start(); a worker closed while starting leaves no registration behind.
import { describe, expect, it } from 'vitest';
import { Queue, Worker, JobValidationError } from '@zkjobs/worker';
import { cleanupAfterAll, sharedClient, testLogger as logger } from '../support/fixtures.js';
import { fileNamespace } from '../support/zk.js';

describe('Worker autorun', () => {
  const cleanup = cleanupAfterAll();

  it('a constructed Worker runs jobs without start(); start() then joins the same start', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-on';
    const queue = new Queue(client, { namespace, logger });
    const job = await queue.add('t', { n: 1 });
    const worker = new Worker(client, { t: async (j) => j.data }, { namespace, logger });
    cleanup(() => worker.close({ graceMs: 100 }));
    expect(await queue.waitUntilFinished(job.id, { timeoutMs: 20_000 })).toMatchObject({ result: { n: 1 } });
    await worker.start(); // idempotent: the autorun's start
    expect(worker.name).toMatch(/^w-\d{10}$/);
    await worker.close({ graceMs: 100 });
    await expect(worker.start()).resolves.toBeUndefined(); // the same, settled start
    expect(() => new Worker(client, { t: async () => 1 }, { namespace, autorun: 'yes' as unknown as boolean })).toThrow(
      JobValidationError,
    );
  });

  it('autorun: false registers nothing until start()', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-off';
    const queue = new Queue(client, { namespace, logger });
    const job = await queue.add('t', {});
    const worker = new Worker(client, { t: async () => 'ran' }, { namespace, logger, autorun: false });
    cleanup(() => worker.close({ graceMs: 100 }));
    // Another worker's registration shows the namespace is live; ours is not there.
    const other = new Worker(client, { other: async () => 1 }, { namespace, logger });
    cleanup(() => other.close({ graceMs: 100 }));
    await other.start();
    const workers = async () => (await client.getChildren(`${namespace}/workers`)).children;
    expect(await workers()).toEqual([other.name]);
    expect((await queue.getJob(job.id))!.state).toBe('waiting');
    await worker.start();
    expect((await workers()).sort()).toEqual([other.name, worker.name].sort());
    expect(await queue.waitUntilFinished(job.id, { timeoutMs: 20_000 })).toMatchObject({ result: 'ran' });
  });

  it('a worker closed while its autorun start is in flight leaves no registration', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-close';
    const worker = new Worker(client, { t: async () => 1 }, { namespace, logger });
    await worker.close({ graceMs: 100 });
    await expect(worker.start()).rejects.toThrow(/closed/);
    const list = await client.getChildren(`${namespace}/workers`).catch(() => ({ children: [] as string[] }));
    expect(list.children).toEqual([]);
  });
});
