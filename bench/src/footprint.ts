/**
 * Footprint: a big backlog of jobs that wait — of a type no running worker handles, or delayed
 * by an hour — and what it costs: submit time and errors, ZooKeeper's data size, znode count,
 * heap (after a GC) and RSS, and the idle latency of other jobs while the backlog waits, beside
 * the same latency on the same namespace before the backlog was submitted.
 */
import { Queue, createLogger } from '@zkjobs/worker';
import { startWorkers, stopAll } from './children.js';
import type { Ctx } from './context.js';
import { zkjobsLatency, waitForLeader, type LatencyRun } from './engines.js';
import { scoped, track } from './resources.js';
import { deleteTree, jvmHeapUsedBytes, mntrAll, rssBytes } from './zk.js';
import { errorMessage, log, now, sleep } from './util.js';

export type BacklogKind = 'unhandled-type' | 'delayed-1h';

export interface ServerFootprint {
  /** `zk_approximate_data_size`, max over members, bytes. */
  dataSizeBytes: number;
  /** `zk_znode_count`, max over members. */
  znodes: number;
  /** JVM heap used after a full GC, max over members, bytes (null without jcmd). */
  heapBytes: number | null;
  /** JVM resident memory, max over members, bytes. */
  rssBytes: number | null;
}

export interface FootprintRun {
  kind: BacklogKind;
  jobs: number;
  submitMs: number;
  /** Jobs whose submit failed, and the first error messages. */
  submitErrors: number;
  errorSamples: string[];
  before: ServerFootprint;
  after: ServerFootprint;
  latencyEmpty: LatencyRun;
  latencyLoaded: LatencyRun;
  /**
   * `queue.getJobCounts()` with the backlog waiting (median of 5 calls): ms, and the requests it
   * sent (client-counted: a multiRead is one).
   */
  counts: { ms: number; requests: number; waiting: number; delayed: number };
  /**
   * The first `queue.getJobCounts()` as soon as the last `addBulk` returned (before the leader has
   * necessarily folded the submits' count deltas): ms and requests. Absent in older results.
   */
  countsAtOnce?: { ms: number; requests: number };
}

async function serverFootprint(ctx: Ctx): Promise<ServerFootprint> {
  const snap = await mntrAll(ctx.cluster);
  const max = (k: string): number => Math.max(...snap.map((m) => (typeof m?.[k] === 'number' ? (m[k] as number) : 0)));
  const pids = ctx.cluster.members.map((m) => m.pid).filter((p): p is number => p !== null);
  const heaps = (await Promise.all(pids.map((p) => jvmHeapUsedBytes(p)))).filter((x): x is number => x !== null);
  const rss = (await Promise.all(pids.map((p) => rssBytes(p)))).filter((x): x is number => x !== null);
  return {
    dataSizeBytes: max('zk_approximate_data_size'),
    znodes: max('zk_znode_count'),
    heapBytes: heaps.length ? Math.max(...heaps) : null,
    rssBytes: rss.length ? Math.max(...rss) : null,
  };
}

export async function footprintRun(ctx: Ctx, kind: BacklogKind): Promise<FootprintRun> {
  const ns = `/bench/fp-${kind}-${Date.now().toString(36)}`;
  return scoped(async () => {
    track(`namespace ${ns}`, () => deleteTree(ctx.client, ns, 600_000));
    const children = await startWorkers(
      ctx.workers,
      {
        engine: 'zkjobs',
        connect: ctx.cluster.connectString,
        namespace: ns,
        concurrency: ctx.concurrency,
        prefetch: ctx.prefetch,
        perJob: true,
      },
      ctx.logFile,
      `zkjobs-fp`,
    );
    track('zkjobs workers', () => stopAll(children));
    await waitForLeader(children);
    const before = await serverFootprint(ctx);
    const latencyEmpty = await zkjobsLatency(ctx, ctx.latencyJobs, { ns, children });

    const queue = new Queue(ctx.client, { namespace: ns, logger: createLogger('warn') });
    await queue.client();
    const chunk = 10_000;
    let submitErrors = 0;
    const errorSamples: string[] = [];
    const t0 = now();
    for (let done = 0; done < ctx.footprintJobs; done += chunk) {
      const n = Math.min(chunk, ctx.footprintJobs - done);
      const list = Array.from({ length: n }, (_, i) =>
        kind === 'unhandled-type'
          ? { type: 'parked', data: { i: done + i } }
          : { type: 'noop', data: { i: done + i }, opts: { delay: 3_600_000 } },
      );
      try {
        await queue.addBulk(list);
      } catch (err) {
        submitErrors += n;
        if (errorSamples.length < 3) errorSamples.push(errorMessage(err));
      }
    }
    const submitMs = now() - t0;
    const countsAtOnce = await timedCounts(ctx, queue);
    log(
      `footprint ${kind}: ${ctx.footprintJobs} jobs submitted in ${Math.round(submitMs)} ms (${submitErrors} failed)`,
    );
    log(`footprint ${kind}: getJobCounts at once ${countsAtOnce.ms.toFixed(1)} ms, ${countsAtOnce.requests} requests`);
    await sleep(2_000); // let the leader take in the backlog
    const after = await serverFootprint(ctx);
    const calls: { ms: number; requests: number; counted: Partial<Record<string, number>> }[] = [];
    for (let i = 0; i < 5; i++) calls.push(await timedCounts(ctx, queue));
    const median = [...calls].sort((x, y) => x.ms - y.ms)[2]!;
    const counted = calls.at(-1)!.counted;
    const counts = {
      ms: median.ms,
      requests: median.requests,
      waiting: counted['waiting'] ?? 0,
      delayed: counted['delayed'] ?? 0,
    };
    log(
      `footprint ${kind}: getJobCounts ${counts.ms.toFixed(1)} ms, ${counts.requests} requests, ${JSON.stringify(counted)}`,
    );
    const latencyLoaded = await zkjobsLatency(ctx, ctx.latencyJobs, { ns, children });
    return {
      kind,
      jobs: ctx.footprintJobs,
      submitMs,
      submitErrors,
      errorSamples,
      before,
      after,
      latencyEmpty,
      latencyLoaded,
      counts,
      countsAtOnce,
    };
  });
}

/** One `queue.getJobCounts()`: its time (ms), the requests it sent (client-counted), and its answer. */
async function timedCounts(
  ctx: Ctx,
  queue: Queue,
): Promise<{ ms: number; requests: number; counted: Partial<Record<string, number>> }> {
  const r0 = ctx.client.requestStats();
  const t = now();
  const counted = await queue.getJobCounts();
  const ms = now() - t;
  const r1 = ctx.client.requestStats();
  const requests = Object.entries(r1.requests).reduce((n, [op, k]) => n + k - (r0.requests[op] ?? 0), 0);
  return { ms, requests, counted };
}
