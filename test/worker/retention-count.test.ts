// Retention by count (BullMQ's `{ count }`): only the newest N finished records of a kind stay;
// with `{ age }` beside it, whichever bound comes first. And a record retried by the operator is
// never deleted by the retention marker of its earlier finish.
import { describe, expect, it } from 'vitest';
import { JobValidationError, Queue, UnrecoverableError, Worker, type Job } from '@zkjobs/worker';
import { cleanupAfterAll, sharedClient, testLogger as logger } from '../support/fixtures.js';
import { fileNamespace, waitFor } from '../support/zk.js';

describe('retention by count', () => {
  const cleanup = cleanupAfterAll();

  it('keeps exactly the newest N completed and the newest M failed/dead records; counts follow', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-count';
    const queue = new Queue(client, { namespace, logger });
    const worker = new Worker(
      client,
      {
        ok: async (job) => job.id,
        bad: async () => Promise.reject(new UnrecoverableError('no')),
        flaky: async () => Promise.reject(new Error('no')),
      },
      { namespace, logger, concurrency: 1 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();

    // One at a time, so the finish order is the submit order.
    const oks: Job[] = [];
    for (let i = 0; i < 8; i++) {
      const j = await queue.add('ok', {}, { removeOnComplete: { count: 3 } });
      await queue.waitUntilFinished(j.id);
      oks.push(j);
    }
    const fails: Job[] = [];
    for (let i = 0; i < 5; i++) {
      const j =
        i % 2 === 0
          ? await queue.add('bad', {}, { removeOnFail: { count: 2 } })
          : await queue.add('flaky', {}, { removeOnFail: { count: 2 } });
      await queue.waitUntilFinished(j.id).catch(() => undefined);
      fails.push(j);
    }
    const ids = async (): Promise<string[]> => (await queue.getJobs()).map((j) => j.id).sort();
    const expected = [...oks.slice(-3), ...fails.slice(-2)].map((j) => j.id).sort();
    await waitFor(async () => (await ids()).length === expected.length, 15_000, 50, 'prune by count');
    expect(await ids()).toEqual(expected);
    expect(await queue.getJobCounts('completed', 'failed', 'dead')).toEqual({ completed: 3, failed: 1, dead: 1 });

    // One more completion pushes out the oldest kept one, and only that one.
    const more = await queue.add('ok', {}, { removeOnComplete: { count: 3 } });
    await queue.waitUntilFinished(more.id);
    await waitFor(async () => (await queue.getJob(oks[5]!.id)) === null, 15_000, 50, 'oldest kept pruned');
    expect(await ids()).toEqual([...oks.slice(-2), more, ...fails.slice(-2)].map((j) => j.id).sort());
    expect(await queue.getJobCounts('completed')).toEqual({ completed: 3 });
  });

  it('with { age, count } both bounds hold; a retried record outlives the marker of its earlier finish', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-both';
    const queue = new Queue(client, { namespace, logger });
    let failing = true;
    const worker = new Worker(
      client,
      {
        ok: async () => 1,
        flaky: async () => {
          if (failing) throw new UnrecoverableError('no');
          return 2;
        },
      },
      { namespace, logger, concurrency: 1 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();

    // count 2, age long: the count prunes.
    const byCount: Job[] = [];
    for (let i = 0; i < 4; i++) {
      const j = await queue.add('ok', {}, { removeOnComplete: { age: 600_000, count: 2 } });
      await queue.waitUntilFinished(j.id);
      byCount.push(j);
    }
    await waitFor(async () => (await queue.getJob(byCount[1]!.id)) === null, 15_000, 50, 'count prune');
    expect(await queue.getJob(byCount[0]!.id)).toBeNull();
    expect(await queue.getJob(byCount[2]!.id)).not.toBeNull();
    // count large, age short: the age prunes.
    const byAge = await queue.add('ok', {}, { removeOnComplete: { age: 300, count: 1000 } });
    await queue.waitUntilFinished(byAge.id);
    await waitFor(async () => (await queue.getJob(byAge.id)) === null, 15_000, 50, 'age prune');
    expect(await queue.getJobCounts('completed')).toEqual({ completed: 2 });

    // A failed job with a short age is retried at once: the retention marker of its failure
    // must not delete the retried record (a later job of the same age shows the prune ran).
    const retried = await queue.add('flaky', {}, { removeOnFail: { age: 500 } });
    await expect(queue.waitUntilFinished(retried.id)).rejects.toThrow(/failed/);
    failing = false;
    await queue.retryJob(retried.id);
    await queue.waitUntilFinished(retried.id);
    failing = true;
    const witness = await queue.add('flaky', {}, { removeOnFail: { age: 500 } });
    await expect(queue.waitUntilFinished(witness.id)).rejects.toThrow(/failed/);
    await waitFor(async () => (await queue.getJob(witness.id)) === null, 15_000, 50, 'witness pruned');
    expect((await queue.getJob(retried.id))!.state).toBe('completed');
    expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 3, failed: 0 });
  });

  it("a job the leader fails (a failed dependency) is kept and removed by its own retention, as a worker's outcome is", async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-leader';
    const queue = new Queue(client, { namespace, logger });
    const worker = new Worker(
      client,
      { ok: async () => 1, bad: async () => Promise.reject(new UnrecoverableError('no')) },
      { namespace, logger, concurrency: 2 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    const parent = await queue.add('bad', {});
    const gone = await queue.add('ok', {}, { dependsOn: [parent.id], removeOnFail: true });
    const aged = await queue.add('ok', {}, { dependsOn: [parent.id], removeOnFail: { age: 300 } });
    const counted = await Promise.all(
      [0, 1, 2].map(() => queue.add('ok', {}, { dependsOn: [parent.id], removeOnFail: { count: 1 } })),
    );
    const kept = await queue.add('ok', {}, { dependsOn: [parent.id] });
    await expect(queue.waitUntilFinished(kept.id, { timeoutMs: 15_000 })).rejects.toThrow(/dependency .* ended failed/);
    await waitFor(
      async () => (await queue.getJob(gone.id)) === null && (await queue.getJob(aged.id)) === null,
      15_000,
      50,
      'removed by removeOnFail: true and { age }',
    );
    await waitFor(
      async () => (await Promise.all(counted.map((j) => queue.getJob(j.id)))).filter((j) => j !== null).length === 1,
      15_000,
      50,
      'removed by { count: 1 }',
    );
    expect((await queue.getJob(kept.id))!.state).toBe('failed');
    expect((await queue.getJob(parent.id))!.state).toBe('failed');
    await waitFor(
      async () => (await queue.getJobCounts('failed')).failed === 3,
      15_000,
      50,
      'counts: the parent, the one kept by count and the one with no retention',
    );
  });

  it('refuses bad values with an error naming the option, and writes nothing', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-bad';
    const queue = new Queue(client, { namespace, logger });
    const bad: [unknown, RegExp][] = [
      [{ count: 0 }, /opts\.removeOnComplete\.count: .*>=1/],
      [{ count: 1.5 }, /opts\.removeOnComplete: .*count an integer 1–100000.*expected int/],
      [{ count: 100_001 }, /opts\.removeOnComplete\.count: .*<=100000/],
      [{ count: '3' }, /opts\.removeOnComplete: .*got the object \{"count":"3"\}/],
      [{}, /opts\.removeOnComplete: needs age or count/],
      [{ count: 2, keep: 1 }, /opts\.removeOnComplete\.keep: unknown option/],
    ];
    for (const [v, re] of bad) {
      const p = queue.add('ok', {}, { removeOnComplete: v as { count: number } });
      await expect(p).rejects.toBeInstanceOf(JobValidationError);
      await expect(p).rejects.toThrow(re);
    }
    await expect(queue.add('ok', {}, { removeOnFail: { age: 5, count: -1 } })).rejects.toThrow(
      /opts\.removeOnFail(\.count)?: /,
    );
    expect(await client.exists(namespace)).toBeNull();
  });
});
