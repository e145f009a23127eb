// Pause and resume, rate limits and cluster-wide concurrency per job type: stored in ZooKeeper,
// applied by whichever worker leads, and kept across a leader change.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ZkClient } from '@zkjobs/core';
import {
  JobValidationError,
  Queue,
  Worker,
  createLogger,
  queueDir,
  type Processor,
  type WorkerOptions,
} from '@zkjobs/worker';
import { fileNamespace, sleep, waitFor, zkConnect } from '../support/zk.js';

const logger = createLogger(process.env['TEST_LOG_LEVEL'] ?? 'silent');
let client: ZkClient;
const open: Worker[] = [];

async function cluster(n: number, handlers: Record<string, Processor>, opts: WorkerOptions = {}) {
  if (!client) {
    client = await ZkClient.connect(zkConnect, { sessionTimeoutMs: 4000 });
    client.setMaxListeners(0); // one watch per waited-for job
  }
  const namespace = fileNamespace(import.meta.filename);
  const queue = new Queue(client, { namespace, logger });
  const workers: Worker[] = [];
  for (let i = 0; i < n; i++) {
    // Each worker its own connection: a leader change is a worker leaving, as in production.
    const w = new Worker(zkConnect, handlers, { namespace, logger, concurrency: 4, sessionTimeoutMs: 4000, ...opts });
    open.push(w);
    workers.push(w);
    await w.start();
  }
  await waitFor(() => workers[0]!.isLeader() && workers[0]!.epoch > 0, 10_000, 20, 'a leader');
  return { queue, workers, namespace };
}

/** Closes the leader and waits for another worker to lead. */
async function changeLeader(workers: Worker[]): Promise<Worker> {
  const leader = workers.find((w) => w.isLeader())!;
  const elected = new Promise<void>((resolve) => {
    for (const w of workers) if (w !== leader) w.once('leader-elected', () => resolve());
  });
  await leader.close({ graceMs: 5000 });
  await elected;
  return workers.find((w) => w !== leader && w.isLeader())!;
}

afterEach(async () => {
  for (const w of open.splice(0)) await w.close({ graceMs: 200 }).catch(() => undefined);
});
afterAll(async () => {
  await client?.close();
});

describe('pause and resume', () => {
  it('no job of a paused type starts, other types run; the pause survives a leader change; resume runs the backlog', async () => {
    const started: string[] = [];
    const { queue, workers } = await cluster(2, {
      p: async (job) => void started.push(job.id),
      q: async () => 'ok',
    });
    expect(await queue.pause('p')).toEqual({ all: false, types: ['p'] });
    expect(await queue.isPaused('p')).toBe(true);
    expect(await queue.isPaused('q')).toBe(false);
    expect(await queue.isPaused()).toBe(false);
    const ps = await queue.addBulk(Array.from({ length: 5 }, () => ({ type: 'p' })));
    // The leader schedules: a job of another type runs, one of the paused type does not.
    await queue.waitUntilFinished((await queue.add('q')).id, { timeoutMs: 10_000 });
    await sleep(1000);
    expect(started).toEqual([]);
    await changeLeader(workers);
    await queue.waitUntilFinished((await queue.add('q')).id, { timeoutMs: 15_000 });
    await sleep(1000);
    expect(started).toEqual([]);
    for (const j of ps) expect((await queue.getJob(j.id))!.state).toBe('waiting');
    expect(await queue.resume('p')).toEqual({ all: false, types: [] });
    await Promise.all(ps.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 15_000 })));
    expect(started.sort()).toEqual(ps.map((j) => j.id).sort());
  }, 60_000);

  it('pause() holds every type; resume() runs them; a type paused by name stays paused under resume(type) while all is paused', async () => {
    const started: string[] = [];
    const { queue } = await cluster(1, { a: async (job) => void started.push(job.id), b: async () => 1 });
    await queue.pause();
    await queue.pause('a');
    await queue.resume('a');
    expect(await queue.isPaused('a')).toBe(true); // the whole namespace still is
    const a = await queue.add('a');
    const b = await queue.add('b');
    await sleep(1500);
    expect(started).toEqual([]);
    expect((await queue.getJob(b.id))!.state).toBe('waiting');
    await queue.resume();
    expect(await queue.getPaused()).toEqual({ all: false, types: [] });
    await queue.waitUntilFinished(a.id, { timeoutMs: 10_000 });
    await queue.waitUntilFinished(b.id, { timeoutMs: 10_000 });
  });

  it('jobs already assigned to a busy worker are not claimed once their type is paused', async () => {
    let release!: () => void;
    const blocker = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const { queue, workers } = await cluster(
      1,
      { block: async () => blocker, p: async (job) => void started.push(job.id) },
      { concurrency: 1, prefetch: 8 },
    );
    const ns = client.usingNamespace(workers[0]!.namespace);
    const b = await queue.add('block');
    await waitFor(async () => (await queue.getJob(b.id))!.state === 'active', 10_000, 20, 'blocker running');
    const ps = await queue.addBulk(Array.from({ length: 3 }, () => ({ type: 'p' })));
    // Assigned (prefetched) to the busy worker: its queue holds the blocker's and theirs.
    await waitFor(
      async () => (await ns.getChildren(queueDir(workers[0]!.name!))).children.length >= 2,
      10_000,
      20,
      'p jobs assigned',
    );
    await queue.pause('p');
    await sleep(500); // the worker's watch of the pause
    release();
    await queue.waitUntilFinished(b.id, { timeoutMs: 10_000 });
    await sleep(1000);
    expect(started).toEqual([]);
    await queue.resume('p');
    await Promise.all(ps.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 10_000 })));
    expect(started).toHaveLength(3);
  });

  it('bad input names the field and writes nothing', async () => {
    const { queue } = await cluster(1, { t: async () => 1 });
    const cases: [() => Promise<unknown>, string][] = [
      [() => queue.pause('bad type!'), 'type'],
      [() => queue.resume(''), 'type'],
      [() => queue.setLimits('t', { max: 10 }), 'limits.duration'],
      [() => queue.setLimits('t', { duration: 1000 }), 'limits.max'],
      [() => queue.setLimits('t', { concurrency: 0 }), 'limits.concurrency'],
      [() => queue.setLimits('t', { max: 1, duration: 1000, burst: 3 } as never), 'limits.burst'],
      [() => queue.setLimits('t', {}), 'limits'],
      [() => queue.setLimits('no such!', { concurrency: 1 }), 'type'],
    ];
    for (const [fn, field] of cases) {
      const err = await fn().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, field).toBeInstanceOf(JobValidationError);
      expect((err as JobValidationError).field, field).toBe(field);
    }
    expect(await queue.getLimits()).toEqual({});
    expect(await queue.getPaused()).toEqual({ all: false, types: [] });
  });
});

describe('limits', () => {
  it('rate { max: 10, duration: 1000 } across 3 workers and a leader change: at most 10 starts in any 900 ms (100 ms slack for claim-to-handler lag)', async () => {
    const starts: number[] = [];
    const { queue, workers } = await cluster(3, {
      r: async () => {
        starts.push(Date.now());
        await sleep(5);
      },
    });
    expect(await queue.setLimits('r', { max: 10, duration: 1000 })).toEqual({ r: { max: 10, duration: 1000 } });
    const jobs = await queue.addBulk(Array.from({ length: 40 }, () => ({ type: 'r' })));
    await waitFor(() => starts.length >= 15, 20_000, 20, '15 starts');
    await changeLeader(workers);
    await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 30_000 })));
    starts.sort((x, y) => x - y);
    let worst = 0;
    for (let i = 0; i < starts.length; i++) {
      const inWindow = starts.filter((t) => t >= starts[i]! && t < starts[i]! + 900).length;
      worst = Math.max(worst, inWindow);
    }
    console.log(`40 rate-limited jobs: starts over ${starts[39]! - starts[0]!} ms; most in 900 ms: ${worst}`);
    expect(starts).toHaveLength(40);
    expect(worst).toBeLessThanOrEqual(10);
    expect(worst).toBeGreaterThanOrEqual(5); // the limit is not a stall
  }, 60_000);

  it('concurrency 2 across 3 workers of concurrency 4, and across a leader change: never more than 2 running', async () => {
    let running = 0;
    let most = 0;
    const { queue, workers } = await cluster(3, {
      c: async () => {
        running++;
        most = Math.max(most, running);
        await sleep(150);
        running--;
      },
      free: async () => 1,
    });
    await queue.setLimits('c', { concurrency: 2 });
    const jobs = await queue.addBulk(Array.from({ length: 16 }, () => ({ type: 'c' })));
    // Other types are not held back by a limited one.
    const free = await queue.addBulk(Array.from({ length: 20 }, () => ({ type: 'free' })));
    await Promise.all(free.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 10_000 })));
    await waitFor(async () => (await queue.getJob(jobs[5]!.id))!.state === 'completed', 20_000, 20, '6 done');
    await changeLeader(workers);
    await Promise.all(jobs.map((j) => queue.waitUntilFinished(j.id, { timeoutMs: 30_000 })));
    expect(most).toBe(2);
    expect(await queue.getLimits()).toEqual({ c: { concurrency: 2 } });
    await queue.setLimits('c', null);
    expect(await queue.getLimits()).toEqual({});
  }, 60_000);
});
