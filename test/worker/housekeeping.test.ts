// Housekeeping as BullMQ users know it: retryJob, remove, clean, obliterate — against the shared
// server, with a real worker, and the counts checked after each operation.
import { describe, expect, it } from 'vitest';
import {
  JobNotFoundError,
  JobStateError,
  JobValidationError,
  LiveWorkersError,
  Queue,
  UnrecoverableError,
  Worker,
  jobPath,
  verify,
  type JobState,
} from '@zkjobs/worker';
import { cleanupAfterAll, sharedClient, testLogger as logger } from '../support/fixtures.js';
import { fileNamespace, waitFor } from '../support/zk.js';

const ZERO: Record<JobState, number> = {
  waiting: 0,
  delayed: 0,
  active: 0,
  completed: 0,
  failed: 0,
  dead: 0,
  cancelled: 0,
};

describe('housekeeping', () => {
  const cleanup = cleanupAfterAll();

  it('retryJob runs a dead job again with a fresh budget of attempts; verify accepts its history; counts follow', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-retry';
    const queue = new Queue(client, { namespace, logger });
    let failing = true;
    const runs: number[] = [];
    const worker = new Worker(
      client,
      {
        flaky: async (job) => {
          runs.push(job.attemptsMade);
          if (failing) throw new Error('not yet');
          return 'ok';
        },
        done: async () => 1,
        block: async (_j, ctx) =>
          new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(ctx.signal.reason))),
      },
      { namespace, logger, concurrency: 2 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();

    const job = await queue.add('flaky', {}, { attempts: 2 });
    await expect(queue.waitUntilFinished(job.id)).rejects.toThrow(/dead/);
    expect(await queue.getJobCounts()).toEqual({ ...ZERO, dead: 1 });

    // A second failing run after the retry ends dead again after two more attempts: the budget
    // counts from the retry, not from the first submit.
    const retried = await queue.retryJob(job.id);
    expect(retried).toMatchObject({ state: 'waiting', attemptsMade: 2, attemptsBase: 2 });
    await expect(queue.waitUntilFinished(job.id)).rejects.toThrow(/dead/);
    expect((await queue.getJob(job.id))!.attemptsMade).toBe(4);
    expect(runs).toEqual([1, 2, 3, 4]);

    failing = false;
    await queue.retryJob(job.id);
    const done = await queue.waitUntilFinished(job.id);
    expect(done).toMatchObject({ state: 'completed', result: 'ok', attemptsMade: 5, attemptsBase: 4 });
    expect(done.error).toBeUndefined();
    expect(done.history.map((a) => a.outcome)).toEqual([
      'retrying',
      'dead',
      'retried',
      'retrying',
      'dead',
      'retried',
      'completed',
    ]);
    const mark = done.history[5]!;
    expect(mark).toMatchObject({ worker: 'operator', session: client.sessionIdHex, attempt: 4 });
    expect(mark.error).toMatch(/from dead/);
    expect(await queue.getJobCounts()).toEqual({ ...ZERO, completed: 1 });

    const report = await verify(client.usingNamespace(namespace), { settleMs: 0 });
    expect(report.checks.filter((c) => c.total > 0)).toEqual([]);
    expect(report.ok).toBe(true);

    // Refusals name the state and write nothing.
    const before = (await client.usingNamespace(namespace).exists(jobPath(job.id)))!.version;
    const completed = queue.retryJob(job.id);
    await expect(completed).rejects.toBeInstanceOf(JobStateError);
    await expect(completed).rejects.toThrow(/cannot retry job .*: it is completed/);
    expect((await client.usingNamespace(namespace).exists(jobPath(job.id)))!.version).toBe(before);
    const later = await queue.add('flaky', {}, { delay: 600_000 });
    await expect(queue.retryJob(later.id)).rejects.toThrow(/it is delayed/);
    await queue.cancel(later.id);
    await expect(queue.retryJob(later.id)).rejects.toThrow(/it is cancelled/);
    await expect(queue.retryJob('no-such-job')).rejects.toBeInstanceOf(JobNotFoundError);
    expect(await queue.getJobCounts()).toEqual({ ...ZERO, completed: 1, cancelled: 1 });

    // remove refuses a running job (as BullMQ a locked one), and writes nothing.
    const running = await queue.add('block');
    await waitFor(async () => (await queue.getJob(running.id))!.state === 'active', 10_000, 20, 'block running');
    const v = (await client.usingNamespace(namespace).exists(jobPath(running.id)))!.version;
    const refused = queue.remove(running.id);
    await expect(refused).rejects.toBeInstanceOf(JobStateError);
    await expect(refused).rejects.toThrow(/cannot remove job .*: it is active/);
    expect((await client.usingNamespace(namespace).exists(jobPath(running.id)))!.version).toBe(v);
    await queue.cancel(running.id);

    // remove of finished jobs: the record and its count go.
    expect(await queue.remove(job.id)).toBe(true);
    expect(await queue.remove(later.id)).toBe(true);
    expect(await queue.getJob(job.id)).toBeNull();
    expect(await queue.remove(job.id)).toBe(false);
    await waitFor(async () => (await queue.getJobCounts()).active === 0, 10_000, 20, 'cancel settled');
    expect(await queue.getJobCounts()).toEqual({ ...ZERO, cancelled: 1 });
  });

  it('a removed waiting or delayed job never runs: its stale entries are skipped', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-remove';
    const queue = new Queue(client, { namespace, logger });
    const ran: string[] = [];
    const worker = new Worker(
      client,
      {
        t: async (job) => {
          ran.push(job.id);
          return job.id;
        },
      },
      { namespace, logger },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();

    // Delayed: its entry waits in the leader's heap, is assigned when due, and the consumer
    // finds no record. Waiting: paused, so its entry stays in its marker until resumed.
    await queue.pause('t');
    const delayed = await queue.add('t', {}, { delay: 800 });
    const waiting = await queue.add('t', {});
    expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 1, delayed: 1 });
    expect(await queue.remove(delayed.id)).toBe(true);
    expect(await queue.remove(waiting.id)).toBe(true);
    expect(await queue.getJobCounts('waiting', 'delayed')).toEqual({ waiting: 0, delayed: 0 });
    await queue.resume('t');
    // A job submitted after both, due after the removed delayed one: once it ran, the stale
    // entries were reached (and skipped).
    const after = await queue.add('t', {}, { delay: 1200 });
    await queue.waitUntilFinished(after.id, { timeoutMs: 20_000 });
    const next = await queue.add('t', {});
    await queue.waitUntilFinished(next.id, { timeoutMs: 20_000 });
    expect(ran).toEqual([after.id, next.id]);
    expect(await queue.getJob(delayed.id)).toBeNull();
    expect(await queue.getJob(waiting.id)).toBeNull();
    expect(await queue.getJobCounts()).toEqual({ ...ZERO, completed: 2 });
  });

  it('clean removes finished jobs older than the given age (ZooKeeper clock), up to the limit', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-clean';
    const queue = new Queue(client, { namespace, logger });
    const worker = new Worker(
      client,
      { ok: async () => 1, bad: async () => Promise.reject(new UnrecoverableError('no')) },
      { namespace, logger, concurrency: 4 },
    );
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();

    const old = await queue.addBulk(Array.from({ length: 3 }, () => ({ type: 'ok' })));
    const oldBad = await queue.add('bad');
    for (const j of old) await queue.waitUntilFinished(j.id);
    await expect(queue.waitUntilFinished(oldBad.id)).rejects.toThrow(/failed/);
    await new Promise((r) => setTimeout(r, 3000));
    const fresh = await queue.add('ok');
    await queue.waitUntilFinished(fresh.id);
    expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 4, failed: 1 });

    // Bad arguments are refused before anything is read or written.
    await expect(queue.clean('active' as JobState, 0)).rejects.toThrow(/state: must be one of completed/);
    await expect(queue.clean('completed', -1)).rejects.toBeInstanceOf(JobValidationError);
    await expect(queue.clean('completed', 0, 0)).rejects.toThrow(/limit: must be an integer ≥ 1/);

    expect(await queue.clean('completed', 600_000)).toEqual([]);
    const first = await queue.clean('completed', 2000, 2);
    expect(first).toHaveLength(2);
    const second = await queue.clean('completed', 2000);
    expect(second).toHaveLength(1);
    expect([...first, ...second].sort()).toEqual(old.map((j) => j.id).sort());
    expect(await queue.getJob(fresh.id)).not.toBeNull();
    expect(await queue.getJob(oldBad.id)).not.toBeNull(); // another state
    expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 1, failed: 1 });
    expect(await queue.clean('failed', 2000)).toEqual([oldBad.id]);
    expect(await queue.getJobCounts()).toEqual({ ...ZERO, completed: 1 });
  });

  it('obliterate is refused while a worker is live, unless forced; it deletes a namespace of many znodes', async () => {
    const client = await sharedClient(cleanup);
    const namespace = fileNamespace(import.meta.filename) + '-obliterate';
    const queue = new Queue(client, { namespace, logger });
    const worker = new Worker(client, { ok: async () => 1 }, { namespace, logger });
    cleanup(() => worker.close({ graceMs: 100 }));
    await worker.start();
    await queue.pause();
    await queue.addBulk(Array.from({ length: 1200 }, () => ({ type: 'ok' })));

    const refused = queue.obliterate();
    await expect(refused).rejects.toBeInstanceOf(LiveWorkersError);
    await expect(refused).rejects.toThrow(
      new RegExp(`cannot obliterate ${namespace}: 1 worker is live \\(w-\\d{10}\\)`),
    );
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1200 });
    await expect(queue.obliterate({ force: 'yes' as unknown as boolean })).rejects.toThrow(/opts.force/);

    await worker.close({ graceMs: 100 });
    const deleted = await queue.obliterate();
    expect(deleted).toBeGreaterThan(1200 + 64 * 3);
    expect(await client.exists(namespace)).toBeNull();
    expect(await queue.obliterate()).toBe(0);

    // The Queue writes again into a fresh tree.
    const again = await queue.add('ok');
    expect(await queue.getJobCounts('waiting')).toEqual({ waiting: 1 });
    expect((await queue.getJob(again.id))!.state).toBe('waiting');

    // force: deletes even with a live worker.
    const w2 = new Worker(client, { ok: async () => 1 }, { namespace, logger });
    cleanup(() => w2.close({ graceMs: 100 }));
    await w2.start();
    await queue.waitUntilFinished(again.id);
    await expect(queue.obliterate()).rejects.toBeInstanceOf(LiveWorkersError);
    expect(await queue.obliterate({ force: true })).toBeGreaterThan(0);
    // The live worker may re-create what it writes; the jobs are gone.
    expect(await queue.getJob(again.id)).toBeNull();
  });
});
