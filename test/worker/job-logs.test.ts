// Stored job logs (`ctx.log`, `Queue.getJobLogs`) against the shared real server, with in-process
// workers: read while the job runs and after, in order; bounded by keepLogs (the oldest dropped
// and counted); a line over 8 KiB refused; fenced by the holder's znode; the record's version
// (the fencing token) never moved; deleted with the record.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CreateMode, killSession, ZkClient } from '@zkjobs/core';
import {
  JobValidationError,
  MAX_LOG_LINE_BYTES,
  Queue,
  Worker,
  bucketOf,
  type Job,
  type Processor,
  type WorkerOptions,
} from '@zkjobs/worker';
import { LogWriter } from '../../packages/worker/src/consumer/logs.js';
import { RunAbort, type ActiveJob, type ConsumerContext } from '../../packages/worker/src/consumer/context.js';
import { isHolderFenceFailure, logOps } from '../../packages/worker/src/engine/ops.js';
import { readRecord } from '../../packages/worker/src/engine/record.js';
import { TypedEmitter, type WorkerEvents } from '../../packages/worker/src/events.js';
import { WORKERS } from '../../packages/worker/src/layout.js';
import { testLogger as logger } from '../support/fixtures.js';
import { fileNamespace, waitFor, zkConnect } from '../support/zk.js';

let client: ZkClient;
const open: Worker[] = [];
const closers: (() => Promise<unknown>)[] = [];

async function setup(handlers: Record<string, Processor>, opts: WorkerOptions & { own?: ZkClient } = {}) {
  client ??= await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
  const namespace = fileNamespace(import.meta.filename);
  const queue = new Queue(client, { namespace, logger });
  const { own, ...wopts } = opts;
  const worker = new Worker(own ?? client, handlers, {
    namespace,
    logger,
    concurrency: 4,
    sessionTimeoutMs: 4000,
    ...wopts,
  });
  open.push(worker);
  await worker.start();
  return { queue, worker, namespace, ns: client.usingNamespace(namespace) };
}

/** A gate the handler waits on until the test opens it. */
function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

const logsNode = (id: string) => `/logs/${bucketOf(id)}/${id}`;

afterEach(async () => {
  for (const w of open.splice(0)) await w.close({ graceMs: 200 }).catch(() => undefined);
  for (const c of closers.splice(0)) await c().catch(() => undefined);
});
afterAll(async () => {
  await client?.close();
});

describe('stored job logs', () => {
  it('lines are readable while the handler runs and after it completes, in order (coalesced writes too); the record version (token) does not move', async () => {
    const g = gate();
    let token = -1;
    const { queue } = await setup({
      logs: async (_job: Job, ctx) => {
        token = ctx.token;
        await ctx.log('first');
        // Logged without waiting: written by one or more coalesced writes, in order.
        await Promise.all(Array.from({ length: 20 }, (_, i) => ctx.log(`burst ${i}`)));
        await g.wait;
        await ctx.log('last');
        return 'done';
      },
    });
    const job = await queue.add('logs', {});
    const burst = ['first', ...Array.from({ length: 20 }, (_, i) => `burst ${i}`)];
    const mid = await waitFor(
      async () => {
        const l = await queue.getJobLogs(job.id);
        return l.count === burst.length ? l : null;
      },
      10_000,
      20,
      'lines stored while running',
    );
    expect(mid).toEqual({ logs: burst, count: burst.length, dropped: 0 });
    const running = (await queue.getJob(job.id))!;
    expect(running.state).toBe('active');
    expect(running.version).toBe(token); // no write to the record since the claim

    g.open();
    await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });
    expect(await queue.getJobLogs(job.id)).toEqual({ logs: [...burst, 'last'], count: 22, dropped: 0 });
    expect(await queue.getJobLogs(job.id, { start: -2 })).toEqual({
      logs: ['burst 19', 'last'],
      count: 22,
      dropped: 0,
    });
    expect((await queue.getJobLogs(job.id, { start: 1, end: 2 })).logs).toEqual(['burst 0', 'burst 1']);
    const { lines } = await queue.getJobLogLines(job.id, { end: 0 });
    expect(lines).toEqual([{ at: expect.any(Number), attempt: 1, token, line: 'first' }]);
    // A job that logged nothing, and no job at all.
    expect(await queue.getJobLogs('no-such-job')).toEqual({ logs: [], count: 0, dropped: 0 });
    await expect(queue.getJobLogs('a/b')).rejects.toBeInstanceOf(JobValidationError);
  });

  it('lines logged and not awaited by a handler that returns at once are all stored before its completion', async () => {
    const { queue } = await setup({
      fire: async (_job: Job, ctx) => {
        for (let i = 0; i < 30; i++) void ctx.log(`line ${i}`);
        return 'done';
      },
    });
    for (let round = 0; round < 3; round++) {
      const job = await queue.add('fire', {});
      await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });
      expect(await queue.getJobLogs(job.id)).toEqual({
        logs: Array.from({ length: 30 }, (_, i) => `line ${i}`),
        count: 30,
        dropped: 0,
      });
    }
  });

  it('more than keepLogs lines: the newest are kept and the dropped counted, across attempts', async () => {
    const { queue } = await setup(
      {
        many: async (_job: Job, ctx) => {
          for (let i = 0; i < 7; i++) await ctx.log(`a${ctx.attempt} line ${i}`);
          if (ctx.attempt === 1) throw new Error('again');
        },
      },
      { keepLogs: 5 },
    );
    const job = await queue.add('many', {}, { attempts: 2, backoff: 10 });
    await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });
    const got = await queue.getJobLogs(job.id);
    expect(got).toEqual({
      logs: ['a2 line 2', 'a2 line 3', 'a2 line 4', 'a2 line 5', 'a2 line 6'],
      count: 5,
      dropped: 9,
    });
  });

  it('a line over 8 KiB, or one that is not a string, rejects ctx.log with JobValidationError naming log; nothing of it is stored', async () => {
    const errors: unknown[] = [];
    const { queue } = await setup({
      big: async (_job: Job, ctx) => {
        await ctx.log('before');
        for (const line of ['x'.repeat(MAX_LOG_LINE_BYTES + 1), 'é'.repeat(MAX_LOG_LINE_BYTES / 2 + 1), 42]) {
          await ctx.log(line as string).catch((e: unknown) => errors.push(e));
        }
        await ctx.log('y'.repeat(MAX_LOG_LINE_BYTES)); // at the bound: stored
        await ctx.log('after');
      },
    });
    const job = await queue.add('big', {});
    await queue.waitUntilFinished(job.id, { timeoutMs: 10_000 });
    expect(errors).toHaveLength(3);
    for (const e of errors) {
      expect(e).toBeInstanceOf(JobValidationError);
      expect((e as JobValidationError).field).toBe('log');
    }
    expect((await queue.getJobLogs(job.id)).logs).toEqual(['before', 'y'.repeat(MAX_LOG_LINE_BYTES), 'after']);
  });

  it('a holder whose session was lost writes nothing more', async () => {
    const own = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    closers.push(() => own.close());
    const started = gate();
    const after: Promise<void>[] = [];
    const { queue } = await setup(
      {
        hold: async (_job: Job, ctx) => {
          await ctx.log('before');
          started.open();
          await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r(), { once: true }));
          const p = ctx.log('after the session was lost');
          after.push(p);
          await p;
        },
      },
      { own },
    );
    const job = await queue.add('hold', {});
    await started.wait;
    await killSession(zkConnect, own.sessionCredentials());
    await waitFor(() => after.length > 0, 30_000, 25, 'the handler logged after the abort');
    await after[0];
    expect((await queue.getJobLogs(job.id)).logs).toEqual(['before']);
  });

  it('the log writer: once the holder znode is gone its writes fail at the fence and nothing more is stored', async () => {
    const namespace = fileNamespace(import.meta.filename);
    client ??= await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    const admin = client.usingNamespace(namespace);
    const queue = new Queue(client, { namespace, logger });
    const job = await queue.add('fenced', {});
    const holderRoot = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    closers.push(() => holderRoot.close());
    await admin.create(WORKERS, { parents: true }).catch(() => undefined);
    const path = await holderRoot
      .usingNamespace(namespace)
      .create(`${WORKERS}/w-`, { mode: CreateMode.EPHEMERAL_SEQUENTIAL });
    const holder = path.slice(path.lastIndexOf('/') + 1);
    const found = (await readRecord(admin, job.id))!;
    const reported: unknown[] = [];
    const ctx = {
      client: admin,
      log: logger,
      events: new TypedEmitter<WorkerEvents>(),
      process: 'test',
      counters: {} as ConsumerContext['counters'],
      keepLogs: 10,
      bound: () => holder,
      reportError: (err: unknown) => void reported.push(err),
    } satisfies ConsumerContext;
    const a: ActiveJob = {
      id: job.id,
      worker: holder,
      session: 'test',
      token: found.stat.version,
      rec: found.rec,
      abort: new RunAbort(),
      node: 'a-0000000000',
    };
    const line = (s: string) => ({ at: Date.now(), attempt: 1, token: a.token, line: s });
    const w = new LogWriter(ctx, a);
    await w.write(line('live'));
    expect((await queue.getJobLogs(job.id)).logs).toEqual(['live']);

    // The holder's session ends: its znode goes; the writer's next multi fails at the fence.
    await holderRoot.close();
    const { stat } = await admin.getData(logsNode(job.id));
    const direct = await logOps(admin, holder, job.id, Buffer.from('{"lines":[],"dropped":0}'), stat.version)
      .commit()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(isHolderFenceFailure(direct)).toBe(true);
    await w.write(line('gone 1'));
    await w.write(line('gone 2'));
    expect((await queue.getJobLogs(job.id)).logs).toEqual(['live']);
    expect((await admin.getData(logsNode(job.id))).stat.version).toBe(stat.version);
    expect(reported).toEqual([]);
    // The record was never written.
    expect((await readRecord(admin, job.id))!.stat.version).toBe(found.stat.version);
  });

  it('logs are deleted with the record: removeOnComplete true, and by the retention prune (count)', async () => {
    const { queue, ns } = await setup({ t: async (_job: Job, ctx) => ctx.log('hello') });
    const gone = await queue.add('t', {}, { removeOnComplete: true });
    const kept1 = await queue.add('t', {}, { removeOnComplete: { count: 1 } });
    await waitFor(async () => (await queue.getJob(kept1.id))?.state === 'completed', 10_000, 20, 'kept1 completed');
    expect((await queue.getJobLogs(kept1.id)).logs).toEqual(['hello']);
    await waitFor(async () => (await queue.getJob(gone.id)) === null, 10_000, 20, 'record removed');
    await waitFor(async () => (await ns.exists(logsNode(gone.id))) === null, 10_000, 20, 'logs removed with it');

    // A newer job kept by count 1 finishes: the leader prunes kept1, and its logs with it.
    const kept2 = await queue.add('t', {}, { removeOnComplete: { count: 1 } });
    await queue.waitUntilFinished(kept2.id, { timeoutMs: 10_000 });
    await waitFor(async () => (await queue.getJob(kept1.id)) === null, 10_000, 20, 'kept1 pruned');
    await waitFor(async () => (await ns.exists(logsNode(kept1.id))) === null, 10_000, 20, 'kept1 logs pruned');
    expect((await queue.getJobLogs(kept2.id)).logs).toEqual(['hello']);

    // queue.remove takes them along too.
    expect(await queue.remove(kept2.id)).toBe(true);
    expect(await ns.exists(logsNode(kept2.id))).toBeNull();
  });
});
