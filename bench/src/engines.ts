/**
 * One measured run of each system: throughput (N no-op jobs, W workers) and idle latency
 * (single jobs one at a time). zkjobs and BullMQ workers are child processes
 * (worker-child.ts); Kazoo consumers are python processes (peers/kazoo_queue.py).
 */
import { ZkClient, type RequestStats } from '@zkjobs/core';
import { Queue, createLogger } from '@zkjobs/worker';
import { Queue as BullQueue } from 'bullmq';
import { availableParallelism } from 'node:os';
import { startWorkers, stopAll, type WorkerChild } from './children.js';
import { cpuMark, cpuPerJob, threadCpuByName, threadCpuPerJob, type CpuPerJob } from './cpu.js';
import type { Ctx } from './context.js';
import { PyProc } from './kazoo.js';
import type { RedisServer } from './redis.js';
import { scoped, track } from './resources.js';
import { deleteTree, packetsReceived } from './zk.js';
import { log, now, percentile, sleep, withTimeout } from './util.js';

export interface ThroughputRun {
  jobs: number;
  workers: number;
  /** Jobs per second, first submit to last completion. */
  jobsPerSec: number;
  /** Time the submit call took, ms. */
  submitMs: number;
  totalMs: number;
  /** ZooKeeper client packets (all members) per job, zkjobs and Kazoo only. */
  requestsPerJob?: number;
  /**
   * zkjobs: what its clients (workers and submitter) sent, per job, counted by the client
   * (`ZkClient.requestStats`): requests (a multi is one) and znode writes (creates, sets and
   * deletes, inside and outside multis), with both by operation.
   */
  client?: ClientPerJob;
  /** The run hit its time cap: the rate is over the jobs done by then. */
  capped?: boolean;
  /**
   * CPU per job (ms) from the first submit to the last completion: the servers (the three
   * ZooKeeper JVMs, or redis-server), the worker processes, the submitting bench process.
   */
  cpu?: CpuPerJob;
  /** The servers' CPU per job (ms) by thread name (digits taken out), largest first. */
  serverThreads?: Record<string, number>;
}

const CORES = availableParallelism();

/** Client-counted requests and znode writes per job (see {@link ThroughputRun.client}). */
export interface ClientPerJob {
  requests: number;
  writes: number;
  requestsByOp: Record<string, number>;
  writesByKind: Record<string, number>;
}

/** The sum of `after − before` over the clients, per job. */
export function clientPerJob(
  before: readonly (RequestStats | null)[],
  after: readonly (RequestStats | null)[],
  jobs: number,
): ClientPerJob {
  const requestsByOp: Record<string, number> = {};
  const writesByKind: Record<string, number> = {};
  after.forEach((a, i) => {
    const b = before[i];
    if (!a) return;
    for (const [op, n] of Object.entries(a.requests))
      requestsByOp[op] = (requestsByOp[op] ?? 0) + n - (b?.requests[op] ?? 0);
    for (const [k, n] of Object.entries(a.writes))
      writesByKind[k] = (writesByKind[k] ?? 0) + n - ((b?.writes as Record<string, number> | undefined)?.[k] ?? 0);
  });
  const per = (m: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(m).map(([k, n]) => [k, n / Math.max(1, jobs)]));
  const sum = (m: Record<string, number>): number => Object.values(m).reduce((x, y) => x + y, 0) / Math.max(1, jobs);
  return {
    requests: sum(requestsByOp),
    writes: sum(writesByKind),
    requestsByOp: per(requestsByOp),
    writesByKind: per(writesByKind),
  };
}
const zkPids = (ctx: Ctx) => ctx.cluster.members.map((m) => m.pid);

export interface LatencyRun {
  n: number;
  startP50: number;
  startP99: number;
  completeP50: number;
  completeP99: number;
  timeouts: number;
  /** zkjobs: of the `n` counted jobs, how many started on the leader's own worker. */
  onLeader?: number;
}

let seq = 0;
const uniq = (): string => `${Date.now().toString(36)}${(seq++).toString(36)}`;

async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      log(`${what}: not done within ${timeoutMs} ms`);
      return false;
    }
    await sleep(5);
  }
  return true;
}

export async function waitForLeader(children: WorkerChild[], timeoutMs = 30_000): Promise<WorkerChild> {
  await waitUntil(() => children.some((c) => c.leaderAt !== null), timeoutMs, 'leader election');
  const l = children.find((c) => c.leaderAt !== null);
  if (!l) throw new Error('no zkjobs leader elected');
  return l;
}

const quiet = createLogger('warn');

// ---------------------------------------------------------------- throughput

/**
 * Submits a bulk (`submit`) to idle worker children and waits until they have completed `jobs`:
 * the rate from the first submit to the last completion, the submit time, and the CPU per job of
 * the servers (`servers`: pids whose process trees count), the workers and this process.
 */
async function runBulk(
  ctx: Ctx,
  children: WorkerChild[],
  servers: readonly (number | null | undefined)[],
  jobs: number,
  submit: () => Promise<unknown>,
  what: string,
): Promise<{ run: Omit<ThroughputRun, 'workers'>; finished: number }> {
  const workerPids = children.map((c) => c.proc.pid);
  const completed = () => children.reduce((s, c) => s + c.count, 0);
  const th0 = threadCpuByName(servers);
  const c0 = cpuMark(servers, workerPids);
  const t0 = now();
  await submit();
  const submitMs = now() - t0;
  const done = await waitUntil(() => completed() >= jobs, ctx.quick ? 60_000 : 300_000, `${what} throughput`);
  const c1 = cpuMark(servers, workerPids);
  const th1 = threadCpuByName(servers);
  const t1 = now();
  const finished = completed();
  const serverThreads = threadCpuPerJob(th0, th1, finished);
  const end = Math.max(...children.map((c) => c.lastDone));
  return {
    finished,
    run: {
      jobs,
      jobsPerSec: finished / ((end - t0) / 1000),
      submitMs,
      totalMs: end - t0,
      cpu: cpuPerJob(c0, c1, finished, t1 - t0, CORES),
      ...(serverThreads ? { serverThreads } : {}),
      ...(done ? {} : { capped: true }),
    },
  };
}

export async function zkjobsThroughput(ctx: Ctx, workers: number, jobs: number): Promise<ThroughputRun> {
  const ns = `/bench/tp-${uniq()}`;
  return scoped(async () => {
    track(`namespace ${ns}`, () => deleteTree(ctx.client, ns)); // runs last: after the workers stop
    const children = await startWorkers(
      workers,
      {
        engine: 'zkjobs',
        connect: ctx.cluster.connectString,
        namespace: ns,
        concurrency: ctx.concurrency,
        prefetch: ctx.prefetch,
        workMs: ctx.workMs,
        perJob: false,
      },
      ctx.logFile,
      `zkjobs-tp-w${workers}`,
    );
    track('zkjobs workers', () => stopAll(children));
    await waitForLeader(children);
    const queue = new Queue(ctx.client, { namespace: ns, logger: quiet });
    await queue.client();
    const list = Array.from({ length: jobs }, () => ({ type: 'noop', data: {} }));
    const stats = async (): Promise<(RequestStats | null)[]> => [
      ctx.client.requestStats(),
      ...(await Promise.all(children.map((c) => c.requestStats()))),
    ];
    const s0 = await stats();
    const p0 = await packetsReceived(ctx.cluster);
    const { run, finished } = await runBulk(ctx, children, zkPids(ctx), jobs, () => queue.addBulk(list), 'zkjobs');
    const p1 = await packetsReceived(ctx.cluster);
    const s1 = await stats();
    ['submitter', ...children.map((c) => `${c.label}${c.leaderAt !== null ? ' (leader)' : ''}`)].forEach((who, i) => {
      const per = clientPerJob([s0[i] ?? null], [s1[i] ?? null], finished);
      log(`zkjobs client ${who}: ${JSON.stringify({ requests: per.requestsByOp, writes: per.writesByKind })}`);
    });
    await queue.close();
    return {
      ...run,
      workers,
      requestsPerJob: (p1 - p0) / Math.max(1, finished),
      client: clientPerJob(s0, s1, finished),
    };
  });
}

export async function bullmqThroughput(
  ctx: Ctx,
  redis: RedisServer,
  workers: number,
  jobs: number,
): Promise<ThroughputRun> {
  const queueName = `tp-${uniq()}`;
  return scoped(async () => {
    track('redis flush', () => redis.flush()); // runs last: after the workers stop
    const children = await startWorkers(
      workers,
      {
        engine: 'bullmq',
        queueName,
        redisPort: redis.port,
        concurrency: ctx.concurrency,
        workMs: ctx.workMs,
        perJob: false,
      },
      ctx.logFile,
      `bullmq-tp-w${workers}`,
    );
    track('bullmq workers', () => stopAll(children));
    const queue = new BullQueue(queueName, { connection: { host: '127.0.0.1', port: redis.port } });
    track('bullmq queue', () => queue.close());
    await queue.waitUntilReady();
    const list = Array.from({ length: jobs }, () => ({ name: 'noop', data: {} }));
    const { run } = await runBulk(ctx, children, [redis.pid], jobs, () => queue.addBulk(list), 'bullmq');
    return { ...run, workers };
  });
}

export async function kazooThroughput(ctx: Ctx, workers: number, jobs: number): Promise<ThroughputRun> {
  const path = `/bench/kazoo-${uniq()}`;
  return scoped(async () => {
    track(`namespace ${path}`, () => deleteTree(ctx.client, path));
    const capS = Math.ceil(ctx.kazooCapMs / 1000) + 60;
    const consumers = Array.from(
      { length: workers },
      () =>
        new PyProc(['consume', ctx.cluster.connectString, path, String(ctx.concurrency), String(capS)], ctx.logFile),
    );
    await Promise.all(consumers.map((c) => c.waitFor('ready', 30_000)));
    const p0 = await packetsReceived(ctx.cluster);
    const producer = new PyProc(['produce', ctx.cluster.connectString, path, String(jobs), '1000'], ctx.logFile);
    const produced = await producer.waitFor('produced', ctx.kazooCapMs + 60_000);
    const t0 = Number(produced['t0']);
    const t1 = Number(produced['t1']);
    const done = await waitUntil(
      () => consumers.reduce((s, c) => s + c.count, 0) >= jobs,
      Math.max(1_000, t0 + ctx.kazooCapMs - now()),
      'kazoo throughput',
    );
    const p1 = await packetsReceived(ctx.cluster);
    const finished = consumers.reduce((s, c) => s + c.count, 0);
    const end = Math.max(...consumers.map((c) => c.last));
    const errors = consumers.reduce((s, c) => s + c.errors, 0);
    if (errors > 0) log(`kazoo: ${errors} consumer errors`);
    await Promise.all([...consumers, producer].map((c) => c.stop()));
    return {
      jobs: done ? jobs : finished,
      workers,
      jobsPerSec: finished / ((end - t0) / 1000),
      submitMs: t1 - t0,
      totalMs: end - t0,
      requestsPerJob: (p1 - p0) / Math.max(1, finished),
      ...(done ? {} : { capped: true }),
    };
  });
}

// ---------------------------------------------------------------- latency

/**
 * Submits `n` single jobs one at a time to idle workers; for each, submit → handler start and
 * submit → completion recorded (the worker's `completed` event). `warmup` jobs first, not counted.
 */
async function latencyLoop(
  children: WorkerChild[],
  n: number,
  submit: (tag: string) => Promise<unknown>,
  perJobTimeoutMs = 5_000,
  warmup = 10,
): Promise<LatencyRun> {
  const starts: number[] = [];
  const completes: number[] = [];
  let timeouts = 0;
  let onLeader = 0;
  let leaderKnown = false;
  for (let i = 0; i < warmup + n; i++) {
    const tag = `p-${uniq()}`;
    const seen: { active?: number; done?: number; leader?: boolean } = {};
    let wake: () => void = () => undefined;
    const offs = children.map((c) =>
      c.on((m) => {
        if (m.ev === 'active' && m.tag === tag) {
          seen.active = m.t;
          seen.leader = m.leader;
        }
        if (m.ev === 'done' && m.tag === tag) {
          seen.done = m.t;
          wake();
        }
      }),
    );
    try {
      const t0 = now();
      const finished = new Promise<void>((r) => (wake = r));
      await submit(tag);
      await withTimeout(finished, perJobTimeoutMs, 'latency probe').catch(() => undefined);
      if (seen.done === undefined || seen.active === undefined) {
        timeouts++;
      } else if (i >= warmup) {
        starts.push(seen.active - t0);
        completes.push(seen.done - t0);
        if (seen.leader !== undefined) leaderKnown = true;
        if (seen.leader) onLeader++;
      }
    } finally {
      offs.forEach((off) => off());
    }
    await sleep(2);
  }
  return {
    n: starts.length,
    startP50: percentile(starts, 50),
    startP99: percentile(starts, 99),
    completeP50: percentile(completes, 50),
    completeP99: percentile(completes, 99),
    timeouts,
    ...(leaderKnown ? { onLeader } : {}),
  };
}

/** zkjobs idle latency on a fresh namespace, or on `ns` with workers already there. */
export async function zkjobsLatency(
  ctx: Ctx,
  n: number,
  given?: { ns: string; children: WorkerChild[] },
): Promise<LatencyRun> {
  return scoped(async () => {
    let ns = given?.ns;
    let children = given?.children;
    if (!ns || !children) {
      const fresh = `/bench/lat-${uniq()}`;
      ns = fresh;
      track(`namespace ${fresh}`, () => deleteTree(ctx.client, fresh));
      children = await startWorkers(
        ctx.workers,
        {
          engine: 'zkjobs',
          connect: ctx.cluster.connectString,
          namespace: fresh,
          concurrency: ctx.concurrency,
          prefetch: ctx.prefetch,
          perJob: true,
        },
        ctx.logFile,
        'zkjobs-lat',
      );
      const started = children;
      track('zkjobs workers', () => stopAll(started));
      await waitForLeader(children);
    }
    const queue = new Queue(ctx.client, { namespace: ns, logger: quiet });
    await queue.client();
    return latencyLoop(children, n, (tag) => queue.add('noop', { tag }));
  });
}

export async function bullmqLatency(ctx: Ctx, redis: RedisServer, n: number): Promise<LatencyRun> {
  const queueName = `lat-${uniq()}`;
  return scoped(async () => {
    track('redis flush', () => redis.flush());
    const children = await startWorkers(
      ctx.workers,
      { engine: 'bullmq', queueName, redisPort: redis.port, concurrency: ctx.concurrency, perJob: true },
      ctx.logFile,
      'bullmq-lat',
    );
    track('bullmq workers', () => stopAll(children));
    const queue = new BullQueue(queueName, { connection: { host: '127.0.0.1', port: redis.port } });
    track('bullmq queue', () => queue.close());
    await queue.waitUntilReady();
    return latencyLoop(children, n, (tag) => queue.add('noop', { tag }));
  });
}

/** ZooKeeper alone, idle: one awaited quorum write and one awaited read, in sequence (see {@link zkFloor}). */
export interface FloorRun {
  n: number;
  /** A multi of one create (as the engine's writes are multis), awaited, ms. */
  writeP50: number;
  writeP99: number;
  /** A getData of a small znode, awaited, ms. */
  readP50: number;
  readP99: number;
  /**
   * The idle leader's path without the engine, ms: a create awaited by one session; another
   * session, told by a persistent recursive watch, reads the new znode twice in one multiRead (as
   * the leader reads the marker and its record) and writes a multi of one create; from the first
   * create's start to the second's reply. Absent in older results.
   */
  chainP50?: number;
  chainP99?: number;
}

/** See {@link FloorRun.chainP50}: `n` chains one after the other, each bounded to 5 s. */
async function floorChain(ctx: Ctx, dir: string, n: number, data: Buffer): Promise<number[]> {
  const leader = await ZkClient.connect(ctx.cluster.connectString, { sessionTimeoutMs: 10_000 });
  track('floor chain session', () => leader.close());
  await ctx.client.mkdirp(`${dir}/q`);
  await ctx.client.mkdirp(`${dir}/a`);
  let answer: ((err?: unknown) => void) | null = null;
  const watch = await leader.watchRecursive(`${dir}/q`, (e) => {
    if (e.type !== 'created' || answer === null) return;
    const done = answer;
    answer = null;
    const name = e.path.slice(e.path.lastIndexOf('/') + 1);
    leader
      .multiRead([
        { type: 'getData', path: e.path },
        { type: 'getData', path: e.path },
      ])
      .then(() => leader.transaction().create(`${dir}/a/${name}`, { data }).commit())
      .then(
        () => done(),
        (err: unknown) => done(err),
      );
  });
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = now();
      const finished = new Promise<void>((resolve, reject) => {
        answer = (err) => (err === undefined ? resolve() : reject(err as Error));
      });
      await ctx.client.transaction().create(`${dir}/q/j-${i}`, { data }).commit();
      await withTimeout(finished, 5_000, 'floor chain');
      out.push(now() - t);
    }
  } finally {
    answer = null;
    watch.close();
  }
  return out;
}

/**
 * The latency floor's parts, measured on the same ensemble: `n` writes one after the other (each
 * a multi of one 100-byte create, fsync'd on a quorum), then `n` reads of one small znode.
 */
export async function zkFloor(ctx: Ctx, n: number): Promise<FloorRun> {
  const dir = `/bench/floor-${uniq()}`;
  return scoped(async () => {
    track(`namespace ${dir}`, () => deleteTree(ctx.client, dir));
    await ctx.client.mkdirp(dir);
    const data = Buffer.alloc(100, 1);
    const writes: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      await ctx.client.transaction().create(`${dir}/w-${i}`, { data }).commit();
      writes.push(now() - t);
    }
    const reads: number[] = [];
    for (let i = 0; i < n; i++) {
      const t = now();
      await ctx.client.getData(`${dir}/w-0`);
      reads.push(now() - t);
    }
    const chains = await floorChain(ctx, dir, n, data);
    return {
      n,
      writeP50: percentile(writes, 50),
      writeP99: percentile(writes, 99),
      readP50: percentile(reads, 50),
      readP99: percentile(reads, 99),
      chainP50: percentile(chains, 50),
      chainP99: percentile(chains, 99),
    };
  });
}
