/**
 * What the dashboard shows of a namespace, kept current by ZooKeeper watches:
 *
 * - the cluster (workers, the leader and its epoch, assignments per worker, the connection):
 *   re-read when `workers/`, `leader` or a worker's `queue/` changes (children / data watches);
 * - the jobs (counts by state and type, the lists): a **scan** — one `getChildren` per job bucket
 *   (64) and one `getData` per record — re-run when the job tree's structure changes (a record
 *   created or deleted, a pending marker written or taken, an assignment created or settled), at
 *   most once per `debounceMs`. Nothing polls: with no change, nothing is read.
 *
 * A state change that changes no structure (a waiting job cancelled, whose marker the leader has
 * not taken yet) shows at the next structural change or {@link NamespaceWatch.rescan}.
 */
import { EventEmitter } from 'node:events';
import type { ConnectionState, WatchHandle, ZkClient } from '@zkjobs/core';
import { JOB_STATES, type JobState } from '../job.js';
import { jobSummaryJson, type JobSummaryJson } from '../cli/job-json.js';
import { BUCKET_NAMES, JOBS, LEADER, PENDING, QUEUE, WORKERS } from '../layout.js';
import type { Queue } from '../queue.js';
import {
  emptyStateCounts,
  liveWorkers,
  queueDepths,
  readLeader,
  type LeaderView,
  type WorkerListing,
} from '../cli/cluster-info.js';

/** A worker as the dashboard shows it. */
export interface WorkerView extends WorkerListing {
  /** True for the live leader. */
  leader: boolean;
  /** Assignment znodes waiting in its queue. */
  assigned: number;
}

/** The cluster: who is there and who leads. */
export interface ClusterView {
  namespace: string;
  /** When it was read, ms since the epoch (the dashboard's clock). */
  at: number;
  /** The dashboard's own connection to ZooKeeper. */
  connection: { state: ConnectionState; session: string; servers: string };
  /** The leader recorded in `<ns>/leader`, null before the first election. */
  leader: LeaderView | null;
  /** Live workers, lowest znode first. */
  workers: WorkerView[];
  /** Pending markers waiting for the scheduler (all buckets). */
  pendingMarkers: number;
}

/** One job in a list: the job commands' summary (`job list --json`). */
export type JobSummary = JobSummaryJson;

/** Counts from the last scan. */
export interface CountsView {
  /** When the scan ended, ms since the epoch. */
  at: number;
  /** How long it took, ms. */
  scanMs: number;
  /** ZooKeeper reads it made: 64 `getChildren` + one `getData` per record. */
  reads: number;
  total: number;
  byState: Record<JobState, number>;
  /** Per job type, per state. */
  byType: Record<string, Record<JobState, number>>;
}

/** A page of a job list. */
export interface JobPage {
  /** Jobs matching the filter in the last scan. */
  total: number;
  offset: number;
  limit: number;
  order: 'newest' | 'oldest';
  /** When the scan the page comes from ended. */
  at: number;
  jobs: JobSummary[];
}

/** Events of {@link NamespaceWatch}. */
export interface NamespaceWatchEvents {
  cluster: [view: ClusterView];
  counts: [view: CountsView];
  /** A read failed (it is retried on the next change). */
  error: [err: Error];
}

/** Options of {@link NamespaceWatch}. */
export interface NamespaceWatchOptions {
  /** The namespace root. */
  namespace: string;
  /** A Queue on the namespace: its `getJobs()` is the scan. */
  queue: Queue;
  /** At most one scan per this many ms while changes keep coming. @defaultValue 1000 */
  debounceMs?: number;
}

/** Keeps a {@link ClusterView} and the scan of a namespace current; see the module's comment. */
export class NamespaceWatch extends EventEmitter<NamespaceWatchEvents> {
  readonly namespace: string;
  private readonly ns: ZkClient;
  private readonly queue: Queue;
  private readonly debounceMs: number;
  private readonly watches: WatchHandle[] = [];
  private readonly queueWatches = new Map<string, WatchHandle>();
  private clusterView: ClusterView | null = null;
  private countsView: CountsView | null = null;
  /** The last scan's jobs, oldest first. */
  private jobs: JobSummary[] = [];
  private clusterTimer: NodeJS.Timeout | null = null;
  private clusterRunning: Promise<void> | null = null;
  private clusterAgain = false;
  private scanTimer: NodeJS.Timeout | null = null;
  private scanRunning: Promise<void> | null = null;
  private scanAgain = false;
  private lastScanAt = 0;
  private closed = false;
  private readonly onState = (): void => this.clusterChanged();
  /** Scans run so far. */
  scans = 0;

  /**
   * @param root - a client without a namespace (the dashboard's connection)
   * @param opts - namespace, queue, debounce
   */
  constructor(
    private readonly root: ZkClient,
    opts: NamespaceWatchOptions,
  ) {
    super();
    this.namespace = opts.namespace;
    this.ns = root.usingNamespace(opts.namespace);
    this.ns.setMaxListeners(0);
    this.queue = opts.queue;
    this.debounceMs = opts.debounceMs ?? 1000;
  }

  /** Reads the cluster and scans the jobs once, then arms the watches. */
  async start(): Promise<void> {
    await Promise.all([this.readCluster(), this.scan()]);
    const onError = (err: Error): void => void this.emit('error', err);
    this.watches.push(this.ns.watchChildren(WORKERS, () => this.clusterChanged(), { onError }));
    this.watches.push(this.ns.watchData(LEADER, () => this.clusterChanged(), { onError }));
    this.watches.push(
      this.ns.watchChildren(
        QUEUE,
        (queues) => {
          this.syncQueueWatches(queues, onError);
          this.clusterChanged();
          this.jobsChanged();
        },
        { onError },
      ),
    );
    for (const b of BUCKET_NAMES) {
      this.watches.push(this.ns.watchChildren(`${JOBS}/${b}`, () => this.jobsChanged(), { onError }));
      this.watches.push(this.ns.watchChildren(`${PENDING}/${b}`, () => this.jobsChanged(), { onError }));
    }
    this.root.on('state', this.onState);
  }

  private syncQueueWatches(queues: string[], onError: (err: Error) => void): void {
    for (const [q, h] of this.queueWatches) {
      if (!queues.includes(q)) {
        h.close();
        this.queueWatches.delete(q);
      }
    }
    for (const q of queues) {
      if (this.queueWatches.has(q)) continue;
      this.queueWatches.set(
        q,
        this.ns.watchChildren(
          `${QUEUE}/${q}`,
          () => {
            this.clusterChanged();
            this.jobsChanged();
          },
          { onError },
        ),
      );
    }
  }

  /** The cluster as last read (null before {@link start}). */
  cluster(): ClusterView | null {
    return this.clusterView;
  }

  /** The counts of the last scan (null before {@link start}). */
  counts(): CountsView | null {
    return this.countsView;
  }

  /** Watches armed now: children and data watches on the namespace's tree. */
  get watchCount(): number {
    return this.watches.length + this.queueWatches.size;
  }

  /**
   * A page of the last scan's jobs, filtered by state and type.
   * @param q.order - `newest` (default) or `oldest` first, by submit time
   * @param q.offset - jobs to skip @defaultValue 0
   * @param q.limit - page size, 1–500 @defaultValue 50
   */
  page(q: { state?: JobState; type?: string; order?: 'newest' | 'oldest'; offset?: number; limit?: number }): JobPage {
    const order = q.order ?? 'newest';
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 50;
    let list = this.jobs.filter((j) => (!q.state || j.state === q.state) && (!q.type || j.type === q.type));
    if (order === 'newest') list = [...list].reverse();
    return {
      total: list.length,
      offset,
      limit,
      order,
      at: this.countsView?.at ?? 0,
      jobs: list.slice(offset, offset + limit),
    };
  }

  /** Scans now (after the scan that runs, if one does). Resolves when it is done. */
  async rescan(): Promise<void> {
    if (this.scanTimer) clearTimeout(this.scanTimer);
    this.scanTimer = null;
    await this.scan();
  }

  private clusterChanged(): void {
    if (this.closed || this.clusterTimer) return;
    this.clusterTimer = setTimeout(() => {
      this.clusterTimer = null;
      void this.readCluster();
    }, 50);
  }

  private jobsChanged(): void {
    if (this.closed || this.scanTimer) return;
    const wait = Math.max(0, this.lastScanAt + this.debounceMs - Date.now());
    this.scanTimer = setTimeout(() => {
      this.scanTimer = null;
      void this.scan();
    }, wait);
  }

  private readCluster(): Promise<void> {
    if (this.clusterRunning) {
      this.clusterAgain = true;
      return this.clusterRunning;
    }
    this.clusterRunning = (async () => {
      do {
        this.clusterAgain = false;
        try {
          const workers = await liveWorkers(this.ns);
          const [leader, depths] = await Promise.all([readLeader(this.ns, workers), queueDepths(this.ns)]);
          const view: ClusterView = {
            namespace: this.namespace,
            at: Date.now(),
            connection: { state: this.root.state, session: this.root.sessionIdHex, servers: this.root.connectString },
            leader,
            workers: workers.map((w) => ({
              ...w,
              leader: leader?.alive === true && leader.worker === w.name,
              assigned: depths.assigned[w.name] ?? 0,
            })),
            pendingMarkers: depths.pendingMarkers,
          };
          if (this.closed) return;
          this.clusterView = view;
          this.emit('cluster', view);
        } catch (err) {
          if (this.closed) return;
          // Keep the last view, with the connection as it is now.
          if (this.clusterView) {
            this.clusterView = {
              ...this.clusterView,
              connection: { ...this.clusterView.connection, state: this.root.state },
            };
            this.emit('cluster', this.clusterView);
          }
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      } while (this.clusterAgain && !this.closed);
    })().finally(() => {
      this.clusterRunning = null;
    });
    return this.clusterRunning;
  }

  private scan(): Promise<void> {
    if (this.scanRunning) {
      this.scanAgain = true;
      return this.scanRunning;
    }
    this.scanRunning = (async () => {
      do {
        this.scanAgain = false;
        const t0 = Date.now();
        try {
          const jobs = await this.queue.getJobs();
          if (this.closed) return;
          jobs.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
          const byState = emptyStateCounts();
          const byType: Record<string, Record<JobState, number>> = {};
          for (const j of jobs) {
            byState[j.state]++;
            (byType[j.type] ??= emptyStateCounts())[j.state]++;
          }
          this.jobs = jobs.map(jobSummaryJson);
          this.scans++;
          const at = Date.now();
          this.lastScanAt = at;
          this.countsView = {
            at,
            scanMs: at - t0,
            reads: BUCKET_NAMES.length + jobs.length,
            total: jobs.length,
            byState,
            byType,
          };
          this.emit('counts', this.countsView);
        } catch (err) {
          if (this.closed) return;
          this.lastScanAt = Date.now();
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      } while (this.scanAgain && !this.closed);
    })().finally(() => {
      this.scanRunning = null;
    });
    return this.scanRunning;
  }

  /** Closes every watch and timer. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches.splice(0)) w.close();
    for (const w of this.queueWatches.values()) w.close();
    this.queueWatches.clear();
    if (this.clusterTimer) clearTimeout(this.clusterTimer);
    if (this.scanTimer) clearTimeout(this.scanTimer);
    this.root.off('state', this.onState);
  }
}

export { JOB_STATES };
