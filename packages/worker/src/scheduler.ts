import type { Stat, WatchHandle, ZkClient } from '@zkjobs/core';
import { CreateMode, NodeExistsError, NoNodeError, TransactionError } from '@zkjobs/core';
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { closeAttempt, isFinalState, type JobRecord } from './job.js';
import {
  BARRIERS,
  BUCKET_NAMES,
  CLOCK,
  GANGS,
  LEADER,
  PENDING,
  QUEUE,
  RETENTION,
  WORKERS,
  decodeAssignment,
  decodeMarkerDoc,
  encodeAssignment,
  encodeMarker,
  gangTaskId,
  jobPath,
  pendingMarkerPrefix,
  queueDir,
  type AssignedJob,
  type LeaderInfo,
  type PendingEntry,
  type WorkerInfo,
} from './layout.js';
import { encodeRecord, mapLimit, parseRecord, readRecord } from './store.js';

interface Marker {
  path: string;
  version: number;
  czxid: bigint;
  ctime: number;
  entries: PendingEntry[];
  /** Place among the markers of the multi that created it (see encodeMarker). */
  order: number;
  taken: Set<string>; // job ids assigned (or failed) in the multi being built
  done: Set<string>; // job ids already removed from the marker in ZooKeeper
}

interface Ref {
  m: Marker;
  i: number;
  e: PendingEntry;
}

interface LiveWorker {
  name: string;
  info: WorkerInfo;
  dirReady: boolean;
  /** Assignment node → number of jobs. */
  assignments: Map<string, number>;
  /** Its queue changed (watch or safety poll): re-list it in the next round. */
  dirty: boolean;
  watch: WatchHandle | null;
}

/** Why the leader stopped scheduling. */
export class DeposedError extends Error {}

/** Ready-order: priority, then submission (marker czxid, index). */
function before(a: Ref, b: Ref): boolean {
  if (a.e.priority !== b.e.priority) return a.e.priority < b.e.priority;
  if (a.m.czxid !== b.m.czxid) return a.m.czxid < b.m.czxid;
  // Markers of one multi share a czxid: theirs in submit order, each marker's entries together.
  if (a.m.order !== b.m.order) return a.m.order < b.m.order;
  if (a.m !== b.m) return a.m.path < b.m.path;
  return a.i < b.i;
}

/** A binary min-heap. */
class Heap<T> {
  private readonly a: T[] = [];
  constructor(private readonly lt: (x: T, y: T) => boolean) {}
  get size(): number {
    return this.a.length;
  }
  push(x: T): void {
    const a = this.a;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.lt(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  peek(): T | undefined {
    return this.a[0];
  }
  pop(): T | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.lt(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.lt(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
  clear(): void {
    this.a.length = 0;
  }
}

/** The safety re-listing covers every bucket once per `pollMs`, in this many slices. */
const RELIST_SLICES = 8;
/** A new leader starts watching the retention buckets this long after taking over, ms. */
const RETENTION_WATCH_DELAY_MS = 500;

/** Ops per scheduling multi. */
const MAX_OPS = 400;
/** A scheduling round waits at most this long (ms), so far due times never overflow a timer. */
const MAX_TIMER_MS = 60_000;

/**
 * Internal: the listings of the 64 `pending/` buckets, kept current by one re-arming watch per
 * bucket. The scheduler keeps one while it leads; a worker next in line for leadership keeps one
 * too (a warm standby) and hands it over when it takes leadership, so the new leader's first round
 * reads only the markers and not 64 listings, which its session's in-order requests would make it
 * wait for before anything else.
 */
export class PendingWatch {
  /** Each bucket's last listing. */
  private readonly latest = new Map<string, string[]>();
  private readonly handles: WatchHandle[];
  private listener: ((bucket: string, children: string[]) => void) | null = null;
  private closed = false;

  constructor(client: ZkClient) {
    this.handles = BUCKET_NAMES.map((b) =>
      client.watchChildren(`${PENDING}/${b}`, (children) => {
        this.latest.set(b, children);
        this.listener?.(b, children);
      }),
    );
  }

  /** Hands every listing so far to `fn`, then every new one. */
  attach(fn: (bucket: string, children: string[]) => void): void {
    this.listener = fn;
    for (const [b, c] of this.latest) fn(b, c);
  }

  /** Stops watching (idempotent). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.listener = null;
    for (const h of this.handles) h.close();
  }
}

/**
 * Internal: the leader's scheduler. Runs only while its worker leads; every write is a multi
 * fenced by the worker's own znode and `leader` at the epoch version (invariant 2).
 */
export class Scheduler {
  epoch = -1;
  private stopped = false;
  private running: Promise<void> | null = null;
  private dirty = false;
  private timer: NodeJS.Timeout | null = null;
  private clockOffset = 0;
  private clockAt = 0;
  private readonly markers = new Map<string, Marker>();
  private readonly bucketChildren = new Map<string, string[] | null>(); // null = not changed since read
  private readonly bucketKnown = new Map<string, Set<string>>();
  /**
   * Ready entries, one heap per job type: a round only looks at the types some live worker with
   * room handles, so a backlog that nobody can take (an unhandled type, full workers) costs nothing
   * per round and never hides a runnable job behind it.
   */
  private readonly ready = new Map<string, Heap<Ref>>();
  private readonly delayed = new Heap<{ due: number; r: Ref }>((x, y) => x.due < y.due);
  private readonly blocked = new Map<string, { r: Ref; deps: Set<string> }>(); // by job id
  private readonly parentWatches = new Map<string, WatchHandle>();
  private readonly parentStates = new Map<string, string>(); // parent id → final state ('gone' if deleted)
  private readonly live = new Map<string, LiveWorker>();
  private workersList: string[] | null = null;
  private readonly watches: WatchHandle[] = [];
  private deposedReason: string | null = null;
  /** Counters for tests and metrics. */
  readonly counters = { assigned: 0, requeued: 0, multis: 0 };
  private firstScheduledLogged = false;

  constructor(
    private readonly client: ZkClient,
    private readonly self: string,
    private readonly log: Logger,
    private readonly onDeposed: (reason: string) => void,
    private readonly pollMs: number,
    /** Hands this worker's own new assignments to its consumer in-process (after the commit). */
    private readonly onLocalAssignment?: (node: string, jobs: AssignedJob[]) => void,
  ) {}
  private poll: NodeJS.Timeout | null = null;

  private fence(tx: ReturnType<ZkClient['transaction']>): ReturnType<ZkClient['transaction']> {
    return tx.check(`${WORKERS}/${this.self}`, -1).check(LEADER, this.epoch);
  }

  /**
   * Takes leadership (a multi that checks our znode and bumps `leader`'s version → the epoch),
   * reconciles, and starts scheduling.
   * @throws DeposedError when our znode is gone
   */
  async start(warm?: PendingWatch): Promise<number> {
    // Ours from now on: stop() closes it even when the epoch cannot be taken.
    if (warm) this.pending = warm;
    // Learn ZooKeeper's clock while taking the epoch (two writes in flight, not one after the other).
    const clock = this.syncClock();
    clock.catch(() => undefined);
    for (;;) {
      const { stat } = await this.client.getData(LEADER);
      const info: LeaderInfo = {
        worker: this.self,
        session: this.client.sessionIdHex,
        host: hostname(),
        pid: process.pid,
        since: Date.now(),
      };
      try {
        const res = await this.client
          .transaction()
          .check(`${WORKERS}/${this.self}`, -1)
          .setData(LEADER, JSON.stringify(info), { version: stat.version })
          .commit();
        this.epoch = res[1]!.stat!.version;
        break;
      } catch (err) {
        if (err instanceof TransactionError && err.failedIndex === 0) throw new DeposedError('own znode gone');
        if (err instanceof TransactionError) continue;
        throw err;
      }
    }
    this.log.info({ worker: this.self, epoch: this.epoch, session: this.client.sessionIdHex }, 'leadership taken');
    await clock;
    this.watches.push(
      this.client.watchChildren(WORKERS, (children) => {
        this.workersList = children;
        this.kick();
      }),
    );
    for (const b of BUCKET_NAMES) this.bucketKnown.set(b, new Set());
    // A standby's listings are used as they are (its watches stay armed); else list them now.
    this.pending ??= new PendingWatch(this.client);
    this.pending.attach((b, children) => {
      this.bucketChildren.set(b, children);
      this.kick();
    });
    // Stale queue dirs (workers that died under an earlier leader) are requeued by the first round.
    this.kick();
    // Safety net against a lost watch notification: re-list what we watch now and then, a slice
    // of the buckets at a time (this session's requests are served in order: 129 listings at once
    // would hold up our own consumer's reads and claims behind them).
    this.poll = setInterval(
      () => {
        if (!this.relisting) void this.relist();
      },
      Math.max(1, Math.floor(this.pollMs / RELIST_SLICES)),
    );
    this.poll.unref();
    // The retention buckets are watched a moment later, off the takeover's path for the same reason.
    setTimeout(() => this.watchRetention(), RETENTION_WATCH_DELAY_MS).unref();
    return this.epoch;
  }

  private pending: PendingWatch | null = null;
  private retentionWatched = false;

  /** Watches the 64 retention buckets (RETENTION_WATCH_DELAY_MS after taking over: not on a takeover's path). */
  private watchRetention(): void {
    if (this.retentionWatched || this.stopped) return;
    this.retentionWatched = true;
    for (const b of BUCKET_NAMES) {
      this.watches.push(
        this.client.watchChildren(`${RETENTION}/${b}`, (children) => {
          this.retentionChildren.set(b, children);
          this.kick();
        }),
      );
    }
  }

  private relisting = false;
  private relistSlice = 0;
  private async relist(): Promise<void> {
    if (this.stopped) return;
    this.relisting = true;
    const slice = this.relistSlice;
    this.relistSlice = (slice + 1) % RELIST_SLICES;
    const per = Math.ceil(BUCKET_NAMES.length / RELIST_SLICES);
    try {
      if (slice === 0) this.workersList = (await this.client.getChildren(WORKERS)).children;
      await mapLimit(BUCKET_NAMES.slice(slice * per, (slice + 1) * per), 16, async (b) => {
        this.bucketChildren.set(b, (await this.client.getChildren(`${PENDING}/${b}`)).children);
        if (this.retentionWatched) {
          this.retentionChildren.set(b, (await this.client.getChildren(`${RETENTION}/${b}`)).children);
        }
      });
      if (slice === 0) for (const w of this.live.values()) w.dirty = true;
      this.kick();
    } catch {
      // the next poll or watch retries
    } finally {
      this.relisting = false;
    }
  }

  /** Stops scheduling (leadership lost or closing). */
  stop(): void {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    for (const w of this.watches) w.close();
    this.pending?.close();
    for (const w of this.live.values()) w.watch?.close();
    for (const w of this.parentWatches.values()) w.close();
    for (const g of this.gangs.values()) for (const w of g.watches) w.close();
    if (this.timer) clearTimeout(this.timer);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = (async () => {
      try {
        do {
          this.dirty = false;
          await this.round();
        } while (this.dirty && !this.stopped);
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof DeposedError || (err instanceof TransactionError && err.failedIndex <= 1)) {
          this.deposed(err instanceof DeposedError ? err.message : `fencing check failed (${err.failedOp.path})`);
          return;
        }
        this.log.warn({ err, epoch: this.epoch }, 'scheduling round failed; resynchronising');
        this.resync();
        this.later(200);
      } finally {
        this.running = null;
      }
    })();
  }

  private deposed(reason: string): void {
    if (this.deposedReason) return;
    this.deposedReason = reason;
    this.log.warn({ worker: this.self, epoch: this.epoch, reason }, 'deposed: scheduling stopped');
    this.stop();
    this.onDeposed(reason);
  }

  /** Forgets the in-memory view; the next round rebuilds it from ZooKeeper. */
  private resync(): void {
    this.markers.clear();
    this.ready.clear();
    this.delayed.clear();
    this.blocked.clear();
    for (const b of BUCKET_NAMES) {
      this.bucketKnown.set(b, new Set());
      this.bucketChildren.set(b, null);
    }
    this.needFullList = true;
    for (const w of this.live.values()) w.assignments.clear();
    this.needQueueRead = true;
  }

  private needFullList = false;
  private gangsLoaded = false;
  private needQueueRead = false;

  /** Runs a round in `ms` (at most a minute from now: a far due time is reached in steps). */
  private later(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.kick();
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
  }

  private serverNow(): number {
    return Date.now() + this.clockOffset;
  }

  /** Learns ZooKeeper's clock from the mtime of our own write to `clock`. */
  private async syncClock(): Promise<void> {
    const t0 = Date.now();
    const stat = await this.client.setData(CLOCK, this.self);
    const t1 = Date.now();
    this.clockOffset = stat.mtime - (t0 + t1) / 2;
    this.clockAt = t1;
  }

  private async round(): Promise<void> {
    if (this.stopped) return;
    if (Date.now() - this.clockAt > 30_000) await this.syncClock();
    await this.syncWorkers();
    await this.syncPending();
    if (this.needQueueRead) {
      this.needQueueRead = false;
      for (const w of this.live.values()) w.dirty = true;
    }
    await mapLimit([...this.live.values()], 16, (w) => this.readQueue(w));
    // Release due delayed entries.
    const now = this.serverNow();
    while (this.delayed.size > 0 && this.delayed.peek()!.due <= now) this.enqueue(this.delayed.pop()!.r);
    if (!this.gangsLoaded) {
      await this.loadGangs();
      this.gangsLoaded = true;
    }
    await this.finishGangs();
    await this.failBlocked();
    await this.assign();
    await this.scanStaleDirs();
    this.requeueGone();
    await this.syncRetention();
    await this.prune();
    const dues = [this.delayed.peek()?.due, this.pruneHeap.peek()?.due].filter((d): d is number => d !== undefined);
    if (dues.length > 0) this.later(Math.min(...dues) - this.serverNow() + 5);
  }

  // ----- workers ---------------------------------------------------------------------------

  private async syncWorkers(): Promise<void> {
    const list = this.workersList;
    if (list === null) return;
    this.workersList = null;
    const names = new Set(list.filter((n) => n.startsWith('w-')));
    if (!names.has(this.self)) throw new DeposedError('own znode gone');
    // New workers are set up concurrently (a new leader meets them all at once).
    await mapLimit(
      [...names].filter((n) => !this.live.has(n)),
      16,
      async (n) => {
        // The znode and the queue dir are read at once (one round trip, not two).
        const dirStat = this.client.exists(queueDir(n));
        dirStat.catch(() => undefined);
        let info: WorkerInfo;
        try {
          info = JSON.parse((await this.client.getData(`${WORKERS}/${n}`)).data.toString('utf8')) as WorkerInfo;
        } catch (err) {
          if (err instanceof NoNodeError) return;
          throw err;
        }
        const w: LiveWorker = {
          name: n,
          info,
          dirReady: false,
          assignments: new Map(),
          dirty: true,
          watch: null,
        };
        this.live.set(n, w);
        // The consumer creates its queue when it binds; create it only if missing (a read, not a write).
        if ((await dirStat) === null) {
          try {
            await this.client.create(queueDir(n));
          } catch (err) {
            if (!(err instanceof NodeExistsError)) throw err;
          }
        }
        w.watch = this.client.watchChildren(queueDir(n), () => {
          w.dirty = true;
          this.kick();
        });
        this.log.info(
          { worker: n, host: info.host, pid: info.pid, concurrency: info.concurrency, epoch: this.epoch },
          'worker joined',
        );
      },
    );
    for (const [n, w] of this.live) {
      if (names.has(n)) continue;
      w.watch?.close();
      this.live.delete(n);
      this.log.info({ worker: n, epoch: this.epoch }, 'worker gone: requeueing its jobs');
    }
    this.needStaleScan = true;
  }

  private needStaleScan = false;

  /**
   * Marks for requeueing every queue dir without a live worker (including ones left from earlier
   * leaders). Runs after the round's assignments (two reads that a takeover need not wait for).
   */
  private async scanStaleDirs(): Promise<void> {
    if (!this.needStaleScan) return;
    this.needStaleScan = false;
    const names = new Set(this.live.keys());
    const { children: dirs } = await this.client.getChildren(QUEUE);
    const gone = await mapLimit(
      dirs.filter((d) => !names.has(d)),
      16,
      async (d) => ((await this.client.exists(`${WORKERS}/${d}`)) === null ? d : null),
    );
    for (const d of gone) if (d !== null) this.toRequeue.add(d);
  }

  /** Queue dirs of gone workers, requeued after the round's assignments (they are not on its path). */
  private readonly toRequeue = new Set<string>();

  private requeuing: Promise<void> | null = null;

  /**
   * Requeues the gone workers' queues beside the rounds, not inside them: a new leader's first
   * assignments do not wait for its predecessor's queue to be read and requeued. Safe to overlap a
   * round: the requeue writes only the dead worker's records (fenced, version-checked), a new
   * marker and the dead queue, none of which a round writes.
   */
  private requeueGone(): void {
    if (this.requeuing || this.toRequeue.size === 0 || this.stopped) return;
    this.requeuing = (async () => {
      try {
        for (const d of [...this.toRequeue]) {
          if (this.stopped) return;
          await this.requeueWorker(d);
          this.toRequeue.delete(d);
        }
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof TransactionError && err.failedIndex <= 1) {
          this.deposed(`fencing check failed (${err.failedOp.path})`);
          return;
        }
        this.log.warn({ err, epoch: this.epoch }, 'requeue of a gone worker failed; retrying');
        this.later(200);
      } finally {
        this.requeuing = null;
      }
    })();
  }

  /**
   * Brings a worker's assignment sizes up to date by listing its queue. The listing is requested
   * here, in the round, after every assignment we know of was committed, so a node missing from
   * it is really gone (a listing handed over by a watch could predate our own create).
   */
  private async readQueue(w: LiveWorker): Promise<void> {
    if (!w.dirty || this.live.get(w.name) !== w) return;
    w.dirty = false;
    let children: string[];
    try {
      children = (await this.client.getChildren(queueDir(w.name))).children;
    } catch (err) {
      if (err instanceof NoNodeError) return; // not created yet, or being requeued
      throw err;
    }
    w.dirReady = true;
    const present = new Set(children.filter((c) => c.startsWith('a-')));
    for (const k of [...w.assignments.keys()]) if (!present.has(k)) w.assignments.delete(k);
    await mapLimit(
      [...present].filter((c) => !w.assignments.has(c)),
      16,
      async (c) => {
        try {
          const { data } = await this.client.getData(`${queueDir(w.name)}/${c}`);
          w.assignments.set(c, decodeAssignment(data).length);
        } catch (err) {
          if (!(err instanceof NoNodeError)) throw err;
        }
      },
    );
  }

  /**
   * Requeues the unfinished jobs of a worker whose znode (session) is gone: each job still
   * assigned to it (not claimed, or claimed by it) goes back to waiting with a history entry
   * "requeued: owner session gone", in a fenced multi that also deletes the worker's queue.
   */
  private async requeueWorker(worker: string): Promise<void> {
    const dir = queueDir(worker);
    let children: string[];
    try {
      children = (await this.client.getChildren(dir)).children;
    } catch (err) {
      if (err instanceof NoNodeError) return;
      throw err;
    }
    const jobs: AssignedJob[] = [];
    for (const c of children) {
      if (!c.startsWith('a-')) continue;
      try {
        jobs.push(...decodeAssignment((await this.client.getData(`${dir}/${c}`)).data));
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
    }
    const reads = await mapLimit(jobs, 64, async ([id, a]) => ({ id, a, found: await readRecord(this.client, id) }));
    const tx = this.fence(this.client.transaction());
    const entries: PendingEntry[] = [];
    const logs: object[] = [];
    for (const { id, a, found } of reads) {
      if (!found) continue;
      const { rec, stat } = found;
      const unclaimed = (rec.state === 'waiting' || rec.state === 'delayed') && rec.attemptsMade === a;
      const claimedByIt = rec.state === 'active' && rec.claim?.worker === worker && rec.attemptsMade === a + 1;
      if (!unclaimed && !claimedByIt) continue;
      const next: JobRecord = {
        ...rec,
        state: 'waiting',
        claim: null,
        history: claimedByIt
          ? closeAttempt(rec.history, rec.claim?.token, {
              outcome: 'requeued',
              error: 'owner session gone',
              by: `${this.self}@${this.epoch}`,
            })
          : rec.history,
      };
      tx.setData(jobPath(id), encodeRecord(next), { version: stat.version });
      entries.push({ id, type: rec.type, priority: rec.opts.priority, attemptsMade: rec.attemptsMade, delay: 0 });
      // A claimed job's log names the claim's token; an assignment that was never claimed has none
      // (no token was handed out): its log names the record version it was requeued at instead.
      logs.push({
        jobId: id,
        attempt: rec.attemptsMade,
        ...(claimedByIt && rec.claim
          ? { token: rec.claim.token, session: rec.claim.session }
          : { version: stat.version }),
        worker: rec.claim?.worker ?? worker,
        wasClaimed: claimedByIt,
      });
    }
    if (entries.length > 0) {
      tx.create(pendingMarkerPrefix(entries[0]!.id), {
        data: encodeMarker(entries),
        mode: CreateMode.PERSISTENT_SEQUENTIAL,
      });
    }
    for (const c of children) tx.delete(`${dir}/${c}`);
    tx.delete(dir);
    await tx.commit();
    this.counters.multis++;
    this.counters.requeued += entries.length;
    for (const l of logs)
      this.log.info({ ...l, state: 'waiting', epoch: this.epoch, reason: 'owner session gone' }, 'job requeued');
    if (entries.length > 0 || children.length > 0) {
      this.log.info({ worker, requeued: entries.length, epoch: this.epoch }, 'dead worker queue requeued');
    }
  }

  // ----- pending markers -------------------------------------------------------------------

  private async syncPending(): Promise<void> {
    if (this.needFullList) {
      this.needFullList = false;
      await mapLimit(BUCKET_NAMES, 16, async (b) => {
        this.bucketChildren.set(b, (await this.client.getChildren(`${PENDING}/${b}`)).children);
      });
    }
    const toRead: string[] = [];
    for (const b of BUCKET_NAMES) {
      const children = this.bucketChildren.get(b);
      if (!children) continue;
      this.bucketChildren.set(b, null);
      const known = this.bucketKnown.get(b)!;
      for (const c of children) {
        if (!known.has(c)) {
          known.add(c);
          toRead.push(`${PENDING}/${b}/${c}`);
        }
      }
      const present = new Set(children);
      for (const k of [...known]) if (!present.has(k)) known.delete(k);
    }
    toRead.sort((x, y) => (x.slice(-10) < y.slice(-10) ? -1 : 1));
    const read = await mapLimit(toRead, 32, async (p) => {
      try {
        return { p, ...(await this.client.getData(p)) };
      } catch (err) {
        if (err instanceof NoNodeError) return null;
        throw err;
      }
    });
    for (const r of read) if (r) this.addMarker(r.p, r.data, r.stat);
  }

  private addMarker(path: string, data: Buffer, stat: Stat): void {
    if (this.markers.has(path)) return;
    let entries: PendingEntry[];
    let order: number;
    try {
      ({ entries, order } = decodeMarkerDoc(data));
    } catch (err) {
      this.log.error({ err, marker: path }, 'unreadable pending marker (left alone)');
      return;
    }
    const m: Marker = {
      path,
      version: stat.version,
      czxid: stat.czxid,
      ctime: stat.ctime,
      entries,
      order,
      taken: new Set(),
      done: new Set(),
    };
    this.markers.set(path, m);
    const now = this.serverNow();
    entries.forEach((e, i) => {
      const r: Ref = { m, i, e };
      if (e.delay > 0 && stat.ctime + e.delay > now) this.delayed.push({ due: stat.ctime + e.delay, r });
      else this.enqueue(r);
    });
  }

  /** Puts an entry in the ready heap, or blocks it on its dependencies. */
  private enqueue(r: Ref): void {
    const deps = (r.e.dependsOn ?? []).filter(
      (d) => this.parentStates.get(d) !== 'completed' && this.parentStates.get(d) !== 'gone',
    );
    if (deps.length === 0) {
      this.pushReady(r);
      return;
    }
    this.blocked.set(r.e.id, { r, deps: new Set(deps) });
    for (const d of deps) this.watchParent(d);
  }

  private pushReady(r: Ref): void {
    let h = this.ready.get(r.e.type);
    if (!h) {
      h = new Heap<Ref>(before);
      this.ready.set(r.e.type, h);
    }
    h.push(r);
  }

  private watchParent(id: string): void {
    if (this.parentWatches.has(id)) return;
    this.parentWatches.set(
      id,
      this.client.watchData(jobPath(id), (data) => {
        let state = 'gone';
        if (data) state = parseRecord(data).state;
        if (state !== 'gone' && !isFinalState(state as never)) return;
        this.parentStates.set(id, state);
        this.parentWatches.get(id)?.close();
        this.parentWatches.delete(id);
        for (const [bid, b] of this.blocked) {
          if (!b.deps.has(id)) continue;
          if (state === 'completed' || state === 'gone') {
            b.deps.delete(id);
            if (b.deps.size === 0) {
              this.blocked.delete(bid);
              this.pushReady(b.r);
            }
          }
        }
        this.kick();
      }),
    );
  }

  /** Fails dependants whose parent ended failed, dead or cancelled. */
  private async failBlocked(): Promise<void> {
    for (const [id, b] of [...this.blocked]) {
      const bad = [...b.deps].find((d) => {
        const s = this.parentStates.get(d);
        return s === 'failed' || s === 'dead' || s === 'cancelled';
      });
      if (!bad) continue;
      const found = await readRecord(this.client, id);
      const tx = this.fence(this.client.transaction());
      if (found && !isFinalState(found.rec.state) && found.rec.attemptsMade === b.r.e.attemptsMade) {
        const rec: JobRecord = {
          ...found.rec,
          state: 'failed',
          finishedAt: Date.now(),
          error: { name: 'DependencyFailedError', message: `dependency ${bad} ended ${this.parentStates.get(bad)}` },
        };
        tx.setData(jobPath(id), encodeRecord(rec), { version: found.stat.version });
      }
      b.r.m.taken.add(b.r.e.id);
      this.markerOps(tx, new Set([b.r.m]));
      await tx.commit();
      this.afterMarkerCommit(new Set([b.r.m]));
      this.blocked.delete(id);
      this.log.info(
        { jobId: id, state: 'failed', dependency: bad, epoch: this.epoch },
        'job failed: dependency did not complete',
      );
    }
  }

  private markerOps(tx: ReturnType<ZkClient['transaction']>, touched: Set<Marker>): void {
    for (const m of touched) {
      const remaining = m.entries.filter((e) => !m.taken.has(e.id) && !m.done.has(e.id));
      if (remaining.length === 0) tx.delete(m.path, { version: m.version });
      else tx.setData(m.path, encodeMarker(remaining, m.order), { version: m.version });
    }
  }

  private afterMarkerCommit(touched: Set<Marker>): void {
    for (const m of touched) {
      for (const id of m.taken) m.done.add(id);
      m.taken.clear();
      if (m.done.size >= m.entries.length) this.markers.delete(m.path);
      else m.version++;
    }
  }

  // ----- assignment ------------------------------------------------------------------------

  private async assign(): Promise<void> {
    const workers = [...this.live.values()].filter((w) => w.dirReady);
    if (workers.length === 0 || this.ready.size === 0) return;
    const cap = new Map<LiveWorker, number>();
    for (const w of workers) {
      let used = 0;
      for (const n of w.assignments.values()) used += n;
      cap.set(w, Math.max(0, w.info.prefetch - used));
    }
    if (![...cap.values()].some((c) => c > 0)) return;
    const chunkOf = (w: LiveWorker) => Math.max(1, Math.ceil(w.info.prefetch / 4));
    const held: Ref[] = [];
    const gangs: Ref[] = [];
    const plan = new Map<LiveWorker, Ref[][]>();
    let ops = 2;
    const touched = new Set<Marker>();
    // The next entry: the first in ready order among the types that a worker with room handles.
    const next = (): Ref | undefined => {
      let best: Heap<Ref> | undefined;
      for (const [type, h] of this.ready) {
        const top = h.peek();
        if (!top || (best && !before(top, best.peek()!))) continue;
        if (workers.some((w) => cap.get(w)! > 0 && w.info.types.includes(type))) best = h;
      }
      return best?.pop();
    };
    for (let r = next(); r && ops < MAX_OPS - 4; r = next()) {
      const size = r.e.parallelism ?? 1;
      if (size > 1) {
        // A gang: one task on each of `size` different workers with room, at the same time.
        const members = workers
          .filter((w) => cap.get(w)! > 0 && w.info.types.includes(r.e.type))
          .sort((a, b) => cap.get(b)! - cap.get(a)!)
          .slice(0, size);
        if (members.length < size || ops + 2 * size + 3 > MAX_OPS) {
          held.push(r);
          if (held.length > 1000) break;
          continue;
        }
        members.forEach((w, index) => {
          cap.set(w, cap.get(w)! - 1);
          const task: Ref = { m: r.m, i: r.i, e: { ...r.e, id: gangTaskId(r.e.id, index), parallelism: 1 } };
          const chunks = plan.get(w) ?? [];
          chunks.push([task]);
          plan.set(w, chunks);
        });
        gangs.push(r);
        ops += size + 3;
        touched.add(r.m);
        r.m.taken.add(r.e.id);
        continue;
      }
      let best: LiveWorker | undefined;
      let bestCap = 0;
      for (const w of workers) {
        const c = cap.get(w)!;
        if (c > bestCap && w.info.types.includes(r.e.type)) {
          best = w;
          bestCap = c;
        }
      }
      if (!best) {
        held.push(r); // not reached: next() only returns types a worker with room handles
        continue;
      }
      cap.set(best, bestCap - 1);
      const chunks = plan.get(best) ?? [];
      const last = chunks[chunks.length - 1];
      if (last && last.length < chunkOf(best)) last.push(r);
      else {
        chunks.push([r]);
        ops++;
      }
      plan.set(best, chunks);
      if (!touched.has(r.m)) ops++;
      touched.add(r.m);
      r.m.taken.add(r.e.id);
      if ([...cap.values()].every((c) => c <= 0)) break;
    }
    for (const r of held) this.pushReady(r);
    if (plan.size === 0) return;
    const tx = this.fence(this.client.transaction());
    const created: { w: LiveWorker; size: number; jobs: AssignedJob[] }[] = [];
    for (const [w, chunks] of plan) {
      for (const c of chunks) {
        const jobs = c.map((r) => [r.e.id, r.e.attemptsMade, r.e.priority] as AssignedJob);
        tx.create(`${queueDir(w.name)}/a-`, {
          data: encodeAssignment(jobs, this.epoch),
          mode: CreateMode.PERSISTENT_SEQUENTIAL,
        });
        created.push({ w, size: c.length, jobs });
      }
    }
    this.markerOps(tx, touched);
    const gangTasks = new Map<string, string[]>();
    for (const g of gangs) {
      const found = await readRecord(this.client, g.e.id);
      const tasks = Array.from({ length: g.e.parallelism ?? 1 }, (_, k) => gangTaskId(g.e.id, k));
      if (found && !isFinalState(found.rec.state)) {
        tx.setData(jobPath(g.e.id), encodeRecord({ ...found.rec, state: 'active' }), { version: found.stat.version });
      }
      tx.create(`${GANGS}/${g.e.id}`, { data: JSON.stringify({ tasks, epoch: this.epoch }) });
      gangTasks.set(g.e.id, tasks);
    }
    let res;
    try {
      res = await tx.commit();
    } catch (err) {
      for (const m of touched) m.taken.clear();
      throw err;
    }
    this.counters.multis++;
    created.forEach((c, i) => {
      const node = res[i + 2]?.createdPath?.split('/').pop();
      if (node && !c.w.assignments.has(node)) c.w.assignments.set(node, c.size);
      this.counters.assigned += c.size;
      if (node && c.w.name === this.self && this.onLocalAssignment) this.onLocalAssignment(node, c.jobs);
    });
    this.afterMarkerCommit(touched);
    for (const [parent, tasks] of gangTasks) {
      this.log.info({ jobId: parent, tasks: tasks.length, state: 'active', epoch: this.epoch }, 'gang job scheduled');
      this.watchGang(parent, tasks);
    }
    if (!this.firstScheduledLogged) {
      this.firstScheduledLogged = true;
      this.log.info(
        { epoch: this.epoch, worker: this.self, jobs: this.counters.assigned },
        'first jobs scheduled by this leader',
      );
    }
    this.log.debug(
      { epoch: this.epoch, assignments: created.length, jobs: created.reduce((s, c) => s + c.size, 0) },
      'jobs assigned',
    );
    if ([...this.ready.values()].some((h) => h.size > 0)) this.dirty = true;
  }

  // ----- retention -------------------------------------------------------------------------

  private readonly retentionChildren = new Map<string, string[]>();
  private readonly retentionKnown = new Set<string>();
  private readonly pruneHeap = new Heap<{ due: number; path: string; ids: string[] }>((x, y) => x.due < y.due);

  /** Reads new retention markers `{ age, ids }`; due = the marker's ctime + age (ZooKeeper's clock). */
  private async syncRetention(): Promise<void> {
    const toRead: string[] = [];
    for (const [b, children] of this.retentionChildren) {
      this.retentionChildren.delete(b);
      for (const c of children) {
        const p = `${RETENTION}/${b}/${c}`;
        if (!this.retentionKnown.has(p)) {
          this.retentionKnown.add(p);
          toRead.push(p);
        }
      }
    }
    await mapLimit(toRead, 16, async (p) => {
      try {
        const { data, stat } = await this.client.getData(p);
        const doc = JSON.parse(data.toString('utf8')) as { age: number; ids: string[] };
        this.pruneHeap.push({ due: stat.ctime + doc.age, path: p, ids: doc.ids });
      } catch (err) {
        if (!(err instanceof NoNodeError)) this.retentionKnown.delete(p);
        if (!(err instanceof NoNodeError)) throw err;
      }
    });
  }

  /** Deletes the finished records whose retention age has passed (fenced; a missing record is fine). */
  private async prune(): Promise<void> {
    const now = this.serverNow();
    while (this.pruneHeap.size > 0 && this.pruneHeap.peek()!.due <= now) {
      const m = this.pruneHeap.peek()!;
      const tx = this.fence(this.client.transaction());
      for (const id of m.ids) tx.delete(jobPath(id));
      tx.delete(m.path);
      try {
        await tx.commit();
      } catch (err) {
        if (!(err instanceof TransactionError) || err.failedIndex <= 1) throw err;
        // A record was deleted already: delete the others one by one.
        for (const id of m.ids) {
          try {
            await this.fence(this.client.transaction()).delete(jobPath(id)).commit();
          } catch (e) {
            if (!(e instanceof TransactionError) || e.failedIndex <= 1) throw e;
          }
        }
        await this.fence(this.client.transaction()).delete(m.path).commit();
      }
      this.pruneHeap.pop();
      this.retentionKnown.delete(m.path);
      this.log.info({ jobs: m.ids.length, epoch: this.epoch }, 'finished jobs removed (retention)');
    }
  }

  // ----- gang jobs -------------------------------------------------------------------------

  private readonly gangs = new Map<
    string,
    { tasks: string[]; states: Map<string, JobRecord>; watches: WatchHandle[] }
  >();
  private gangsDirty = false;

  /** Follows the task records of a running gang job; the round finalises it when all are final. */
  private watchGang(parent: string, tasks: string[]): void {
    if (this.gangs.has(parent)) return;
    const g = { tasks, states: new Map<string, JobRecord>(), watches: [] as WatchHandle[] };
    this.gangs.set(parent, g);
    for (const t of tasks) {
      g.watches.push(
        this.client.watchData(jobPath(t), (data) => {
          if (!data) return;
          const rec = parseRecord(data);
          if (!isFinalState(rec.state)) return;
          g.states.set(t, rec);
          if (g.states.size === g.tasks.length) {
            this.gangsDirty = true;
            this.kick();
          }
        }),
      );
    }
  }

  /** Re-follows the gangs a previous leader started (`gangs/<parent>`). */
  private async loadGangs(): Promise<void> {
    const { children } = await this.client.getChildren(GANGS);
    for (const parent of children) {
      if (this.gangs.has(parent)) continue;
      try {
        const doc = JSON.parse((await this.client.getData(`${GANGS}/${parent}`)).data.toString('utf8')) as {
          tasks: string[];
        };
        this.watchGang(parent, doc.tasks);
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
    }
  }

  /** Writes the outcome of every gang whose tasks have all finished: completed iff all completed. */
  private async finishGangs(): Promise<void> {
    if (!this.gangsDirty) return;
    this.gangsDirty = false;
    for (const [parent, g] of [...this.gangs]) {
      if (g.states.size < g.tasks.length) continue;
      const recs = g.tasks.map((t) => g.states.get(t)!);
      const failed = recs.find((r) => r.state !== 'completed');
      const tx = this.fence(this.client.transaction());
      const found = await readRecord(this.client, parent);
      if (found && !isFinalState(found.rec.state)) {
        const rec: JobRecord = failed
          ? {
              ...found.rec,
              state: 'failed',
              finishedAt: Date.now(),
              error: {
                name: 'GangTaskFailedError',
                message: `task ${failed.id} ended ${failed.state}: ${failed.error?.message ?? ''}`,
              },
            }
          : { ...found.rec, state: 'completed', finishedAt: Date.now(), result: recs.map((r) => r.result) };
        tx.setData(jobPath(parent), encodeRecord(rec), { version: found.stat.version });
      }
      tx.delete(`${GANGS}/${parent}`);
      await tx.commit();
      for (const w of g.watches) w.close();
      this.gangs.delete(parent);
      this.client.delete(`${BARRIERS}/${parent}-1`).catch(() => undefined);
      this.log.info(
        { jobId: parent, state: failed ? 'failed' : 'completed', epoch: this.epoch },
        `gang job ${failed ? 'failed' : 'completed'}`,
      );
    }
  }
}
