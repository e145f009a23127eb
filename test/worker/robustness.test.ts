import { describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import { Queue, Worker } from '@zkjobs/worker';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';
import { cleanupAfterAll, testLogger } from '../support/fixtures.js';

const logger = testLogger;

describe('a worker survives what its handlers and submitters throw at it', () => {
  const cleanup = cleanupAfterAll();

  it('a result that cannot be stored as JSON fails its job at once; the worker goes on; far delays do not spin', async () => {
    const namespace = fileNamespace(import.meta.filename);
    const client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    cleanup(() => client.close());
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    cleanup(async () => process.off('warning', onWarning));

    const worker = new Worker(
      client,
      {
        circular: async () => {
          const o: Record<string, unknown> = {};
          o['self'] = o;
          return o;
        },
        bigint: async () => 10n,
        big: async () => 'x'.repeat(300_000),
        nan: async () => ({ ratio: NaN }),
        date: async () => ({ at: new Date(0) }),
        echo: async (job: { data: unknown }) => job.data,
      },
      { namespace, concurrency: 2, logger },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    await waitFor(() => worker.isLeader(), 5000, 25, 'the leader');
    const queue = new Queue(client, { namespace, logger });

    // A delay beyond a 32-bit timer (~24.8 days): the leader must wait in steps, not spin.
    const far = await queue.add('echo', 'later', { delay: 2_200_000_000 });
    const circular = await queue.add('circular', null, { attempts: 3 });
    const bigint = await queue.add('bigint', null, { attempts: 3 });
    const big = await queue.add('big', null, { attempts: 2 });
    const nan = await queue.add('nan', null);
    const date = await queue.add('date', null);
    const after = await queue.add('echo', 'still alive');

    const c = await queue.waitUntilFinished(circular.id, { timeoutMs: 15_000 }).catch((e: unknown) => e);
    expect(String((c as Error).message)).toMatch(/cannot be stored as it is: result\.self is a cycle/);
    const cj = (await queue.getJob(circular.id))!;
    expect(cj.state).toBe('failed');
    expect(cj.attemptsMade).toBe(1); // unrecoverable: no retries of a handler that cannot succeed
    expect(
      (await queue.waitUntilFinished(bigint.id, { timeoutMs: 15_000 }).catch((e: unknown) => e)) as Error,
    ).toBeInstanceOf(Error);
    expect((await queue.getJob(bigint.id))!.state).toBe('failed');
    // Over the cap, or something JSON would store as something else: the attempt fails saying why,
    // at once (the handler would return the same again); nothing is stored in its place.
    const failedWith = async (id: string) => {
      await expect(queue.waitUntilFinished(id, { timeoutMs: 15_000 })).rejects.toThrow();
      const j = (await queue.getJob(id))!;
      expect(j.state).toBe('failed');
      expect(j.attemptsMade).toBe(1);
      expect(j.result).toBeUndefined();
      return j.error!.message;
    };
    expect(await failedWith(big.id)).toBe("the handler's result is 300002 bytes as JSON, over the cap of 262144 bytes");
    expect(await failedWith(nan.id)).toMatch(/result\.ratio is NaN, which JSON stores as null/);
    expect(await failedWith(date.id)).toMatch(/result\.at is a Date, .*toISOString/);
    expect((await queue.waitUntilFinished(after.id, { timeoutMs: 15_000 })).result).toBe('still alive');

    // `after` was submitted after `far` and has completed, so the leader has been through `far`
    // and armed its wait: a single timer past 2^31 ms would have warned (and fired at once) by now.
    expect((await queue.getJob(far.id))!.state).toBe('delayed');
    expect(warnings.filter((w) => w.startsWith('TimeoutOverflowWarning'))).toEqual([]);
  });
});
