import { describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { JobValidationError, Queue, QueueFullError } from '@zkjobs/worker';
import { fileNamespace, zkConnect } from '../support/zk.js';
import { cleanupAfterAll, testLogger } from '../support/fixtures.js';
import { expectTreeUnchanged } from '../support/tree-dump.js';

const logger = testLogger;

describe('Queue maxBacklog', () => {
  const cleanup = cleanupAfterAll();

  it('refuses adds past the bound of waiting and delayed jobs with QueueFullError, writing nothing', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const queue = new Queue(client, { namespace, logger, maxBacklog: 5 });
    const unbounded = new Queue(client, { namespace, logger });

    await queue.add('t', { n: 1 }, { jobId: 'first' });
    await unbounded.add('t', { n: 2 }, { delay: 60_000 }); // delayed jobs count too
    await queue.add('other-type', { n: 3 }); // every type counts
    expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 2, delayed: 1 });

    const err = await expectTreeUnchanged(client, namespace, () =>
      queue.addBulk([{ type: 't' }, { type: 't' }, { type: 't' }]).catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(QueueFullError);
    const full = err as QueueFullError;
    expect([full.backlog, full.maxBacklog, full.adding]).toEqual([3, 5, 3]);
    expect(full.message).toBe(
      'queue full: 3 jobs waiting or delayed, and 3 more would pass maxBacklog 5; nothing was added',
    );

    await queue.addBulk([{ type: 't' }, { type: 't' }]); // exactly the bound
    await expectTreeUnchanged(client, namespace, async () => {
      await expect(queue.add('t', {})).rejects.toBeInstanceOf(QueueFullError);
      // An existing jobId writes nothing, so it is not refused: the job is returned.
      expect((await queue.add('t', {}, { jobId: 'first' })).created).toBe(false);
    });
    expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 4, delayed: 1 });

    // Room again once a job leaves the backlog.
    expect(await queue.cancel('first')).toBe(true);
    await queue.add('t', {});
    await expect(queue.add('t', {})).rejects.toBeInstanceOf(QueueFullError);
  });

  it('a bad bound is a JobValidationError naming the option', () => {
    expect(() => new Queue(zkConnect, { maxBacklog: 0 })).toThrow(JobValidationError);
    expect(() => new Queue(zkConnect, { maxBacklog: 1.5 })).toThrow(/maxBacklog/);
  });
});
