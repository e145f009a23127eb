/**
 * The leader's scheduler: runs only while its worker leads. It takes the epoch
 * (`ops.epochOps`), then runs rounds — read what changed, release due entries, finish gangs,
 * fail dependants of failed parents, assign (`assign.plan` → `ops.assignOps`), requeue dead
 * workers' queues, prune by retention — each write a multi fenced by the worker's own znode and
 * `leader` at the epoch version. Its parts: the ready queue, the worker pool, gangs, retention.
 */
import { hostname } from 'node:os';
import type { WatchHandle, ZkClient } from '@zkjobs/core';
import { NoNodeError, TransactionError } from '@zkjobs/core';
import type { Logger } from 'pino';
import {
  assignOps,
  epochOps,
  type RecordWrite,
  failDependantOps,
  isHolderFenceFailure,
  isLeaderFenceFailure,
  type GangStart,
} from '../engine/ops.js';
import { failDependant, isDependantCurrent, isFinalState, startGang } from '../engine/transitions.js';
import { readRecords } from '../engine/record.js';
import type { JobRecord } from '../job.js';
import {
  BUCKET_NAMES,
  CLOCK,
  LEADER,
  PENDING,
  RETENTION,
  WORKERS,
  gangTaskId,
  isTypePaused,
  type AssignedJob,
  type LeaderInfo,
} from '../layout.js';
import { LOG } from '../log-events.js';
import { plan, type PlanWorker } from './assign.js';
import { ControlWatch } from './controls.js';
import { LimitTracker } from './limits.js';
import { ScheduleFirer } from './schedules.js';
import { CountFolder } from './counts.js';
import { DeposedError, readForLeader, type LeaderContext, type SchedulerCounters } from './context.js';
import { GangTracker } from './gangs.js';
import { PendingWatch } from './pending-watch.js';
import { ReadyQueue, type Marker } from './ready-queue.js';
import { Retention } from './retention.js';
import { WorkerPool, assignedCount, type LiveWorker } from './worker-pool.js';
import { multiReadChunked } from '../util.js';

export { DeposedError } from './context.js';
export { PendingWatch } from './pending-watch.js';

/** The safety re-listing covers every bucket once per `pollMs`, in this many slices. */
const RELIST_SLICES = 8;
/** A new leader starts watching the retention buckets this long after taking over, ms. */
const RETENTION_WATCH_DELAY_MS = 500;
/** A scheduling round waits at most this long (ms), so far due times never overflow a timer. */
const MAX_TIMER_MS = 60_000;
/** The count deltas are folded into the summary this often, ms. */
const COUNT_FOLD_MS = 1000;
/** Records claimed inside one assignment multi for our own consumer, at most (bytes as read). */
const LOCAL_CLAIM_BYTES = 256 * 1024;
/** ZooKeeper's clock is learnt again when the last reading is older than this, ms. */
const CLOCK_MAX_AGE_MS = 30_000;

/**
 * The scheduler's life: `latent` (made), `taking-epoch` (start() runs), `leading` (rounds run),
 * `stopped` (deposed or closed; nothing is written any more).
 */
export type SchedulerState = 'latent' | 'taking-epoch' | 'leading' | 'stopped';

/** Rounds: none running, one running, or one running and another asked for. */
type RoundState = 'idle' | 'running' | 'rerun';

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** The namespaced client of the leading worker. */
  client: ZkClient;
  /** The leading worker's znode name (`w-…`). */
  self: string;
  log: Logger;
  /** The safety re-listing covers every watched listing once per this many ms. */
  pollMs: number;
  /** Called once when a fence check fails (the scheduler has stopped). */
  onDeposed: (reason: string) => void;
  /**
   * Hands this worker's own new assignments to its consumer in-process (after the commit), with
   * the jobs claimed for it by that multi (see {@link localClaimer}).
   */
  onLocalAssignment?: (node: string, jobs: AssignedJob[], claimed: ReadonlyMap<string, LocalClaim>) => void;
  /**
   * This worker's consumer, when idle: a claimer for the first jobs the round assigns to it,
   * claimed inside the assignment multi (or null: the consumer claims them itself).
   */
  localClaimer?: () => LocalClaimer | null;
  /**
   * Whether this worker's consumer is idle now (what {@link localClaimer} would need), asked
   * without taking it: when it is, a round reading one new marker reads its first record too.
   */
  localIdle?: () => boolean;
  /**
   * Called before a multi that creates assignments for this worker is sent; the function it
   * returns is called once that multi has settled and its assignments were handed over (so the
   * consumer need not read what its queue watch reports meanwhile).
   */
  onLocalAssigning?: () => () => void;
  /** Called for background failures it retries (the worker's `error` event). */
  onError?: (err: Error) => void;
  /** Count deltas kept after they are folded (the event log's length). @defaultValue 1000 */
  maxEventDeltas?: number;
}

/** A job claimed for the leader's own consumer by its assignment multi. */
export interface LocalClaim {
  /** The record as claimed (its `claim.token` is the version the multi gave it). */
  rec: JobRecord;
  /** The zxid of the claim's write. */
  zxid: string;
}

/**
 * The leader's own idle consumer, claiming inside the assignment multi: its room is reserved
 * until {@link release}.
 */
export interface LocalClaimer {
  /** Jobs it may start now. */
  readonly room: number;
  /** The record claimed for it, or null when it would not claim this one (stale, paused, no handler). */
  claim(rec: JobRecord, version: number, attemptsMade: number): JobRecord | null;
  /** Gives the reserved room back (idempotent); called after the claimed jobs were handed over. */
  release(): void;
}

/** A claim the leader writes for its own consumer; `prefetched`: its record was read with its marker. */
type LocalClaimWrite = RecordWrite & { next: JobRecord; prefetched: boolean };

/** Internal: the leader's scheduler. */
export class Scheduler {
  /** Counts of this leader, for tests and metrics. */
  readonly counters: SchedulerCounters = {
    assigned: 0,
    requeued: 0,
    lost: 0,
    multis: 0,
    localClaims: 0,
    prefetchedClaims: 0,
  };
  private state: SchedulerState = 'latent';
  private round: RoundState = 'idle';
  /** The fence of every write; its epoch is set once taken. */
  private readonly fenceState: { self: string; epoch: number };
  private timer: NodeJS.Timeout | null = null;
  private poll: NodeJS.Timeout | null = null;
  private relisting = false;
  private relistSlice = 0;
  private clockOffset = 0;
  private clockAt = 0;
  private clockSyncing = false;
  private firstScheduledLogged = false;
  private deposedReason: string | null = null;
  private pending: PendingWatch | null = null;
  private readonly watches: WatchHandle[] = [];
  private readonly ctx: LeaderContext;
  private readonly ready: ReadyQueue;
  private readonly pool: WorkerPool;
  private readonly gangs: GangTracker;
  private readonly retention: Retention;
  private readonly limiter: LimitTracker;
  private readonly schedules: ScheduleFirer;
  private readonly counts: CountFolder;
  private controls: ControlWatch | null = null;

  constructor(private readonly opts: SchedulerOptions) {
    this.fenceState = { self: opts.self, epoch: -1 };
    this.ctx = {
      client: opts.client,
      log: opts.log,
      self: opts.self,
      fence: this.fenceState,
      counters: this.counters,
      stopped: () => this.state === 'stopped',
      kick: () => this.kick(),
      later: (ms) => this.later(ms),
      serverNow: () => Date.now() + this.clockOffset,
      deposed: (reason) => this.deposed(reason),
      reportError: (err, msg) => {
        opts.log.warn({ err, epoch: this.epoch }, msg);
        opts.onError?.(err instanceof Error ? err : new Error(String(err)));
      },
    };
    this.ready = new ReadyQueue(this.ctx, { prefetchFirstRecord: () => this.opts.localIdle?.() === true });
    this.pool = new WorkerPool(this.ctx);
    this.gangs = new GangTracker(this.ctx);
    this.retention = new Retention(this.ctx);
    this.limiter = new LimitTracker(this.ctx);
    this.schedules = new ScheduleFirer(this.ctx);
    this.counts = new CountFolder(this.ctx, opts.maxEventDeltas);
  }

  /** The epoch taken by {@link start}, -1 before. */
  get epoch(): number {
    return this.fenceState.epoch;
  }

  /** Where the scheduler is in its life. */
  get lifecycle(): SchedulerState {
    return this.state;
  }

  /**
   * Takes leadership (a multi that checks our znode and bumps `leader`'s version → the epoch),
   * reconciles, and starts scheduling.
   * @param warm - a warm standby's pending listings, adopted (and closed by {@link stop})
   * @returns the epoch
   * @throws DeposedError when our znode is gone
   */
  async start(warm?: PendingWatch): Promise<number> {
    if (this.state !== 'latent') throw new Error(`Scheduler cannot be started: it is ${this.state}`);
    this.state = 'taking-epoch';
    // Ours from now on: stop() closes it even when the epoch cannot be taken.
    if (warm) this.pending = warm;
    const { client, self, log } = this.opts;
    // Learn ZooKeeper's clock while taking the epoch (two writes in flight, not one after the other).
    const clock = this.syncClock();
    clock.catch(() => undefined);
    for (;;) {
      const { stat } = await client.getData(LEADER);
      const info: LeaderInfo = {
        worker: self,
        session: client.sessionIdHex,
        host: hostname(),
        pid: process.pid,
        since: Date.now(),
      };
      const { tx, epoch } = epochOps(client, self, info, stat.version);
      try {
        this.fenceState.epoch = epoch(await tx.commit());
        break;
      } catch (err) {
        if (isHolderFenceFailure(err)) throw new DeposedError('own znode gone');
        if (err instanceof TransactionError) continue;
        throw err;
      }
    }
    log.info({ worker: self, epoch: this.epoch, session: client.sessionIdHex }, 'leadership taken');
    await clock;
    if (this.state !== 'taking-epoch') return this.epoch; // stopped meanwhile
    this.state = 'leading';
    this.limiter.begin(this.ctx.serverNow());
    // Pause and limits are read before the first assignment (runRound waits for them).
    this.controls = new ControlWatch(this.ctx);
    this.schedules.watch().catch((err: unknown) => this.ctx.reportError(err, 'could not watch the schedules'));
    this.counts.start(COUNT_FOLD_MS);
    this.watches.push(
      client.watchChildren(WORKERS, (children) => {
        this.pool.onListing(children);
        this.kick();
      }),
    );
    // A standby's listings are used as they are (its watches stay armed); else list them now.
    this.pending ??= new PendingWatch(client);
    this.pending.attach((b, children) => {
      this.ready.onListing(b, children);
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
      Math.max(1, Math.floor(this.opts.pollMs / RELIST_SLICES)),
    );
    this.poll.unref();
    // The retention buckets are watched a moment later, off the takeover's path for the same reason.
    setTimeout(() => this.retention.watch(), RETENTION_WATCH_DELAY_MS).unref();
    return this.epoch;
  }

  /** Stops scheduling (leadership lost or closing). Idempotent. */
  stop(): void {
    this.state = 'stopped';
    if (this.poll) clearInterval(this.poll);
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watches) w.close();
    this.pending?.close();
    this.pool.close();
    this.ready.close();
    this.gangs.close();
    this.retention.close();
    this.limiter.close();
    this.controls?.close();
    this.schedules.close();
    this.counts.close();
  }

  private async relist(): Promise<void> {
    if (this.state !== 'leading') return;
    this.relisting = true;
    const slice = this.relistSlice;
    this.relistSlice = (slice + 1) % RELIST_SLICES;
    const per = Math.ceil(BUCKET_NAMES.length / RELIST_SLICES);
    const { client } = this.opts;
    try {
      // One request per slice (multiRead): the listings of its buckets, and the workers once a turn.
      const buckets = BUCKET_NAMES.slice(slice * per, (slice + 1) * per);
      const retention = this.retention.isWatching;
      const paths = [
        ...(slice === 0 ? [WORKERS] : []),
        ...buckets.map((b) => `${PENDING}/${b}`),
        ...(retention ? buckets.map((b) => `${RETENTION}/${b}`) : []),
      ];
      const res = await multiReadChunked(
        client,
        paths.map((path) => ({ type: 'getChildren' as const, path })),
      );
      const children = (i: number): string[] | null => {
        const r = res[i];
        if (r?.type === 'getChildren') return r.children;
        if (r?.type === 'error' && !(r.error instanceof NoNodeError)) throw r.error;
        return null;
      };
      let i = 0;
      if (slice === 0) {
        const w = children(i++);
        if (w) this.pool.onListing(w);
      }
      for (const b of buckets) {
        const c = children(i++);
        if (c) this.ready.onListing(b, c);
      }
      if (retention) {
        for (const b of buckets) {
          const c = children(i++);
          if (c) this.retention.onListing(b, c);
        }
      }
      if (slice === 0) this.pool.markAllDirty();
      this.kick();
    } catch (err) {
      // The next poll or watch retries.
      this.opts.log.debug({ err }, 'safety re-listing failed');
    } finally {
      this.relisting = false;
    }
  }

  private kick(): void {
    if (this.state !== 'leading') return;
    if (this.round !== 'idle') {
      this.round = 'rerun';
      return;
    }
    this.round = 'running';
    void (async () => {
      try {
        do {
          this.round = 'running';
          await this.runRound();
        } while (this.rerunAsked() && this.state === 'leading');
      } catch (err) {
        if (this.state !== 'leading') return;
        if (err instanceof DeposedError || isLeaderFenceFailure(err)) {
          this.deposed(err instanceof DeposedError ? err.message : `fencing check failed (${err.failedOp.path})`);
          return;
        }
        this.ctx.reportError(err, 'scheduling round failed; resynchronising');
        this.resync();
        this.later(200);
      } finally {
        this.round = 'idle';
      }
    })();
  }

  /** True when a kick came in while the round ran (its state is read again after the await). */
  private rerunAsked(): boolean {
    return this.round === 'rerun';
  }

  private deposed(reason: string): void {
    if (this.deposedReason) return;
    this.deposedReason = reason;
    this.opts.log.warn({ worker: this.opts.self, epoch: this.epoch, reason }, 'deposed: scheduling stopped');
    this.stop();
    this.opts.onDeposed(reason);
  }

  /** Forgets the in-memory view; the next round rebuilds it from ZooKeeper. */
  private resync(): void {
    this.ready.resync();
    this.pool.resync();
    this.pool.markAllDirty();
  }

  /** Runs a round in `ms` (at most a minute from now: a far due time is reached in steps). */
  private later(ms: number): void {
    if (this.state === 'stopped') return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.kick();
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
  }

  /**
   * Learns ZooKeeper's clock again, beside the rounds: this round goes on with the last offset
   * (learnt at most a few tens of seconds ago), rather than waiting for a quorum write before
   * it reads its markers.
   */
  private refreshClock(): void {
    if (this.clockSyncing) return;
    this.clockSyncing = true;
    this.syncClock()
      .catch((err: unknown) => this.opts.log.debug({ err }, 'clock write failed; tried again next round'))
      .finally(() => (this.clockSyncing = false));
  }

  /** Learns ZooKeeper's clock from the mtime of our own write to `clock`. */
  private async syncClock(): Promise<void> {
    const t0 = Date.now();
    const stat = await this.opts.client.setData(CLOCK, this.opts.self);
    const t1 = Date.now();
    this.clockOffset = stat.mtime - (t0 + t1) / 2;
    this.clockAt = t1;
  }

  private async runRound(): Promise<void> {
    if (this.state !== 'leading') return;
    if (Date.now() - this.clockAt > CLOCK_MAX_AGE_MS) this.refreshClock();
    await this.pool.sync();
    await this.ready.sync();
    await this.pool.readQueues();
    this.ready.releaseDue(this.ctx.serverNow());
    await this.gangs.load();
    await this.gangs.finish();
    await this.failDependants();
    await this.schedules.fire();
    await this.controls?.ready;
    await this.assign();
    await this.pool.scanStaleDirs();
    this.pool.requeueGone();
    await this.retention.sync();
    await this.retention.prune();
    const dues = [
      this.ready.nextDue(),
      this.retention.nextDue(),
      this.schedules.nextDue(),
      this.controls ? this.limiter.nextDue(this.controls.limits, this.ctx.serverNow()) : undefined,
    ].filter((d): d is number => d !== undefined);
    if (dues.length > 0) this.later(Math.min(...dues) - this.ctx.serverNow() + 5);
  }

  /** Fails dependants whose parent ended failed, dead or cancelled. */
  private async failDependants(): Promise<void> {
    const { client, log } = this.opts;
    for (const d of this.ready.failedDependants()) {
      const found = await readForLeader(this.ctx, d.id);
      const write =
        found && isDependantCurrent(found.rec, d.ready.entry.attemptsMade)
          ? {
              next: failDependant(found.rec, d.dep, d.depState, Date.now()),
              version: found.stat.version,
              from: found.rec.state,
            }
          : undefined;
      d.ready.marker.taken.add(d.ready.entry.id);
      const touched = [d.ready.marker];
      try {
        await failDependantOps(client, this.ctx.fence, write, this.ready.rewrites(touched)).commit();
      } catch (err) {
        this.ready.afterFailure(touched);
        throw err;
      }
      this.ready.afterCommit(touched);
      this.ready.unblock(d.id);
      log.info({ jobId: d.id, state: write?.next.state, dependency: d.dep, epoch: this.epoch }, LOG.dependencyFailed);
    }
  }

  private async assign(): Promise<void> {
    const { log, self } = this.opts;
    const live = this.pool.ready();
    const planned = new Map<PlanWorker, LiveWorker>(
      live.map((w) => [
        { name: w.name, types: w.info.types, prefetch: w.info.prefetch, assigned: assignedCount(w) },
        w,
      ]),
    );
    // Paused types are not offered to the plan; limited ones only as far as their slots allow.
    const controls = this.controls!;
    const ready = new Map([...this.ready.ready].filter(([type]) => !isTypePaused(controls.paused, type)));
    this.limiter.sync(this.pool.typedAssignments(), controls.limits);
    const slots = this.limiter.slots(controls.limits, this.ctx.serverNow());
    const p = plan([...planned.keys()], ready, undefined, slots, self);
    for (const r of p.held) this.ready.pushReady(r);
    if (p.assignments.size === 0) return;
    const created: { w: LiveWorker; jobs: AssignedJob[]; type?: string }[] = [];
    for (const [pw, chunks] of p.assignments) {
      for (const c of chunks) {
        created.push({
          w: planned.get(pw)!,
          jobs: c.map((r) => [r.entry.id, r.entry.attemptsMade, r.entry.priority] as AssignedJob),
          ...(p.limited.has(c) ? { type: c[0]!.entry.type } : {}),
        });
      }
    }
    const gangs: GangStart[] = [];
    for (const g of p.gangs) {
      const found = await readForLeader(this.ctx, g.entry.id);
      const tasks = Array.from({ length: g.entry.parallelism ?? 1 }, (_, k) => gangTaskId(g.entry.id, k));
      gangs.push({
        id: g.entry.id,
        tasks,
        ...(found && !isFinalState(found.rec.state)
          ? { parent: { next: startGang(found.rec), version: found.stat.version, from: found.rec.state } }
          : {}),
      });
    }
    // Our own consumer, idle: the first jobs of our own first plain assignment are claimed in
    // this multi, so they start after one write instead of two (the assignment, then the claim).
    const mine = gangs.length === 0 ? created.find((c) => c.w.name === self && c.type === undefined) : undefined;
    const claimer = mine ? (this.opts.localClaimer?.() ?? null) : null;
    try {
      const claims = claimer && mine ? await this.localClaims(claimer, mine.jobs) : [];
      await this.commitAssign(created, p.touched, gangs, claims);
    } finally {
      claimer?.release();
    }
    this.ready.afterCommit(p.touched);
    for (const g of gangs) {
      log.info(
        { jobId: g.id, tasks: g.tasks.length, state: g.parent?.next.state, epoch: this.epoch },
        'gang job scheduled',
      );
      this.gangs.watch(g.id, g.tasks);
    }
    if (!this.firstScheduledLogged) {
      this.firstScheduledLogged = true;
      log.info(
        { epoch: this.epoch, worker: self, jobs: this.counters.assigned },
        'first jobs scheduled by this leader',
      );
    }
    log.debug(
      { epoch: this.epoch, assignments: created.length, jobs: created.reduce((s, c) => s + c.jobs.length, 0) },
      'jobs assigned',
    );
    if (this.ready.hasReady()) this.kick();
  }

  /** Reads the records of the first `claimer.room` of `jobs` and claims those it would claim. */
  private async localClaims(claimer: LocalClaimer, jobs: readonly AssignedJob[]): Promise<LocalClaimWrite[]> {
    const take = jobs.slice(0, claimer.room);
    if (take.length === 0) return [];
    // Records read with their marker (see ReadyQueue.sync) are not read again.
    const found: Awaited<ReturnType<typeof readRecords>> = take.map(([id]) => this.ready.takePrefetched(id) ?? null);
    const prefetched = new Set(take.filter((_, i) => found[i] !== null).map(([id]) => id));
    const toRead = take.filter(([id]) => !prefetched.has(id)).map(([id]) => id);
    if (toRead.length > 0) {
      let read: Awaited<ReturnType<typeof readRecords>>;
      try {
        read = await readRecords(this.opts.client, toRead);
      } catch {
        return []; // the consumer claims them itself
      }
      let k = 0;
      take.forEach(([id], i) => {
        if (!prefetched.has(id)) found[i] = read[k++] ?? null;
      });
    }
    const claims: LocalClaimWrite[] = [];
    let bytes = 0;
    take.forEach(([, attemptsMade], i) => {
      const f = found[i];
      if (!f || f instanceof Error) return; // the consumer reads it again, and says why
      // Big records are left to the consumer's own claims: the multi stays far under 1 MiB.
      if (bytes + f.stat.dataLength > LOCAL_CLAIM_BYTES) return;
      const next = claimer.claim(f.rec, f.stat.version, attemptsMade);
      if (!next) return;
      bytes += f.stat.dataLength;
      claims.push({ next, version: f.stat.version, from: f.rec.state, prefetched: prefetched.has(f.rec.id) });
    });
    return claims;
  }

  /**
   * Commits a round's assignments (with `claims` for our own consumer; when one of those
   * records changed since it was read, again without them) and records what it created.
   */
  private async commitAssign(
    created: readonly { w: LiveWorker; jobs: AssignedJob[]; type?: string }[],
    touched: ReadonlySet<Marker>,
    gangs: readonly GangStart[],
    claims: readonly LocalClaimWrite[],
  ): Promise<void> {
    const { client, self } = this.opts;
    const { tx, createdNodes, claimZxids, isClaimFailure } = assignOps(
      client,
      this.ctx.fence,
      created.map((c) => ({ worker: c.w.name, jobs: c.jobs, ...(c.type !== undefined ? { type: c.type } : {}) })),
      this.ready.rewrites(touched),
      gangs,
      claims,
    );
    let res;
    const settled = created.some((c) => c.w.name === self) ? this.opts.onLocalAssigning?.() : undefined;
    try {
      res = await tx.commit();
    } catch (err) {
      settled?.();
      if (claims.length > 0 && isClaimFailure(err)) return this.commitAssign(created, touched, gangs, []);
      this.ready.afterFailure(touched);
      throw err;
    }
    this.counters.multis++;
    this.counters.localClaims += claims.length;
    this.counters.prefetchedClaims += claims.filter((c) => c.prefetched).length;
    const zxids = claimZxids(res);
    const claimed = new Map<string, LocalClaim>(claims.map((c, i) => [c.next.id, { rec: c.next, zxid: zxids[i]! }]));
    createdNodes(res).forEach((node, i) => {
      const c = created[i]!;
      if (node) {
        this.pool.recordCreated(
          c.w,
          node,
          c.jobs.length,
          c.type !== undefined ? { id: c.jobs[0]![0], type: c.type, attemptsMade: c.jobs[0]![1] } : undefined,
        );
      }
      this.counters.assigned += c.jobs.length;
      if (node && c.w.name === self) this.opts.onLocalAssignment?.(node, c.jobs, claimed);
    });
    settled?.();
  }
}
