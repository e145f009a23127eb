/**
 * The leader's view of the live workers: their registrations (`workers/w-…`), their queues
 * (`queue/<w-…>`, watched, with each assignment's size), and the requeue of the queues of
 * workers whose session is gone (`ops.requeueOps`).
 */
import type { RecursiveWatchEvent, WatchHandle } from '@zkjobs/core';
import { NoNodeError } from '@zkjobs/core';
import { isLeaderFenceFailure, requeueOps, type GoneHolderWrite } from '../engine/ops.js';
import { OWNER_GONE, goneHolder, pendingEntry, requeueKind } from '../engine/transitions.js';
import type { PendingEntry } from '../layout.js';
import {
  QUEUE,
  decodeAssignment,
  decodeAssignmentDoc,
  isAssignmentNode,
  isWorkerNode,
  progressPath,
  logsPath,
  queueDir,
  workerPath,
  type AssignedJob,
  type WorkerInfo,
} from '../layout.js';
import { LOG } from '../log-events.js';
import { deleteLogs } from '../consumer/logs.js';
import { deleteProgress } from '../consumer/progress.js';
import { createIfMissing, mapLimit, multiReadChunked } from '../util.js';
import { DeposedError, readForLeader, type LeaderContext } from './context.js';

/** A live worker as the leader tracks it. */
export interface LiveWorker {
  name: string;
  info: WorkerInfo;
  /** Its queue was listed at least once. */
  dirReady: boolean;
  /** Assignment node → number of jobs. */
  assignments: Map<string, number>;
  /** Assignment node → its one job, for the assignments of a limited type (`t` in the data). */
  typed: Map<string, TypedAssignment>;
  /** Its queue changed (watch or safety poll): re-list it in the next round. */
  dirty: boolean;
  /** Its queue's child watch (when `queue/` has no recursive watch). */
  watch: WatchHandle | null;
  /**
   * Assignments whose delete was heard before we knew them (the recursive watch's event can
   * arrive before the reply to our own create is handled): not recorded when they come.
   */
  goneEarly: Set<string>;
}

/** The one job of an assignment of a limited type. */
export interface TypedAssignment {
  id: string;
  type: string;
  attemptsMade: number;
}

/** Jobs in a live worker's queue now. */
export function assignedCount(w: LiveWorker): number {
  let n = 0;
  for (const k of w.assignments.values()) n += k;
  return n;
}

/** Internal: the workers of one leader. */
export class WorkerPool {
  readonly live = new Map<string, LiveWorker>();
  /** The last listing of `workers/` not applied yet. */
  private listing: string[] | null = null;
  private needStaleScan = false;
  /** Queue dirs of gone workers, requeued after the round's assignments (they are not on its path). */
  private readonly toRequeue = new Set<string>();
  private requeuing: Promise<void> | null = null;
  /** The recursive watch on `queue/`, when the server has them. */
  private tree: WatchHandle | null = null;
  private treeTried = false;
  private closed = false;

  constructor(private readonly ctx: LeaderContext) {}

  /** A new listing of `workers/`. */
  onListing(children: string[]): void {
    this.listing = children;
  }

  /** Re-list every live worker's queue in the next round. */
  markAllDirty(): void {
    for (const w of this.live.values()) w.dirty = true;
  }

  /** Forgets the assignment sizes (re-read with the queues). */
  resync(): void {
    for (const w of this.live.values()) {
      w.assignments.clear();
      w.typed.clear();
    }
  }

  /** The workers whose queue is known: those a plan may assign to. */
  ready(): LiveWorker[] {
    return [...this.live.values()].filter((w) => w.dirReady);
  }

  /**
   * Applies the last listing of `workers/`: new workers are read and their queues watched, gone
   * ones dropped (their queues are requeued after the round's assignments).
   * @throws DeposedError when the leader's own znode is not in it
   */
  async sync(): Promise<void> {
    const list = this.listing;
    if (list === null) return;
    await this.watchTree();
    this.listing = null;
    const { client, log, self, fence } = this.ctx;
    const names = new Set(list.filter(isWorkerNode));
    if (!names.has(self)) throw new DeposedError('own znode gone');
    // New workers are set up concurrently (a new leader meets them all at once).
    await mapLimit(
      [...names].filter((n) => !this.live.has(n)),
      16,
      async (n) => {
        // The znode and the queue dir are read at once (one round trip, not two).
        const dirStat = client.exists(queueDir(n));
        dirStat.catch(() => undefined);
        let info: WorkerInfo;
        try {
          info = JSON.parse((await client.getData(workerPath(n))).data.toString('utf8')) as WorkerInfo;
        } catch (err) {
          if (err instanceof NoNodeError) return;
          throw err;
        }
        const w: LiveWorker = {
          name: n,
          info,
          dirReady: false,
          assignments: new Map(),
          typed: new Map(),
          dirty: true,
          watch: null,
          goneEarly: new Set(),
        };
        this.live.set(n, w);
        // The consumer creates its queue when it binds; create it only if missing (a read, not a write).
        if ((await dirStat) === null) await createIfMissing(client, queueDir(n));
        if (this.tree) return; // the recursive watch on queue/ reports its changes
        w.watch = client.watchChildren(queueDir(n), () => {
          w.dirty = true;
          this.ctx.kick();
        });
        log.info(
          { worker: n, host: info.host, pid: info.pid, concurrency: info.concurrency, epoch: fence.epoch },
          'worker joined',
        );
      },
    );
    for (const [n, w] of this.live) {
      if (names.has(n)) continue;
      w.watch?.close();
      this.live.delete(n);
      log.info({ worker: n, epoch: fence.epoch }, 'worker gone: requeueing its jobs');
    }
    this.needStaleScan = true;
  }

  /**
   * Brings the assignment sizes of every dirty live worker up to date by listing its queue — all
   * of them in one request (multiRead), then the assignments not known yet in another. The
   * listing is requested here, in the round, after every assignment we know of was committed, so
   * a node missing from it is really gone (a listing handed over by a watch could predate our own
   * create).
   */
  async readQueues(): Promise<void> {
    const { client } = this.ctx;
    const dirty = [...this.live.values()].filter((w) => w.dirty);
    if (dirty.length === 0) return;
    for (const w of dirty) w.dirty = false;
    const listings = await multiReadChunked(
      client,
      dirty.map((w) => ({ type: 'getChildren' as const, path: queueDir(w.name) })),
    );
    const unknown: { w: LiveWorker; c: string }[] = [];
    let failure: Error | null = null;
    dirty.forEach((w, i) => {
      const r = listings[i]!;
      if (this.live.get(w.name) !== w) return;
      if (r.type === 'error') {
        if (r.error instanceof NoNodeError) return; // not created yet, or being requeued
        w.dirty = true; // listed again by the next round
        failure ??= r.error;
        return;
      }
      if (r.type !== 'getChildren') return;
      w.dirReady = true;
      const present = new Set(r.children.filter(isAssignmentNode));
      for (const k of [...w.assignments.keys()]) {
        if (present.has(k)) continue;
        w.assignments.delete(k);
        w.typed.delete(k);
      }
      for (const c of present) if (!w.assignments.has(c) && !w.goneEarly.has(c)) unknown.push({ w, c });
      // Anything deleted early is either not listed or skipped above: this listing supersedes it.
      w.goneEarly.clear();
    });
    if (unknown.length > 0) await this.readAssignments(unknown);
    if (failure) throw failure;
  }

  /** Reads assignments found in a listing and not known yet (made by an earlier leader). */
  private async readAssignments(unknown: readonly { w: LiveWorker; c: string }[]): Promise<void> {
    const { client } = this.ctx;
    let failure: Error | null = null;
    const docs = await multiReadChunked(
      client,
      unknown.map(({ w, c }) => ({ type: 'getData' as const, path: `${queueDir(w.name)}/${c}` })),
    );
    unknown.forEach(({ w, c }, i) => {
      const r = docs[i]!;
      if (r.type === 'error') {
        if (r.error instanceof NoNodeError) return;
        w.dirty = true; // read again by the next round
        failure ??= r.error;
        return;
      }
      if (r.type !== 'getData') return;
      const { jobs, type } = decodeAssignmentDoc(r.data);
      w.assignments.set(c, jobs.length);
      if (type !== undefined && jobs.length === 1) {
        w.typed.set(c, { id: jobs[0]![0], type, attemptsMade: jobs[0]![1] });
      }
    });
    if (failure) throw failure;
  }

  /**
   * Marks for requeueing every queue dir without a live worker (including ones left from earlier
   * leaders). Runs after the round's assignments (two reads that a takeover need not wait for).
   */
  async scanStaleDirs(): Promise<void> {
    if (!this.needStaleScan) return;
    this.needStaleScan = false;
    const { client } = this.ctx;
    const names = new Set(this.live.keys());
    const { children: dirs } = await client.getChildren(QUEUE);
    const gone = await mapLimit(
      dirs.filter((d) => !names.has(d)),
      16,
      async (d) => ((await client.exists(workerPath(d))) === null ? d : null),
    );
    for (const d of gone) if (d !== null) this.toRequeue.add(d);
  }

  /**
   * Requeues the gone workers' queues beside the rounds, not inside them: a new leader's first
   * assignments do not wait for its predecessor's queue to be read and requeued. Safe to overlap a
   * round: the requeue writes only the dead worker's records (fenced, version-checked), a new
   * marker and the dead queue, none of which a round writes.
   */
  requeueGone(): void {
    if (this.requeuing || this.toRequeue.size === 0 || this.ctx.stopped()) return;
    this.requeuing = (async () => {
      try {
        for (const d of [...this.toRequeue]) {
          if (this.ctx.stopped()) return;
          await this.requeueWorker(d);
          this.toRequeue.delete(d);
        }
      } catch (err) {
        if (this.ctx.stopped()) return;
        if (isLeaderFenceFailure(err)) {
          this.ctx.deposed(`fencing check failed (${err.failedOp.path})`);
          return;
        }
        this.ctx.reportError(err, 'requeue of a gone worker failed; retrying');
        this.ctx.later(200);
      } finally {
        this.requeuing = null;
      }
    })();
  }

  /**
   * Requeues the unfinished jobs of a worker whose znode (session) is gone: each job still
   * assigned to it (not claimed, or claimed by it) goes back to waiting with a history entry
   * "requeued: owner session gone" — or, claimed on its last attempt, ends dead
   * (`transitions.goneHolder`) — in a fenced multi that also deletes the worker's queue.
   */
  private async requeueWorker(worker: string): Promise<void> {
    const { client, log, fence, self, counters } = this.ctx;
    const dir = queueDir(worker);
    let children: string[];
    try {
      children = (await client.getChildren(dir)).children;
    } catch (err) {
      if (err instanceof NoNodeError) return;
      throw err;
    }
    const jobs: AssignedJob[] = [];
    for (const c of children) {
      if (!isAssignmentNode(c)) continue;
      try {
        jobs.push(...decodeAssignment((await client.getData(`${dir}/${c}`)).data));
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
    }
    const reads = await mapLimit(jobs, 64, async ([id, a]) => ({ id, a, found: await readForLeader(this.ctx, id) }));
    const writes: GoneHolderWrite[] = [];
    const entries: PendingEntry[] = [];
    const logs: { fields: object; msg: string }[] = [];
    const gone: string[] = [];
    const goneLogs: string[] = [];
    const now = Date.now();
    for (const { id, a, found } of reads) {
      if (!found) continue;
      const { rec, stat } = found;
      const kind = requeueKind(rec, worker, a);
      if (kind === null) continue;
      // The lost run may have stored progress or logs: the record says so from now on.
      const progressed =
        rec.progressed === true || (kind === 'claimed' && (await client.exists(progressPath(id))) !== null);
      const logged = rec.logged === true || (kind === 'claimed' && (await client.exists(logsPath(id))) !== null);
      const marked = { ...rec, ...(progressed ? { progressed } : {}), ...(logged ? { logged } : {}) };
      const change = goneHolder(marked, `${self}@${fence.epoch}`, now);
      if (change.remove && progressed) gone.push(id);
      if (change.remove && logged) goneLogs.push(id);
      const { next } = change;
      writes.push({
        next,
        version: stat.version,
        from: rec.state,
        remove: change.remove,
        ...(change.keepFor !== undefined ? { keepFor: change.keepFor } : {}),
      });
      if (change.event === 'requeue') entries.push(pendingEntry(next, 0));
      // A claimed job's log names the claim's token; an assignment that was never claimed has none
      // (no token was handed out): its log names the record version it was requeued at instead.
      logs.push({
        msg: change.event === 'requeue' ? LOG.requeued : LOG.lost,
        fields: {
          jobId: id,
          type: rec.type,
          state: change.remove ? `${next.state} (removed)` : next.state,
          attempt: rec.attemptsMade,
          ...(kind === 'claimed' && rec.claim
            ? { token: rec.claim.token, session: rec.claim.session }
            : { version: stat.version }),
          worker: rec.claim?.worker ?? worker,
          wasClaimed: kind === 'claimed',
          ...(change.event === 'lost' ? { error: next.error?.message } : {}),
        },
      });
    }
    await requeueOps(client, fence, worker, writes, entries, children).commit();
    counters.multis++;
    counters.requeued += entries.length;
    counters.lost += writes.length - entries.length;
    for (const id of gone) void deleteProgress(client, id);
    for (const id of goneLogs) void deleteLogs(client, id);
    for (const l of logs) log.info({ ...l.fields, epoch: fence.epoch, reason: OWNER_GONE }, l.msg);
    if (writes.length > 0 || children.length > 0) {
      log.info(
        { worker, requeued: entries.length, dead: writes.length - entries.length, epoch: fence.epoch },
        'dead worker queue requeued',
      );
    }
  }

  /** The jobs of limited types in the live workers' queues (assigned, running, or being completed). */
  typedAssignments(): TypedAssignment[] {
    const out: TypedAssignment[] = [];
    for (const w of this.live.values()) out.push(...w.typed.values());
    return out;
  }

  /** Closes the queues' watches. */
  close(): void {
    this.closed = true;
    this.tree?.close();
    for (const w of this.live.values()) w.watch?.close();
  }

  /**
   * Watches all of `queue/` with one persistent recursive watch when the server can (ZooKeeper
   * 3.6+): each assignment's delete then says exactly which one is gone, so a queue is listed
   * only at takeover, after a reconnect (`onResync`) and by the safety re-listing — not after
   * every change. Without it (an older server), each queue gets a child watch.
   */
  private async watchTree(): Promise<void> {
    if (this.treeTried) return;
    this.treeTried = true;
    try {
      const h = await this.ctx.client.watchRecursive(QUEUE, (e) => this.onQueueEvent(e), {
        onResync: () => {
          this.markAllDirty();
          this.ctx.kick();
        },
      });
      if (this.closed) h.close();
      else this.tree = h;
    } catch (err) {
      this.ctx.log.debug({ err }, 'no recursive watch on queue/: one child watch per queue');
    }
  }

  /** A change under `queue/`: an assignment deleted by its worker frees its room. */
  private onQueueEvent(e: RecursiveWatchEvent): void {
    if (e.type !== 'deleted' || !e.path.startsWith(`${QUEUE}/`)) return;
    const [worker, node, deeper] = e.path.slice(QUEUE.length + 1).split('/');
    if (worker === undefined || node === undefined || deeper !== undefined || !isAssignmentNode(node)) return;
    const w = this.live.get(worker);
    if (!w) return;
    if (w.assignments.delete(node)) {
      w.typed.delete(node);
      this.ctx.kick();
    } else {
      w.goneEarly.add(node);
    }
  }

  /**
   * Records an assignment this leader created (its create committed), unless its delete was
   * heard already.
   */
  recordCreated(w: LiveWorker, node: string, jobs: number, typed?: TypedAssignment): void {
    if (w.assignments.has(node)) return;
    if (w.goneEarly.delete(node)) return;
    w.assignments.set(node, jobs);
    if (typed) w.typed.set(node, typed);
  }
}
