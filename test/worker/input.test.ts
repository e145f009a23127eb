// Bad input to the engine's library API: namespaces a cluster cannot live in, reads and rejected
// submits under a namespace that does not exist (they write nothing), payloads JSON would change,
// and a generated id that collides with an existing job.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { JobNotFoundError, JobValidationError, Queue, Worker, jobPath } from '@zkjobs/worker';
import { cleanupAfterAll, sharedClient, testLogger as logger } from '../support/fixtures.js';
import { fileNamespace } from '../support/zk.js';

const cleanup = cleanupAfterAll();

afterEach(() => {
  vi.restoreAllMocks();
});

describe('namespaces', () => {
  it.each([
    ['/', /\/ cannot hold a zkjobs cluster/],
    ['/zookeeper', /under \/zookeeper, ZooKeeper's reserved tree/],
    ['/zookeeper/x', /under \/zookeeper, ZooKeeper's reserved tree/],
    ['relative/ns', /not an absolute znode path/],
    ['/a/', /ends with \//],
    ['/a//b', /empty, \. or \.\. segment/],
  ])('Queue and Worker refuse %s, naming the option', async (ns, why) => {
    const client = await sharedClient(cleanup);
    for (const make of [
      () => new Queue(client, { namespace: ns, logger }),
      () => new Worker(client, { t: async () => null }, { namespace: ns, logger }),
    ]) {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(JobValidationError);
      expect((err as JobValidationError).field).toBe('options.namespace');
      expect((err as Error).message).toMatch(why);
    }
  });
});

describe('a namespace that does not exist', () => {
  it('reads, cancels, waits and a submit refused for a missing dependency write nothing', async () => {
    const client = await sharedClient(cleanup);
    const ns = `${fileNamespace(import.meta.filename)}-typo`;
    const queue = new Queue(client, { namespace: ns, logger });
    expect(await queue.getJob('nope')).toBeNull();
    expect(await queue.getJobs()).toEqual([]);
    await expect(queue.cancel('nope')).rejects.toThrow(JobNotFoundError);
    await expect(queue.waitUntilFinished('nope', { timeoutMs: 10_000 })).rejects.toThrow(JobNotFoundError);
    await expect(queue.add('t', {}, { dependsOn: ['no-such-job'] })).rejects.toThrow(
      /opts\.dependsOn: no job no-such-job/,
    );
    await expect(queue.add('t', { n: NaN })).rejects.toThrow(JobValidationError);
    expect(await client.exists(ns)).toBeNull();
  });
});

describe('payloads', () => {
  it.each([
    [{ n: NaN }, /data\.n is NaN, which JSON stores as null/],
    [{ at: new Date(0) }, /data\.at is a Date/],
    [{ m: new Map([[1, 2]]) }, /data\.m is a Map/],
    [[1, undefined], /data\[1\] is undefined/],
    [{ f: () => 1 }, /data\.f is a function/],
  ])('%o is refused before anything is written, naming where', async (data, why) => {
    const client = await sharedClient(cleanup);
    const ns = fileNamespace(import.meta.filename);
    const queue = new Queue(client, { namespace: ns, logger });
    const err = await queue.add('t', data).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobValidationError);
    expect((err as JobValidationError).field).toBe('data');
    expect((err as Error).message).toMatch(why);
    expect(await client.exists(ns)).toBeNull();
  });
});

describe('generated ids', () => {
  it('a generated id that collides with an existing job gets a new id; the other job is left alone', async () => {
    const root = await sharedClient(cleanup);
    const ns = fileNamespace(import.meta.filename);
    const queue = new Queue(root, { namespace: ns, logger });
    // Freeze the clock and the randomness of generated ids: successive ids differ by a counter only.
    vi.spyOn(Date, 'now').mockReturnValue(1_800_000_000_000);
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const first = await queue.add('t', { n: 1 });
    const [head, tail] = first.id.split('-') as [string, string];
    const counter = parseInt(tail.slice(0, 4), 36);
    const next = `${head}-${(counter + 1).toString(36).padStart(4, '0')}${tail.slice(4)}`;
    // Another job already holds the id the generator gives next.
    const other = await queue.add('other', { mine: true }, { jobId: next });
    expect(other.created).toBe(true);
    const second = await queue.add('t', { n: 2 });
    expect(second.created).toBe(true);
    expect(second.id).not.toBe(next);
    expect(second.type).toBe('t');
    expect((await queue.getJob(second.id))!.data).toEqual({ n: 2 });
    const kept = (await queue.getJob(next))!;
    expect(kept.type).toBe('other');
    expect(kept.data).toEqual({ mine: true });
    expect(jobPath(second.id)).not.toBe(jobPath(next));
  });
});
