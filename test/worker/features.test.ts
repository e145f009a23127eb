// Job semantics against the shared standalone server, with in-process workers: retries and
// backoff, dead, UnrecoverableError, priority, delay, idempotency key, timeout, cancel,
// dependsOn, validation. Each test would fail if its feature were removed.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import {
  JobCancelledError,
  JobFailedError,
  JobValidationError,
  Queue,
  UnrecoverableError,
  Worker,
  createLogger,
  type Job,
  type Processor,
  type WorkerOptions,
  bucketOf,
} from '@zkjobs/worker';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
let client: ZkClient;
const open: Worker[] = [];

async function setup(handlers: Record<string, Processor>, opts: WorkerOptions = {}, start = true) {
  client ??= await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  const namespace = fileNamespace(import.meta.filename);
  const queue = new Queue(client, { namespace, logger });
  const worker = new Worker(client, handlers, { namespace, logger, concurrency: 4, sessionTimeoutMs: 4000, ...opts });
  open.push(worker);
  if (start) await worker.start();
  return { queue, worker, namespace };
}

afterEach(async () => {
  for (const w of open.splice(0)) await w.close({ graceMs: 200 }).catch(() => undefined);
});
afterAll(async () => {
  await client?.close();
});

describe('retries', () => {
  it('attempts: 3 with exponential backoff from 200 ms: 3 runs with growing gaps, then dead with its attempts recorded', async () => {
    const runs: number[] = [];
    const { queue, worker } = await setup({
      flaky: async () => {
        runs.push(Date.now());
        throw new Error(`boom ${runs.length}`);
      },
    });
    const retrying: number[] = [];
    const dead: string[] = [];
    worker.on('retrying', (_job, _err, delay) => retrying.push(delay));
    worker.on('dead', (job) => dead.push(job.id));
    const job = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'exponential', delay: 200 } });
    await expect(queue.waitUntilFinished(job.id, { timeoutMs: 15_000 })).rejects.toThrow(JobFailedError);
    const final = (await queue.getJob(job.id))!;
    expect(final.state).toBe('dead');
    expect(final.attemptsMade).toBe(3);
    expect(runs).toHaveLength(3);
    expect(final.history.map((h) => h.outcome)).toEqual(['retrying', 'retrying', 'dead']);
    expect(final.history.map((h) => h.attempt)).toEqual([1, 2, 3]);
    expect(final.history.every((h) => h.error?.startsWith('boom'))).toBe(true);
    expect(final.error?.message).toBe('boom 3');
    expect(retrying).toEqual([200, 400]);
    expect(dead).toEqual([job.id]);
    // The backoff grows (200 then 400 ms, announced above) and no retry comes before its delay.
    // (How much later it comes depends on the machine's load, so the gaps are not compared.)
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(180);
    expect(runs[2]! - runs[1]!).toBeGreaterThanOrEqual(380);
    // Tokens grow with every claim.
    const tokens = final.history.map((h) => h.token);
    expect([...tokens].sort((a, b) => a - b)).toEqual(tokens);
    expect(new Set(tokens).size).toBe(3);
  });

  it('UnrecoverableError fails at once: one run, state failed', async () => {
    let runs = 0;
    const { queue, worker } = await setup({
      doomed: async () => {
        runs++;
        throw new UnrecoverableError('never');
      },
    });
    const failures: boolean[] = [];
    const retrying: string[] = [];
    worker.on('failed', (_job, _err, final) => failures.push(final));
    worker.on('retrying', (j) => retrying.push(j.id));
    const job = await queue.add('doomed', {}, { attempts: 5, backoff: 50 });
    await expect(queue.waitUntilFinished(job.id, { timeoutMs: 10_000 })).rejects.toThrow(/failed: never/);
    const final = (await queue.getJob(job.id))!;
    expect(final.state).toBe('failed');
    expect(final.attemptsMade).toBe(1);
    expect(final.history.map((h) => h.outcome)).toEqual(['failed']);
    // The worker recorded the failure as final (no attempt follows), and scheduled no retry.
    await waitFor(() => failures.length > 0, 5000, 10, 'the failed event');
    expect(failures).toEqual([true]);
    expect(retrying).toEqual([]);
    expect(runs).toBe(1);
  });
});

describe('waitUntilFinished and retention', () => {
  it('removeOnComplete: true resolves as completed (without its result); removeOnFail: true rejects as failed', async () => {
    const { queue, worker } = await setup(
      { ok: async () => 'gone', bad: async () => Promise.reject(new Error('x')) },
      {},
      false,
    );
    const ok = await queue.add('ok', {}, { removeOnComplete: true });
    const bad = await queue.add('bad', {}, { removeOnFail: true });
    const okDone = queue.waitUntilFinished(ok.id, { timeoutMs: 10_000 });
    const badDone = queue.waitUntilFinished(bad.id, { timeoutMs: 10_000 });
    badDone.catch(() => undefined);
    await sleep(300); // both records seen waiting
    await worker.start();
    const done = await okDone;
    expect(done).toMatchObject({ id: ok.id, state: 'completed' });
    expect(done.result).toBeUndefined();
    await expect(badDone).rejects.toThrow(/removed when it ended \(removeOnFail\)/);
    expect(await queue.getJob(ok.id)).toBeNull();
  });
});

describe('stored progress', () => {
  it('ctx.progress is stored beside the record (its version, the token, does not move) and read by getJob, also after completion; a removed job takes it along', async () => {
    const gates = new Map<string, () => void>();
    const opened = new Map<string, Promise<void>>();
    const gate = (k: string) => {
      if (!opened.has(k)) opened.set(k, new Promise<void>((r) => gates.set(k, r)));
      return opened.get(k)!;
    };
    const release = () => {
      void gate('a');
      gates.get('a')!();
    };
    let token = -1;
    const { queue, namespace } = await setup({
      p: async (job: Job<{ gate: string }>, ctx) => {
        token = ctx.token;
        await ctx.progress({ pct: 50 });
        await gate(job.data.gate);
        await ctx.progress({ pct: 100 });
        return 'done';
      },
    });
    const job = await queue.add('p', { gate: 'a' });
    const mid = await waitFor(
      async () => {
        const j = await queue.getJob(job.id);
        return j?.state === 'active' && j.progress !== undefined ? j : null;
      },
      10_000,
      20,
      'progress stored',
    );
    expect(mid.progress).toEqual({ pct: 50 });
    expect(mid.version).toBe(token); // the record was not written since the claim
    release();
    const done = await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });
    expect(done.result).toBe('done');
    expect((await queue.getJob(job.id))!.progress).toEqual({ pct: 100 });

    const ns = client.usingNamespace(namespace);
    const gone = await queue.add('p', { gate: 'b' }, { removeOnComplete: true });
    await waitFor(async () => (await queue.getJob(gone.id))?.progress !== undefined, 10_000, 20, 'progress of gone');
    expect(await ns.exists(`/progress/${bucketOf(gone.id)}/${gone.id}`)).not.toBeNull();
    void gate('b');
    gates.get('b')!();
    await waitFor(async () => (await queue.getJob(gone.id)) === null, 10_000, 20, 'record removed');
    await waitFor(
      async () => (await ns.exists(`/progress/${bucketOf(gone.id)}/${gone.id}`)) === null,
      10_000,
      20,
      'progress removed with it',
    );
  });

  it('a value that is not JSON or too big is refused naming progress', async () => {
    const errors: unknown[] = [];
    const { queue } = await setup({
      big: async (_job, ctx) => {
        for (const v of [{ blob: 'x'.repeat(70_000) }, 1n]) {
          try {
            await ctx.progress(v);
          } catch (e) {
            errors.push(e);
          }
        }
      },
    });
    await queue.waitUntilFinished((await queue.add('big', {})).id, { timeoutMs: 10_000 });
    expect(errors).toHaveLength(2);
    for (const e of errors) expect((e as JobValidationError).field).toBe('progress');
  });
});

describe('retry strategy', () => {
  it("a worker's backoffStrategy sets each retry's delay from (attemptsMade, err, job), and -1 ends the job failed at once", async () => {
    const calls: { attemptsMade: number; message: string; id: string }[] = [];
    const runs: number[] = [];
    const { queue, worker } = await setup(
      {
        flaky: async () => {
          runs.push(Date.now());
          throw new Error(`boom ${runs.length}`);
        },
      },
      {
        backoffStrategy: (attemptsMade, err, job) => {
          calls.push({ attemptsMade, message: err.message, id: job.id });
          return attemptsMade === 1 ? 300 : -1;
        },
      },
    );
    const retrying: number[] = [];
    worker.on('retrying', (_job, _err, delay) => retrying.push(delay));
    // The job's own backoff (10 ms) is overridden by the strategy.
    const job = await queue.add('flaky', {}, { attempts: 5, backoff: 10 });
    await expect(queue.waitUntilFinished(job.id, { timeoutMs: 15_000 })).rejects.toThrow(/ended failed: boom 2/);
    const final = (await queue.getJob(job.id))!;
    expect(final.state).toBe('failed');
    expect(final.attemptsMade).toBe(2);
    expect(final.history.map((h) => h.outcome)).toEqual(['retrying', 'failed']);
    expect(final.history[1]!.error).toContain('backoffStrategy made no more attempts');
    expect(calls).toEqual([
      { attemptsMade: 1, message: 'boom 1', id: job.id },
      { attemptsMade: 2, message: 'boom 2', id: job.id },
    ]);
    expect(retrying).toEqual([300]);
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(280);
  });

  it("a strategy that answers undefined leaves the job's backoff; one that answers nonsense is reported and the job's backoff is used", async () => {
    const errors: Error[] = [];
    const { queue, worker } = await setup(
      { flaky: async () => Promise.reject(new Error('no')) },
      { backoffStrategy: (attemptsMade) => (attemptsMade === 1 ? undefined : (1.5 as number)) },
    );
    worker.on('error', (e) => errors.push(e));
    const retrying: number[] = [];
    worker.on('retrying', (_job, _err, delay) => retrying.push(delay));
    const job = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });
    await expect(queue.waitUntilFinished(job.id, { timeoutMs: 15_000 })).rejects.toThrow(/ended dead/);
    expect(retrying).toEqual([50, 50]);
    expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('backoffStrategy returned 1.5')]);
  });

  it('a backoff without attempts ≥ 2 is refused naming opts.backoff, and nothing is stored', async () => {
    const { queue } = await setup({ t: async () => 1 }, {}, false);
    for (const opts of [{ backoff: 100 }, { attempts: 1, backoff: { type: 'fixed' as const, delay: 5 } }]) {
      const err = await queue.add('t', {}, { jobId: 'b1', ...opts }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(JobValidationError);
      expect((err as JobValidationError).field).toBe('opts.backoff');
      expect((err as Error).message).toContain('attempts ≥ 2');
    }
    expect(await queue.getJob('b1')).toBeNull();
    expect(await queue.getJobs()).toEqual([]);
  });
});

describe('scheduling options', () => {
  it('priority: lower numbers run first', async () => {
    const order: string[] = [];
    const { queue, worker } = await setup(
      { p: async (job: Job<{ name: string }>) => void order.push(job.data.name) },
      { concurrency: 1, prefetch: 1 },
      false,
    );
    await queue.addBulk([
      ...Array.from({ length: 3 }, (_, i) => ({ type: 'p', data: { name: `low${i}` }, opts: { priority: 10 } })),
      ...Array.from({ length: 3 }, (_, i) => ({ type: 'p', data: { name: `high${i}` }, opts: { priority: 1 } })),
    ]);
    await queue.add('p', { name: 'mid' }, { priority: 5 });
    await worker.start();
    await waitFor(() => order.length === 7, 10_000, 20, 'all ran');
    expect(order).toEqual(['high0', 'high1', 'high2', 'mid', 'low0', 'low1', 'low2']);
  });

  it('delay: a delayed job starts no earlier than its delay; an undelayed one at once', async () => {
    const started = new Map<string, number>();
    const { queue } = await setup({ d: async (job) => void started.set(job.id, Date.now()) });
    const t0 = Date.now();
    const late = await queue.add('d', {}, { delay: 3000 });
    const now = await queue.add('d', {});
    expect(late.state).toBe('delayed');
    expect(now.state).toBe('waiting');
    await waitFor(() => started.size === 2, 10_000, 20, 'both ran');
    // The undelayed job, added second, did not wait behind the delayed one (3 s: ample room
    // for a slow start on busy cores).
    expect([...started.keys()]).toEqual([now.id, late.id]);
    expect(started.get(late.id)! - t0).toBeGreaterThanOrEqual(2950);
  });

  it('jobId is an idempotency key: a second add returns the first job and writes nothing', async () => {
    let runs = 0;
    const { queue } = await setup({ once: async (job: Job<{ v: number }>) => (runs++, job.data.v) });
    const a = await queue.add('once', { v: 1 }, { jobId: 'order-42', delay: 300 });
    const b = await queue.add('once', { v: 2 }, { jobId: 'order-42' });
    const [c] = await queue.addBulk([{ type: 'once', data: { v: 3 }, opts: { jobId: 'order-42' } }]);
    expect(b.id).toBe('order-42');
    expect(b.data).toEqual({ v: 1 });
    expect(c!.data).toEqual({ v: 1 });
    const done = await queue.waitUntilFinished(a.id, { timeoutMs: 10_000 });
    expect(done.result).toBe(1);
    expect(done.history.map((h) => h.outcome)).toEqual(['completed']);
    // One record, now completed: there is nothing else that could run.
    expect((await queue.getJobs()).length).toBe(1);
    expect(runs).toBe(1);
  });

  it('timeout: the handler signal aborts and the attempt fails with a timeout', async () => {
    let sawAbort: unknown;
    const { queue } = await setup({
      stuck: async (_job, { signal }) => {
        signal.addEventListener('abort', () => (sawAbort = signal.reason));
        await new Promise(() => undefined); // never settles
      },
    });
    const job = await queue.add('stuck', {}, { timeout: 300 });
    // A handler that never settles is ended by its 300 ms timeout: the wait's deadline (10 s)
    // only catches a job that never finishes; the error says it was the timeout.
    await expect(queue.waitUntilFinished(job.id, { timeoutMs: 10_000 })).rejects.toThrow(/timed out after 300 ms/);
    expect(String(sawAbort)).toMatch(/timed out/);
    expect((await queue.getJob(job.id))!.state).toBe('dead');
  });

  it('cancel: a waiting job never runs; a running job has its signal aborted and its completion is never recorded', async () => {
    let runsOfWaiting = 0;
    let abortedWith: unknown;
    const { queue } = await setup({
      later: async (job: Job<{ sentinel?: boolean }>) => void (job.data.sentinel || runsOfWaiting++),
      long: async (_job, { signal }) => {
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => ((abortedWith = signal.reason), resolve())),
        );
        return 'finished anyway';
      },
    });
    const waiting = await queue.add('later', {}, { delay: 800 });
    expect(await queue.cancel(waiting.id)).toBe(true);
    const running = await queue.add('long', {});
    await waitFor(async () => (await queue.getJob(running.id))?.state === 'active', 10_000, 20, 'long active');
    expect(await queue.cancel(running.id)).toBe(true);
    await waitFor(() => abortedWith !== undefined, 5000, 20, 'abort seen');
    expect(abortedWith).toBeInstanceOf(JobCancelledError);
    // A sentinel with the same delay, added after: once it has run, the cancelled job's due
    // time has passed and the scheduler has been through it (and the aborted handler has
    // returned 'finished anyway' long before).
    const sentinel = await queue.add('later', { sentinel: true }, { delay: 800 });
    await queue.waitUntilFinished(sentinel.id, { timeoutMs: 10_000 });
    expect(runsOfWaiting).toBe(0);
    const a = (await queue.getJob(waiting.id))!;
    const b = (await queue.getJob(running.id))!;
    expect(a.state).toBe('cancelled');
    expect(b.state).toBe('cancelled');
    expect(b.result).toBeUndefined();
    expect(b.history.map((h) => h.outcome)).toEqual(['cancelled']);
    expect(await queue.cancel(running.id)).toBe(false);
  });

  it('dependsOn: a dependant starts only after its parents complete; a failed parent fails it', async () => {
    const events: string[] = [];
    const { queue } = await setup({
      step: async (job: Job<{ name: string; ms: number }>) => {
        events.push(`start ${job.data.name}`);
        await sleep(job.data.ms);
        events.push(`end ${job.data.name}`);
      },
      bad: async () => {
        throw new UnrecoverableError('bad parent');
      },
    });
    const [p1, p2] = await queue.addBulk([
      { type: 'step', data: { name: 'p1', ms: 400 } },
      { type: 'step', data: { name: 'p2', ms: 200 } },
    ]);
    const child = await queue.add('step', { name: 'child', ms: 0 }, { dependsOn: [p1!.id, p2!.id] });
    const badParent = await queue.add('bad', {});
    const orphan = await queue.add('step', { name: 'orphan', ms: 0 }, { dependsOn: [badParent.id] });
    await queue.waitUntilFinished(child.id, { timeoutMs: 10_000 });
    expect(events.indexOf('start child')).toBeGreaterThan(events.indexOf('end p1'));
    expect(events.indexOf('start child')).toBeGreaterThan(events.indexOf('end p2'));
    await expect(queue.waitUntilFinished(orphan.id, { timeoutMs: 10_000 })).rejects.toThrow(
      /dependency .* ended failed/,
    );
    expect(events).not.toContain('start orphan');
  });
});

describe('validation: errors name the field and nothing is written', () => {
  it('rejects bad options, bad types, oversized payloads and unknown dependencies', async () => {
    const { queue } = await setup({ t: async () => 1 }, {}, false);
    const cases: [() => Promise<unknown>, string][] = [
      [() => queue.add('t', {}, { delay: -1 }), 'opts.delay'],
      [() => queue.add('t', {}, { attempts: 0 }), 'opts.attempts'],
      [() => queue.add('t', {}, { priority: 1.5 }), 'opts.priority'],
      [() => queue.add('t', {}, { backoff: { type: 'linear', delay: 5 } as never }), 'opts.backoff'],
      [() => queue.add('t', {}, { jobId: 'a/b' }), 'opts.jobId'],
      [() => queue.add('t', {}, { bogus: 1 } as never), 'opts.bogus'],
      [() => queue.add('bad type!', {}), 'type'],
      [() => queue.add('t', { big: 'x'.repeat(300_000) }), 'data'],
      [() => queue.add('t', {}, { dependsOn: ['no-such-job'] }), 'opts.dependsOn'],
      [
        () =>
          queue.addBulk([
            { type: 't', data: {} },
            { type: 't', data: {}, opts: { timeout: 0 } },
          ]),
        'jobs[1].opts.timeout',
      ],
    ];
    for (const [fn, field] of cases) {
      const err = await fn().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, field).toBeInstanceOf(JobValidationError);
      expect((err as JobValidationError).field, field).toBe(field);
    }
    expect(await queue.getJobs()).toEqual([]);
  });
});

describe('gang jobs', () => {
  it('parallelism: 3 tasks run at the same time on 3 different workers, and not before 3 workers are there', async () => {
    const starts: { worker: string; index: number }[] = [];
    /** What happened to the gang's tasks, in order: claimed / start / end / completed. */
    const log: string[] = [];
    const handlers: Record<string, Processor> = {
      gang: async (_job, ctx) => {
        starts.push({ worker: ctx.worker, index: ctx.gang!.index });
        log.push('start');
        await sleep(300);
        log.push('end');
        return ctx.gang!.index * 10;
      },
      plain: async () => 'ok',
    };
    const follow = (w: Worker) => {
      w.on('active', (j) => void (j.type === 'gang' && log.push('claimed')));
      w.on('completed', (j) => void (j.type === 'gang' && log.push('completed')));
    };
    const { queue, namespace, worker } = await setup(handlers, { concurrency: 2 });
    follow(worker);
    const second = new Worker(client, handlers, { namespace, logger, concurrency: 2 });
    open.push(second);
    follow(second);
    await second.start();
    const job = await queue.add('gang', { part: 'all' }, { parallelism: 3 });
    // A plain job submitted after the gang: once it has run, the scheduler has planned a round
    // with the gang in it (ready order) and held it back.
    const plain = await queue.add('plain', {});
    expect((await queue.waitUntilFinished(plain.id, { timeoutMs: 10_000 })).result).toBe('ok');
    expect(starts).toEqual([]); // only 2 workers: the gang waits
    expect((await queue.getJob(job.id))!.state).toBe('waiting');
    const third = new Worker(client, handlers, { namespace, logger, concurrency: 2 });
    open.push(third);
    follow(third);
    await third.start();
    const done = await queue.waitUntilFinished(job.id, { timeoutMs: 20_000 });
    expect(done.state).toBe('completed');
    expect(done.result).toEqual([0, 10, 20]);
    expect(starts).toHaveLength(3);
    expect(new Set(starts.map((s) => s.worker)).size).toBe(3);
    expect(starts.map((s) => s.index).sort()).toEqual([0, 1, 2]);
    // Released together by the barrier: every task was claimed (and entered) before any handler
    // started, every handler started before any ended, and every handler ended before any
    // task's completion was recorded (they leave the barrier together).
    await waitFor(() => log.filter((e) => e === 'completed').length === 3, 5000, 10, 'the tasks completed');
    expect(log).toEqual([
      ...Array(3).fill('claimed'),
      ...Array(3).fill('start'),
      ...Array(3).fill('end'),
      ...Array(3).fill('completed'),
    ]);
  }, 40_000);
});

describe('fencing', () => {
  it('a leader whose epoch moved cannot schedule: its write fails, it stands down, then takes a new epoch', async () => {
    const started: number[] = [];
    const { queue, worker, namespace } = await setup({ f: async () => void started.push(Date.now()) }, {}, false);
    const elected: number[] = [];
    const lost: { epoch: number; t: number }[] = [];
    worker.on('leader-elected', (e) => elected.push(e));
    worker.on('leader-lost', (e) => lost.push({ epoch: e, t: Date.now() }));
    await worker.start();
    await waitFor(() => elected.length === 1, 5000, 20, 'elected');
    const e1 = elected[0]!;
    // Someone else takes the epoch (as a new leader would).
    const ns = client.usingNamespace(namespace);
    const bumped = await ns.setData('/leader', JSON.stringify({ worker: 'w-intruder' }));
    expect(bumped.version).toBe(e1 + 1);
    const job = await queue.add('f', {});
    await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });
    expect(lost[0]?.epoch).toBe(e1);
    expect(elected[1]).toBeGreaterThan(e1 + 1);
    // The job was scheduled only under the new epoch, after the old one stood down.
    expect(started[0]!).toBeGreaterThan(lost[0]!.t);
    const leader = JSON.parse((await ns.getData('/leader')).data.toString()) as { worker: string };
    expect(leader.worker).toBe(worker.name);
  });
});

describe('graceful shutdown', () => {
  it('close() past its grace period releases running jobs to another worker instead of failing them', async () => {
    const runs: string[] = [];
    const handlers: Record<string, Processor> = {
      slow: async (_job, { signal, worker }) => {
        runs.push(worker);
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, 1500);
          signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason)));
        });
        return worker;
      },
    };
    const { queue, worker, namespace } = await setup(handlers, { concurrency: 1 });
    const job = await queue.add('slow', {}); // attempts: 1 — a failure would make it dead
    await waitFor(async () => (await queue.getJob(job.id))?.state === 'active', 10_000, 20, 'active');
    const other = new Worker(client, handlers, { namespace, logger, concurrency: 1 });
    open.push(other);
    await other.start();
    const firstName = worker.name;
    await worker.close({ graceMs: 100 });
    const done = await queue.waitUntilFinished(job.id, { timeoutMs: 15_000 });
    expect(done.result).toBe(other.name);
    expect(done.history.map((h) => h.outcome)).toEqual(['released', 'completed']);
    expect(runs).toEqual([firstName, other.name]);
  });
});
