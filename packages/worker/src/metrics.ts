/**
 * Prometheus metrics of a {@link Worker}, built with prom-client from the worker's typed events,
 * its counters and its ZooKeeper client's events. `docs/metrics.md` lists every metric.
 */
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnectionState, ZkClient } from '@zkjobs/core';
import type { Job } from './job.js';
import type { Worker } from './worker.js';

/** Histogram buckets of handler durations and start latencies, seconds: 5 ms to 10 min. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
];

/** Histogram buckets of ZooKeeper request latencies, seconds: 0.5 ms to 10 s. */
export const REQUEST_BUCKETS_SECONDS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The connection states reported by `zkjobs_zookeeper_connection_state` (one is 1, the others 0). */
export const CONNECTION_STATES: readonly (ConnectionState | 'not-started')[] = [
  'not-started',
  'connected',
  'reconnected',
  'suspended',
  'lost',
  'read-only',
];

/** Options of {@link workerMetrics}. */
export interface WorkerMetricsOptions {
  /** Buckets of the job histograms, seconds. @defaultValue {@link DURATION_BUCKETS_SECONDS} */
  durationBuckets?: readonly number[];
  /** Buckets of the ZooKeeper request histogram, seconds. @defaultValue {@link REQUEST_BUCKETS_SECONDS} */
  requestBuckets?: readonly number[];
}

/** What {@link workerMetrics} returns. */
export interface WorkerMetrics {
  /** The registry the metrics are registered in. */
  readonly registry: Registry;
  /** Stops listening to the worker and its client and removes the metrics from the registry. Idempotent. */
  close(): void;
}

/**
 * Registers the `zkjobs_*` metrics of one worker in `registry` and keeps them up to date from
 * the worker's events (`active`, `completed`, `failed`, `retrying`, `dead`, `stalled`,
 * `leader-elected`, `registered`), its state (running and assigned jobs, leadership) and its
 * ZooKeeper client (connection state, lost sessions, reconnects, request latency by operation).
 * Call it before or after {@link Worker.start}: the ZooKeeper metrics follow the client once the
 * worker has registered. Serve the registry with {@link serveMetrics} or your own HTTP server
 * (`await registry.metrics()`, content type `registry.contentType`).
 *
 * Labels are bounded: `type` is a job type this worker has a handler for, `op` a ZooKeeper
 * operation, `error` an error class name; never a job id.
 *
 * @param worker - the worker to observe
 * @param registry - where to register the metrics @defaultValue a new {@link Registry}
 * @param opts - histogram buckets
 * @throws Error when `registry` already holds `zkjobs_*` metrics (one worker per registry; give
 *   each worker of a process its own registry)
 */
export function workerMetrics(
  worker: Worker,
  registry: Registry = new Registry(),
  opts: WorkerMetricsOptions = {},
): WorkerMetrics {
  if (registry.getSingleMetric('zkjobs_jobs_completed_total')) {
    throw new Error('workerMetrics: this registry already holds the zkjobs_* metrics of a worker; use one per worker');
  }
  const registers = [registry];
  const durationBuckets = [...(opts.durationBuckets ?? DURATION_BUCKETS_SECONDS)];
  const requestBuckets = [...(opts.requestBuckets ?? REQUEST_BUCKETS_SECONDS)];
  const byType = ['type'] as const;

  const completed = new Counter({
    name: 'zkjobs_jobs_completed_total',
    help: 'Jobs whose completion this worker recorded',
    labelNames: byType,
    registers,
  });
  const failed = new Counter({
    name: 'zkjobs_jobs_failed_total',
    help: 'Failed attempts this worker recorded (retried, failed for good, or dead)',
    labelNames: byType,
    registers,
  });
  const retried = new Counter({
    name: 'zkjobs_jobs_retried_total',
    help: 'Failed attempts after which the job waits for another attempt',
    labelNames: byType,
    registers,
  });
  const dead = new Counter({
    name: 'zkjobs_jobs_dead_total',
    help: 'Jobs that used up their attempts here (state dead)',
    labelNames: byType,
    registers,
  });
  const stalled = new Counter({
    name: 'zkjobs_jobs_stalled_total',
    help: 'Running jobs whose claim this worker lost (session lost, requeued, cancelled): handler aborted',
    labelNames: byType,
    registers,
  });
  const duration = new Histogram({
    name: 'zkjobs_job_duration_seconds',
    help: "From a handler's start to its outcome being recorded, seconds",
    labelNames: ['type', 'outcome'] as const,
    buckets: durationBuckets,
    registers,
  });
  const latency = new Histogram({
    name: 'zkjobs_job_start_latency_seconds',
    help: "From a job's submission (plus its delay) to the start of its first attempt, seconds (submitter's and worker's clocks)",
    labelNames: byType,
    buckets: durationBuckets,
    registers,
  });
  new Gauge({
    name: 'zkjobs_jobs_active',
    help: 'Handlers running on this worker now',
    registers,
    collect() {
      this.set(worker.runningCount);
    },
  });
  new Gauge({
    name: 'zkjobs_jobs_assigned',
    help: 'Jobs the leader assigned to this worker that have not started yet',
    registers,
    collect() {
      this.set(worker.assignedCount);
    },
  });
  new Gauge({
    name: 'zkjobs_worker_concurrency',
    help: 'Jobs this worker runs at the same time at most',
    registers,
    collect() {
      this.set(worker.concurrency);
    },
  });
  new Gauge({
    name: 'zkjobs_leader',
    help: 'Whether this worker is the leader (1) or not (0)',
    registers,
    collect() {
      this.set(worker.isLeader() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'zkjobs_leader_epoch',
    help: 'The leader epoch while this worker leads, -1 while it does not',
    registers,
    collect() {
      this.set(worker.epoch);
    },
  });
  const elections = new Counter({
    name: 'zkjobs_leader_elections_total',
    help: 'Times this worker became the leader (took a new epoch)',
    registers,
  });
  new Counter({
    name: 'zkjobs_completions_refused_total',
    help: "Outcomes this worker could not record because its claim was gone (another holder's or requeued)",
    registers,
    collect() {
      this.reset();
      this.inc(worker.stats()['refused'] ?? 0);
    },
  });
  let client: ZkClient | null = null;
  new Gauge({
    name: 'zkjobs_zookeeper_connection_state',
    help: "The ZooKeeper client's connection state: 1 for the current one",
    labelNames: ['state'] as const,
    registers,
    collect() {
      const now = client?.state ?? 'not-started';
      for (const s of CONNECTION_STATES) this.set({ state: s }, s === now ? 1 : 0);
    },
  });
  const lost = new Counter({
    name: 'zkjobs_zookeeper_sessions_lost_total',
    help: 'ZooKeeper sessions lost (expired, or no server for the session timeout); a new one follows',
    registers,
  });
  const reconnects = new Counter({
    name: 'zkjobs_zookeeper_reconnects_total',
    help: 'Reconnections to ZooKeeper within the same session',
    registers,
  });
  const requests = new Histogram({
    name: 'zkjobs_zookeeper_request_duration_seconds',
    help: 'ZooKeeper calls by operation, from the call to its result (waits for a connection and retries included), seconds',
    labelNames: ['op', 'error'] as const,
    buckets: requestBuckets,
    registers,
  });
  lost.inc(0);
  reconnects.inc(0);
  elections.inc(0);

  // The type of each running job (the `stalled` event carries only the id) and its start time.
  const running = new Map<string, { type: string; t0: number }>();
  const settle = (job: Job, outcome: 'completed' | 'failed'): void => {
    const r = running.get(job.id);
    running.delete(job.id);
    if (r) duration.observe({ type: job.type, outcome }, (performance.now() - r.t0) / 1000);
  };
  const listeners = {
    active: (job: Job): void => {
      running.set(job.id, { type: job.type, t0: performance.now() });
      if (job.attemptsMade <= 1) {
        const due = job.createdAt + (job.opts.delay ?? 0);
        latency.observe({ type: job.type }, Math.max(0, Date.now() - due) / 1000);
      }
    },
    completed: (job: Job): void => {
      completed.inc({ type: job.type });
      settle(job, 'completed');
    },
    failed: (job: Job): void => {
      failed.inc({ type: job.type });
      settle(job, 'failed');
    },
    retrying: (job: Job): void => void retried.inc({ type: job.type }),
    dead: (job: Job): void => void dead.inc({ type: job.type }),
    stalled: (jobId: string): void => {
      const r = running.get(jobId);
      running.delete(jobId);
      stalled.inc({ type: r?.type ?? 'unknown' });
    },
    'leader-elected': (): void => void elections.inc(),
    registered: (): void => attach(),
  };
  const clientListeners = {
    lost: (): void => void lost.inc(),
    reconnected: (): void => void reconnects.inc(),
    request: (e: { op: string; ms: number; error: string | null }): void =>
      requests.observe({ op: e.op, error: e.error ?? 'none' }, e.ms / 1000),
  };
  const attach = (): void => {
    const zk = worker.zk;
    if (!zk || zk === client) return;
    detach();
    client = zk;
    zk.on('lost', clientListeners.lost);
    zk.on('reconnected', clientListeners.reconnected);
    zk.on('request', clientListeners.request);
  };
  const detach = (): void => {
    client?.off('lost', clientListeners.lost);
    client?.off('reconnected', clientListeners.reconnected);
    client?.off('request', clientListeners.request);
  };
  worker.on('active', listeners.active);
  worker.on('completed', listeners.completed);
  worker.on('failed', listeners.failed);
  worker.on('retrying', listeners.retrying);
  worker.on('dead', listeners.dead);
  worker.on('stalled', listeners.stalled);
  worker.on('leader-elected', listeners['leader-elected']);
  worker.on('registered', listeners.registered);
  attach();

  let closed = false;
  return {
    registry,
    close() {
      if (closed) return;
      closed = true;
      worker.off('active', listeners.active);
      worker.off('completed', listeners.completed);
      worker.off('failed', listeners.failed);
      worker.off('retrying', listeners.retrying);
      worker.off('dead', listeners.dead);
      worker.off('stalled', listeners.stalled);
      worker.off('leader-elected', listeners['leader-elected']);
      worker.off('registered', listeners.registered);
      detach();
      for (const m of registry.getMetricsAsArray()) {
        if (m.name.startsWith('zkjobs_')) registry.removeSingleMetric(m.name);
      }
    },
  };
}
