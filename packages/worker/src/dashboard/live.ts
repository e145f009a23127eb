/**
 * What the dashboard shows of a namespace, kept current by ZooKeeper watches:
 *
 * - the cluster (workers, the leader and its epoch, assignments per worker, the connection):
 *   re-read when `workers/`, `leader` or a worker's `queue/` changes (children / data watches);
 * - the counts by state and type: the namespace's counter (`counts/`: the summary the leader
 *   folds, plus the deltas not folded yet; no job record is read), re-read when `counts/` or its
 *   deltas change, at most once per `debounceMs`;
 * - the job lists: a **scan** — one `getChildren` per job bucket (64) and one `getData` per record
 *   — made when a list is asked for and the jobs changed since the last one (every multi that
 *   changes job records writes a count delta), at most once per `debounceMs`. With no page
 *   asking, nothing is scanned; with no change, nothing is read.
 *
 * A namespace older than the counter (`counts/` marked `{scan: true}`) is counted by the scan,
 * and its changes are seen in the structure of the job and pending buckets (128 more watches).
 */
import { EventEmitter } from 'node:events';
import type { ConnectionState, WatchHandle, ZkClient } from '@zkjobs/core';
import { JOB_STATES, type Job, type JobState } from '../job.js';
import { jobSummaryJson, type JobSummaryJson } from '../cli/job-json.js';
import { BUCKET_NAMES, COUNTS, JOBS, LEADER, PENDING, QUEUE, WORKERS } from '../layout.js';
import { readCounts } from '../engine/counts.js';
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

/** Counts of jobs by state and type. */
export interface CountsView {
  /** When they were read, ms since the epoch (the dashboard's clock). */
  at: number;
  /** `counter`: from `counts/`, no record read; `scan`: a namespace older than the counter, counted by the scan. */
  source: 'counter' | 'scan';
  /** How long the read took, ms. */
  readMs: number;
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
  /**
   * ZooKeeper requests that read it: for one state, those of the lists by state (a few, plus a
   * `multiRead` per 32 records); else the scan's, 64 `getChildren` + one `getData` per record.
   */
  reads: number;
  jobs: JobSummary[];
}

/** Events of {@link NamespaceWatch}. */
export interface NamespaceWatchEvents {
  cluster: [view: ClusterView];
  counts: [view: CountsView];
  /** The job tree's structure changed: a list asked for now is scanned again. */
  jobs: [at: number];
  /** A scan of the records ended, after this many ms. */
  scan: [ms: number];
  /** A read failed (it is retried on the next change). */
  error: [err: Error];
}

/** Options of {@link NamespaceWatch}. */
export interface NamespaceWatchOptions {
  /** The namespace root. */
  namespace: string;
  /** A Queue on the namespace: its `getJobs()` is the scan. */
  queue: Queue;
  /** At most one read of the counts, and one scan, per this many ms while changes keep coming. @defaultValue 1000 */
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
  private scanAt = 0;
  private scanReads = 0;
  /** The structure changed since the last scan began (or nothing was scanned yet). */
  private listDirty = true;
  /** The counter says this namespace predates it: counts come from the scan. */
  private countsByScan = false;
  private clusterTimer: NodeJS.Timeout | null = null;
  private clusterRunning: Promise<void> | null = null;
  private clusterAgain = false;
  private countsTimer: NodeJS.Timeout | null = null;
  private countsRunning: Promise<void> | null = null;
  private countsAgain = false;
  private lastCountsAt = 0;
  private jobsTimer: NodeJS.Timeout | null = null;
  private scanRunning: Promise<void> | null = null;
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

  /** Reads the cluster and the counts once, then arms the watches. */
  async start(): Promise<void> {
    await Promise.all([this.readCluster(), this.readCounts()]);
    const onError = (err: Error): void => void this.emit('error', err);
    // Every multi that creates, changes or deletes job records writes a count delta: a change of
    // `counts/` (a delta written, or folded by the leader) is the sign that the jobs changed.
    const onCounts = (): void => {
      this.countsChanged();
      this.jobsChanged();
    };
    this.watches.push(this.ns.watchData(COUNTS, onCounts, { onError }));
    this.watches.push(this.ns.watchChildren(COUNTS, onCounts, { onError }));
    this.watches.push(this.ns.watchChildren(WORKERS, () => this.clusterChanged(), { onError }));
    this.watches.push(this.ns.watchData(LEADER, () => this.clusterChanged(), { onError }));
    this.watches.push(
      this.ns.watchChildren(
        QUEUE,
        (queues) => {
          this.syncQueueWatches(queues, onError);
          this.clusterChanged();
        },
        { onError },
      ),
    );
    if (this.countsByScan) {
      // Older than the counter: no deltas to tell of changes; the buckets' structure does.
      for (const b of BUCKET_NAMES) {
        this.watches.push(this.ns.watchChildren(`${JOBS}/${b}`, () => this.jobsChanged(), { onError }));
        this.watches.push(this.ns.watchChildren(`${PENDING}/${b}`, () => this.jobsChanged(), { onError }));
      }
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
        this.ns.watchChildren(`${QUEUE}/${q}`, () => this.clusterChanged(), { onError }),
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
   * A page of the jobs, filtered by state and type, from a scan no older than the last structural
   * change (scanning first when there was one, at most once per `debounceMs`).
   * @param q.order - `newest` (default) or `oldest` first, by submit time
   * @param q.offset - jobs to skip @defaultValue 0
   * @param q.limit - page size, 1–500 @defaultValue 50
   */
  async page(q: {
    state?: JobState;
    type?: string;
    order?: 'newest' | 'oldest';
    offset?: number;
    limit?: number;
  }): Promise<JobPage> {
    if (q.state && !q.type && this.countsView?.source === 'counter') {
      const listed = await this.indexPage(q.state, q.order ?? 'newest', q.offset ?? 0, q.limit ?? 50);
      if (listed) return listed;
    }
    if (this.listDirty) await this.scanSoon();
    else if (this.scanRunning) await this.scanRunning; // a scan asked for by another page
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
      at: this.scanAt,
      reads: this.scanReads,
      jobs: list.slice(offset, offset + limit),
    };
  }

  /**
   * A page of one state from the lists by state (`Queue.getJobsPage`): the pages before
   * `offset` are walked (their records read), then one page; no scan. Null for a namespace read
   * by the scan.
   */
  private async indexPage(
    state: JobState,
    order: 'newest' | 'oldest',
    offset: number,
    limit: number,
  ): Promise<JobPage | null> {
    const c0 = (await this.queue.client()).requestStats().requests;
    const jobs: Job[] = [];
    let cursor: string | null = null;
    for (;;) {
      const page = await this.queue.getJobsPage({
        state,
        order,
        limit: Math.min(1000, offset + limit - jobs.length),
        cursor,
      });
      if (page.source !== 'index') return null;
      jobs.push(...page.jobs);
      if (page.next === null || jobs.length >= offset + limit) break;
      cursor = page.next;
    }
    const c1 = (await this.queue.client()).requestStats().requests;
    const reads = (['getData', 'getChildren', 'multiRead', 'exists'] as const).reduce(
      (n, k) => n + (c1[k] ?? 0) - (c0[k] ?? 0),
      0,
    );
    return {
      total: this.countsView?.byState[state] ?? jobs.length,
      offset,
      limit,
      order,
      at: Date.now(),
      reads,
      jobs: jobs.slice(offset, offset + limit).map(jobSummaryJson),
    };
  }

  /** After a change made here (an action): reads the counts now; the next list asked for is scanned. */
  async rescan(): Promise<void> {
    this.jobsChanged();
    await this.readCounts();
  }

  private clusterChanged(): void {
    if (this.closed || this.clusterTimer) return;
    this.clusterTimer = setTimeout(() => {
      this.clusterTimer = null;
      void this.readCluster();
    }, 50);
  }

  private jobsChanged(): void {
    if (this.closed) return;
    this.listDirty = true;
    if (this.countsByScan) this.countsChanged();
    if (this.jobsTimer) return;
    // Tell the pages (at most once per debounce): they ask for their list again.
    this.jobsTimer = setTimeout(() => {
      this.jobsTimer = null;
      this.emit('jobs', Date.now());
    }, this.debounceMs);
  }

  private countsChanged(): void {
    if (this.closed || this.countsTimer) return;
    const wait = Math.max(0, this.lastCountsAt + this.debounceMs - Date.now());
    this.countsTimer = setTimeout(() => {
      this.countsTimer = null;
      void this.readCounts();
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

  private readCounts(): Promise<void> {
    if (this.countsRunning) {
      this.countsAgain = true;
      return this.countsRunning;
    }
    this.countsRunning = (async () => {
      do {
        this.countsAgain = false;
        const t0 = Date.now();
        try {
          const counted = await readCounts(this.ns);
          if (this.closed) return;
          this.lastCountsAt = Date.now();
          if (counted === null) {
            // Older than the counter: count what a scan finds.
            this.countsByScan = true;
            await this.scan();
            continue;
          }
          this.countsByScan = false;
          const byState = emptyStateCounts();
          const byType: Record<string, Record<JobState, number>> = {};
          for (const [type, states] of Object.entries(counted)) {
            const row = emptyStateCounts();
            for (const s of JOB_STATES) row[s] = states[s] ?? 0;
            if (JOB_STATES.every((s) => row[s] === 0)) continue;
            byType[type] = row;
            for (const s of JOB_STATES) byState[s] += row[s];
          }
          this.publishCounts({ source: 'counter', readMs: Date.now() - t0, byState, byType });
        } catch (err) {
          if (this.closed) return;
          this.lastCountsAt = Date.now();
          this.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      } while (this.countsAgain && !this.closed);
    })().finally(() => {
      this.countsRunning = null;
    });
    return this.countsRunning;
  }

  private publishCounts(c: Omit<CountsView, 'at' | 'total'>): void {
    const total = JOB_STATES.reduce((n, s) => n + c.byState[s], 0);
    this.countsView = { at: Date.now(), total, ...c };
    this.emit('counts', this.countsView);
  }

  /** A scan, after waiting out the debounce since the last one. */
  private async scanSoon(): Promise<void> {
    const wait = this.lastScanAt + this.debounceMs - Date.now();
    if (wait > 0 && !this.scanRunning) await new Promise((r) => setTimeout(r, wait));
    await this.scan();
  }

  private scan(): Promise<void> {
    if (this.scanRunning) return this.scanRunning.then(() => (this.listDirty ? this.scan() : undefined));
    this.scanRunning = (async () => {
      this.listDirty = false;
      const t0 = Date.now();
      try {
        const jobs = await this.queue.getJobs();
        if (this.closed) return;
        jobs.sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
        this.jobs = jobs.map(jobSummaryJson);
        this.scans++;
        this.scanAt = Date.now();
        this.scanReads = BUCKET_NAMES.length + jobs.length;
        this.lastScanAt = this.scanAt;
        this.emit('scan', this.scanAt - t0);
        if (this.countsByScan) {
          const byState = emptyStateCounts();
          const byType: Record<string, Record<JobState, number>> = {};
          for (const j of jobs) {
            byState[j.state]++;
            (byType[j.type] ??= emptyStateCounts())[j.state]++;
          }
          this.publishCounts({ source: 'scan', readMs: this.scanAt - t0, byState, byType });
        }
      } catch (err) {
        this.listDirty = true;
        this.lastScanAt = Date.now();
        if (!this.closed) this.emit('error', err instanceof Error ? err : new Error(String(err)));
      }
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
    if (this.countsTimer) clearTimeout(this.countsTimer);
    if (this.jobsTimer) clearTimeout(this.jobsTimer);
    this.root.off('state', this.onState);
  }
}

export { JOB_STATES };
