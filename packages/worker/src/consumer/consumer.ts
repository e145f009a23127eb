/**
 * The consumer side of a Worker, bound to one registration (`w-…` + session) at a time: intake
 * of the assignments in `queue/<w-…>` (watch, safety listing, in-process delivery from its own
 * leader), a buffer in priority order, and slots. Claims, handler runs, completions and notes
 * are its parts (`claim.ts`, `run.ts`, `completion-writer.ts`, `claim-notes.ts`).
 */
import { hostname } from 'node:os';
import type { WatchHandle, ZkClient } from '@zkjobs/core';
import { NoNodeError } from '@zkjobs/core';
import type { Logger } from 'pino';
import { JobCancelledError, LostClaimError, UnrecoverableError, WorkerClosingError } from '../errors.js';
import { toJob } from '../engine/record.js';
import { attemptsUsed, claim, isClaimable, settle, type RunOutcome } from '../engine/transitions.js';
import type { LocalClaim, LocalClaimer } from '../scheduler/scheduler.js';
import type { TypedEmitter, WorkerEvents } from '../events.js';
import type { Job, JobRecord } from '../job.js';
import {
  PAUSED,
  cancelledJobOf,
  decodeAssignment,
  decodePaused,
  isAssignmentNode,
  isTypePaused,
  queueDir,
  type AssignedJob,
  type PausedDoc,
} from '../layout.js';
import { LOG } from '../log-events.js';
import { checkStrategyDelay, type BackoffStrategy } from '../options.js';
import type { Processor } from '../processor.js';
import { createIfMissing } from '../util.js';
import { claimBatch } from './claim.js';
import { ClaimNotes } from './claim-notes.js';
import { CompletionWriter } from './completion-writer.js';
import {
  RunAbort,
  claimOf,
  type ActiveJob,
  type BufferedJob,
  type ConsumerContext,
  type ConsumerCounters,
} from './context.js';
import { deleteLogs } from './logs.js';
import { deleteProgress } from './progress.js';
import { runHandler } from './run.js';

/** Options of {@link Consumer}. */
export interface ConsumerOptions {
  /** The namespaced client. */
  client: ZkClient;
  /** One processor per job type. */
  handlers: Record<string, Processor>;
  /** Handlers run at the same time. */
  concurrency: number;
  log: Logger;
  /** The worker, whose events the consumer emits. */
  events: TypedEmitter<WorkerEvents>;
  /** The safety re-listing of the queue runs at most this often, ms. */
  pollMs: number;
  /** The worker's retry strategy, if any. */
  backoffStrategy?: BackoffStrategy;
  /** Log lines kept per job. */
  keepLogs: number;
}

interface Assignment {
  jobs: AssignedJob[];
  outstanding: Set<string>;
  /** Its znode was deleted by the completion multi of its last jobs (no delete of its own). */
  deleted: boolean;
}

/** A claim's read is retried this long after a failure, ms. */
const CLAIM_RETRY_MS = 250;

/** Internal: the consumer side of a Worker. */
export class Consumer {
  private name: string | null = null;
  private session = '';
  private watch: WatchHandle | null = null;
  private poll: NodeJS.Timeout | null = null;
  private listing = false;
  private readonly assignments = new Map<string, Assignment>();
  private readonly loading = new Set<string>();
  /** Multis of our own leader that create assignments for us, sent and not settled yet. */
  private expecting = 0;
  /** New assignments heard of while {@link expecting}: read only if not handed over in-process. */
  private deferred = new Set<string>();
  /** Assigned jobs not yet claimed, lowest priority number first, then in order of arrival. */
  private buffer: BufferedJob[] = [];
  /** Assigned jobs of paused types, kept unclaimed until their type is resumed. */
  private held: BufferedJob[] = [];
  private paused: PausedDoc = { all: false, types: [] };
  private pausedWatch: WatchHandle | null = null;
  private readonly active = new Map<string, ActiveJob>();
  private claiming = 0;
  /** Handlers running now (≤ concurrency). */
  private running = 0;
  private pumping = false;
  /** A {@link pumpSoon} is due. */
  private pumpScheduled = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  /** Mean handler time, ms (exponentially weighted; starts high, so nothing is claimed ahead at first). */
  private handlerMs = 1000;
  /**
   * Runs (handler, then the outcome's write) at once, at most `concurrency`: a claimed job past
   * that waits in {@link runQueue} until a run ends (its outcome written).
   */
  private runs = 0;
  /** Claimed jobs waiting for a run, in the order claimed. */
  private readonly runQueue: { a: ActiveJob; job: Job }[] = [];
  private readonly ctx: ConsumerContext;
  private readonly notes: ClaimNotes;
  private readonly writer: CompletionWriter;
  private readonly client: ZkClient;
  private readonly handlers: Record<string, Processor>;
  private readonly concurrency: number;
  private readonly log: Logger;
  private readonly events: TypedEmitter<WorkerEvents>;
  private readonly pollMs: number;
  private readonly backoffStrategy: BackoffStrategy | undefined;
  /** Claims, completions, refusals so far (for tests and metrics). */
  readonly counters: ConsumerCounters = {
    claimed: 0,
    completed: 0,
    failed: 0,
    refused: 0,
    skipped: 0,
    claimMultis: 0,
    completionMultis: 0,
    recordReads: 0,
  };

  constructor(opts: ConsumerOptions) {
    this.client = opts.client;
    this.handlers = opts.handlers;
    this.concurrency = opts.concurrency;
    this.log = opts.log;
    this.events = opts.events;
    this.pollMs = opts.pollMs;
    this.backoffStrategy = opts.backoffStrategy;
    this.ctx = {
      client: opts.client,
      log: opts.log,
      events: opts.events,
      process: `${hostname()}:${process.pid}`,
      counters: this.counters,
      keepLogs: opts.keepLogs,
      bound: () => this.name,
      reportError: (err, msg, fields = {}) => {
        this.log.warn({ err, ...fields }, msg);
        if (this.events.listenerCount('error') > 0) {
          this.events.emit('error', err instanceof Error ? err : new Error(String(err)));
        }
      },
    };
    this.notes = new ClaimNotes(this.ctx);
    this.writer = new CompletionWriter(this.ctx, this.notes, {
      doneBy: (worker, ids) => this.assignmentsDoneBy(worker, ids),
      deleted: (worker, nodes) => {
        if (this.name !== worker) return;
        for (const n of nodes) {
          const asg = this.assignments.get(n);
          if (asg) asg.deleted = true;
        }
      },
    });
    // While the next batch's claim is being prepared, outcomes wait to ride on its multi.
    this.writer.deferWhile = () => (this.claiming > 0 || this.pumpScheduled) && !this.stopped;
  }

  get workerName(): string | null {
    return this.name;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Jobs assigned to this worker and not claimed yet (the local buffer). */
  get assignedCount(): number {
    return this.buffer.length;
  }

  /** Notes not written yet (for tests and shutdown). */
  get pendingNotes(): number {
    return this.notes.pending;
  }

  /** Writes the notes that are due (best effort). */
  writeNotes(): Promise<void> {
    return this.notes.write();
  }

  /**
   * Jobs claimed and not yet settled may exceed `concurrency` by a look-ahead while handlers are
   * short (mean under 20 ms): the next batch is claimed while this one runs, so a claim's round
   * trip is not paid between batches. Claimed jobs wait for a handler slot in this process (their
   * timeout starts with the handler). Long handlers get no look-ahead: a job must not sit claimed
   * here while another worker is idle.
   */
  private claimLimit(): number {
    return this.handlerMs < 20 ? 4 * this.concurrency : this.concurrency;
  }

  /** Starts consuming `queue/<name>` for a registration of the current session. */
  async bind(name: string, session: string): Promise<void> {
    this.unbindWatch();
    this.name = name;
    this.session = session;
    this.stopped = false;
    await createIfMissing(this.client, queueDir(name));
    if (this.name !== name) return;
    this.watch = this.watchQueue(name);
    // Safety net against a lost watch notification: re-list our (small) queue every pollMs when
    // we have room for work and none is buffered.
    let lastList = Date.now();
    this.poll = setInterval(
      () => {
        if (this.name !== name || this.stopped || this.listing) return;
        const now = Date.now();
        const room = this.running + this.claiming < this.claimLimit() && this.buffer.length === 0;
        if (!room || now - lastList < this.pollMs) return;
        lastList = now;
        this.listing = true;
        this.client.getChildren(queueDir(name)).then(
          ({ children }) => {
            this.listing = false;
            this.onChildren(name, children);
          },
          () => (this.listing = false),
        );
      },
      Math.min(250, this.pollMs),
    );
    this.poll.unref();
    // Paused types: their assigned jobs are held, not claimed, until resumed.
    this.pausedWatch = this.client.watchData(
      PAUSED,
      (data) => {
        this.paused = decodePaused(data);
        if (this.paused.all || this.held.length === 0) return;
        // Held jobs are read again when claimed: those whose type is still paused are held again.
        const free = this.held;
        this.held = [];
        this.buffer.push(...free);
        this.sortBuffer();
        this.pump();
      },
      { onError: (e) => this.ctx.reportError(e, 'paused watch error', { worker: name }) },
    );
    this.log.info({ worker: name, session }, 'consumer bound');
  }

  /** Stops taking work (running jobs go on). */
  pause(): void {
    this.stopped = true;
    this.unbindWatch();
  }

  private unbindWatch(): void {
    if (this.poll) clearInterval(this.poll);
    this.poll = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.watch?.close();
    this.watch = null;
    this.pausedWatch?.close();
    this.pausedWatch = null;
    this.assignments.clear();
    this.deferred.clear();
    this.buffer = [];
    this.held = [];
  }

  /**
   * The registration is gone (session lost): abort every running job with a LostClaimError and
   * forget the queue; completions already in flight are refused by their claim check.
   */
  lostRegistration(reason: string): void {
    const name = this.name;
    this.unbindWatch();
    this.name = null;
    for (const a of this.active.values()) {
      if (a.worker !== name) continue;
      // A job whose outcome is being written may have been recorded already (a lost reply): its
      // completion path reads the record and reports applied or refused.
      if (a.handlerDone) continue;
      this.abortLost(a, reason);
    }
  }

  private abortLost(a: ActiveJob, reason: string): void {
    if (a.abort.aborted || a.stalled) return;
    a.stalled = true;
    const err = new LostClaimError(a.id, a.token, reason);
    a.abort.abort(err);
    this.counters.refused++;
    this.log.warn(
      { jobId: a.id, attempt: a.rec.attemptsMade, token: a.token, worker: a.worker, session: a.session, reason },
      LOG.stalled,
    );
    this.events.emit('stalled', a.id, err, claimOf(a));
    this.notes.note(a, 'lost', reason);
  }

  /** Aborts every running job (shutdown after the grace period). */
  abortAll(reason: Error): void {
    for (const a of this.active.values()) if (!a.abort.aborted) a.abort.abort(reason);
  }

  /** Resolves when no job is running and no completion is being written. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.active.size > 0 || this.claiming > 0 || this.writer.busy) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  // ----- intake --------------------------------------------------------------------------------

  /**
   * Watches our queue: with a persistent recursive watch when the server has them (ZooKeeper
   * 3.6+), each new assignment or cancel signal comes with its name, so nothing is listed per
   * change (the queue is listed once, and again after a reconnect); else a child watch, which
   * lists the queue on every change.
   */
  private watchQueue(name: string): WatchHandle {
    const dir = queueDir(name);
    let inner: WatchHandle | null = null;
    let closed = false;
    const list = (): void => {
      this.client.getChildren(dir).then(
        ({ children }) => this.onChildren(name, children),
        (err: unknown) => {
          if (!(err instanceof NoNodeError) && !closed) this.log.debug({ err, worker: name }, 'queue listing failed');
        },
      );
    };
    this.client
      .watchRecursive(
        dir,
        (e) => {
          if (e.type !== 'created' || !e.path.startsWith(dir + '/')) return;
          const child = e.path.slice(dir.length + 1);
          if (!child.includes('/')) this.onChildren(name, [child]);
        },
        { onResync: list },
      )
      .then(
        (h) => {
          if (closed) return h.close();
          inner = h;
          list();
        },
        (err: unknown) => {
          if (closed) return;
          this.log.debug({ err, worker: name }, 'no recursive watch on the queue: a child watch');
          inner = this.client.watchChildren(dir, (children) => this.onChildren(name, children), {
            onError: (e) => this.ctx.reportError(e, 'queue watch error', { worker: name }),
          });
        },
      );
    return {
      close: () => {
        closed = true;
        inner?.close();
      },
    };
  }

  private onChildren(name: string, children: string[]): void {
    if (this.name !== name) return;
    for (const c of children) {
      const cancelled = cancelledJobOf(c);
      if (cancelled !== null) {
        const a = this.active.get(cancelled);
        if (a && !a.abort.aborted) {
          this.log.info(
            { jobId: cancelled, token: a.token, worker: a.worker },
            'job cancelled while running: aborting',
          );
          a.abort.abort(new JobCancelledError(cancelled));
          this.counters.refused++;
          if (!a.stalled) {
            a.stalled = true;
            this.events.emit('stalled', cancelled, new LostClaimError(cancelled, a.token, 'job cancelled'), claimOf(a));
          }
        }
        this.client.delete(`${queueDir(name)}/${c}`).catch((err: unknown) => {
          if (!(err instanceof NoNodeError)) this.log.debug({ err, node: c }, 'could not delete cancel signal');
        });
        continue;
      }
      if (!isAssignmentNode(c) || this.assignments.has(c) || this.loading.has(c)) continue;
      if (this.expecting > 0) {
        // Most likely our own leader's, whose reply is on its way: handed over without a read.
        this.deferred.add(c);
        continue;
      }
      this.loading.add(c);
      this.client
        .getData(`${queueDir(name)}/${c}`)
        .then(({ data }) => {
          this.loading.delete(c);
          this.accept(name, c, decodeAssignment(data));
        })
        .catch((err: unknown) => {
          this.loading.delete(c);
          if (!(err instanceof NoNodeError)) this.ctx.reportError(err, 'could not read assignment', { node: c });
        });
    }
    // Assignments missing from a listing are not forgotten here: they are dropped when their
    // last job settles (a listing that raced our own loading must not lose one).
  }

  /**
   * Our own leader is sending a multi that creates assignments for us. Its commit reaches our
   * queue watch before its reply reaches the leader, so until the returned function is called
   * (the multi settled, its assignments handed over by {@link deliverLocal}) new assignments
   * heard of are not read; those not handed over are read then.
   */
  expectLocal(name: string): () => void {
    this.expecting++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.expecting > 0 || this.deferred.size === 0) return;
      const rest = [...this.deferred];
      this.deferred.clear();
      this.onChildren(name, rest);
    };
  }

  /**
   * An assignment handed over in-process by this worker's own scheduler once its create has
   * committed (the leader assigning to itself): taken at once, without the watch notification,
   * the listing and the read. A listing or read that follows finds it known and skips it.
   */
  deliverLocal(
    name: string,
    node: string,
    jobs: AssignedJob[],
    claimed: ReadonlyMap<string, LocalClaim> = new Map(),
  ): void {
    this.deferred.delete(node);
    // A read of it in flight finds it known when its reply comes.
    if (!jobs.some(([id]) => claimed.has(id))) return this.accept(name, node, jobs);
    // Some were claimed for us by that multi: they run as if claimed here, the rest is buffered.
    // (Gone from `name`, they are not run: the leader requeues the registration's jobs.)
    if (this.name !== name || this.assignments.has(node)) return;
    const session = this.session;
    this.assignments.set(node, { jobs, outstanding: new Set(jobs.map((j) => j[0])), deleted: false });
    for (const [id, attemptsMade, priority] of jobs) {
      const c = claimed.get(id);
      if (c) this.start(name, session, node, c.rec, c.zxid);
      else if (!this.stopped) this.buffer.push({ id, attemptsMade, priority: priority ?? 0, node });
    }
    this.sortBuffer();
    this.pump();
  }

  /** True when {@link localClaimer} would give a claimer for `name` now (nothing is taken). */
  isIdleFor(name: string): boolean {
    if (this.name !== name || this.stopped || this.paused.all || this.retryTimer) return false;
    return this.buffer.length === 0 && this.running === 0 && this.claiming === 0;
  }

  /**
   * For this worker's own leader, while this consumer is idle (bound to `name`, nothing
   * buffered, running or being claimed): a claimer of up to {@link claimLimit} jobs, which the
   * leader claims inside the assignment multi that gives them to us (one write before their
   * start instead of two). The room is reserved until `release()`.
   */
  localClaimer(name: string): LocalClaimer | null {
    if (!this.isIdleFor(name)) return null;
    const room = this.claimLimit();
    const session = this.session;
    this.claiming += room;
    let released = false;
    return {
      room,
      claim: (rec, version, attemptsMade) => {
        if (this.name !== name || this.session !== session || !isClaimable(rec, attemptsMade)) return null;
        if (this.handlers[rec.type] === undefined || isTypePaused(this.paused, rec.type)) return null;
        return claim(rec, { worker: name, session, process: this.ctx.process }, version, Date.now()).next;
      },
      release: () => {
        if (released) return;
        released = true;
        this.claiming -= room;
        this.writer.resume();
        this.pump();
      },
    };
  }

  private accept(name: string, node: string, jobs: AssignedJob[]): void {
    if (this.name !== name || this.stopped || this.assignments.has(node)) return;
    this.assignments.set(node, { jobs, outstanding: new Set(jobs.map((j) => j[0])), deleted: false });
    for (const [id, attemptsMade, priority] of jobs)
      this.buffer.push({ id, attemptsMade, priority: priority ?? 0, node });
    this.sortBuffer();
    this.log.debug(
      { worker: name, node, jobs: jobs.length, buffered: this.buffer.length, active: this.active.size },
      'assignment received',
    );
    if (jobs.length === 0) this.deleteAssignment(name, node);
    this.pump();
  }

  /** Priority holds among the jobs handed to this worker too (the sort is stable). */
  private sortBuffer(): void {
    this.buffer.sort((x, y) => x.priority - y.priority);
  }

  /** The assignments of `worker` whose outstanding jobs are all among `ids` (none when it is not bound). */
  private assignmentsDoneBy(worker: string, ids: readonly string[]): string[] {
    if (this.name !== worker) return [];
    const settling = new Set(ids);
    const nodes = new Set<string>();
    for (const id of ids) {
      const node = this.active.get(id)?.node;
      if (node !== undefined) nodes.add(node);
    }
    return [...nodes].filter((n) => {
      const asg = this.assignments.get(n);
      return asg !== undefined && !asg.deleted && [...asg.outstanding].every((j) => settling.has(j));
    });
  }

  private deleteAssignment(name: string, node: string): void {
    const deleted = this.assignments.get(node)?.deleted === true;
    this.assignments.delete(node);
    if (deleted) {
      this.log.debug({ worker: name, node }, 'assignment done (deleted with its completions)');
      return;
    }
    this.log.debug({ worker: name, node }, 'assignment done');
    this.client.delete(`${queueDir(name)}/${node}`).catch((err: unknown) => {
      if (!(err instanceof NoNodeError)) this.log.warn({ err, node }, 'could not delete assignment');
    });
  }

  private settleAssigned(name: string, node: string, id: string): void {
    const asg = this.assignments.get(node);
    if (!asg) return;
    asg.outstanding.delete(id);
    if (asg.outstanding.size === 0 && this.name === name) this.deleteAssignment(name, node);
  }

  // ----- slots ---------------------------------------------------------------------------------

  /** Claims as many buffered jobs as there are free slots, in one multi per batch. */
  private pump(): void {
    if (this.pumping || this.retryTimer) return;
    this.pumping = true;
    void (async () => {
      try {
        while (!this.stopped && this.name !== null && this.buffer.length > 0) {
          const free = this.claimLimit() - this.running - this.claiming;
          if (free <= 0) break;
          const batch = this.buffer.splice(0, free);
          const name = this.name;
          const session = this.session;
          const retry: BufferedJob[] = [];
          this.claiming += batch.length;
          try {
            await claimBatch(this.ctx, { name, session }, batch, {
              hasHandler: (type) => this.handlers[type] !== undefined,
              isPaused: (type) => isTypePaused(this.paused, type),
              hold: (b) => this.held.push(b),
              skip: (b) => this.settleAssigned(name, b.node, b.id),
              retryLater: (b) => retry.push(b),
              start: (b, rec, zxid) => this.start(name, session, b.node, rec, zxid),
              isActive: (id) => this.active.has(id),
              takeCompletions: (holder) => this.writer.take(holder),
            });
          } catch (err) {
            // Not reached by a record's read (those come back through retryLater): a bug or an
            // unexpected error of the claim multi. The batch's jobs stay assigned to us; the
            // leader requeues them if this registration goes.
            this.ctx.reportError(err, 'claim failed');
          } finally {
            this.claiming -= batch.length;
            // Outcomes that waited for this claim to carry them and were not taken: written now.
            this.writer.resume();
          }
          if (retry.length > 0) {
            // Reads are failing (connection trouble): pause the intake instead of spinning.
            this.retryLater(name, retry);
            break;
          }
        }
      } finally {
        this.pumping = false;
      }
    })();
  }

  /** Puts jobs whose record read failed back into the buffer, and pumps again after a pause. */
  private retryLater(name: string, jobs: BufferedJob[]): void {
    if (this.name !== name || this.stopped) return;
    this.buffer.push(...jobs);
    this.sortBuffer();
    if (this.retryTimer) return;
    // pump() stops while the timer is armed: see the check at its top.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.pump();
    }, CLAIM_RETRY_MS);
    this.retryTimer.unref();
  }

  private start(name: string, session: string, node: string, rec: JobRecord, zxid: string): void {
    const token = rec.claim!.token;
    const a: ActiveJob = { id: rec.id, worker: name, session, token, rec, abort: new RunAbort(), node };
    this.active.set(rec.id, a);
    this.running++;
    this.counters.claimed++;
    const job = toJob(rec, token, zxid || '0');
    if (this.log.isLevelEnabled('info'))
      this.log.info(
        {
          jobId: rec.id,
          type: rec.type,
          state: rec.state,
          attempt: rec.attemptsMade,
          token,
          worker: name,
          session,
          zxid,
        },
        LOG.active,
      );
    this.events.emit('active', job, token);
    if (this.runs < this.concurrency) this.launch(a, job);
    else this.runQueue.push({ a, job });
  }

  /** Starts the run of `a`; when it ends, the next waiting one starts. */
  private launch(a: ActiveJob, job: Job): void {
    this.runs++;
    void this.run(a, job).finally(() => {
      this.runs--;
      const next = this.runQueue.shift();
      if (next) this.launch(next.a, next.job);
    });
  }

  private async run(a: ActiveJob, job: Job): Promise<void> {
    const { outcome, handlerMs } = await runHandler(this.ctx, a, job, this.handlers[a.rec.type]!);
    if (handlerMs !== undefined) this.handlerMs = 0.8 * this.handlerMs + 0.2 * handlerMs;
    const reason: unknown = a.abort.aborted ? a.abort.reason : undefined;
    if (reason instanceof LostClaimError || reason instanceof JobCancelledError) {
      // The claim is gone: nothing may be written for it.
      this.finish(a);
      return;
    }
    // The handler is done: its slot is free for the next job while the outcome is written
    // (writes in flight stay bounded by the prefetch: nothing new is assigned before they land).
    this.handlerDone(a);
    const retryDelay = await this.strategyDelay(a, job, outcome);
    // A run that stored progress or logs says so in the record: the nodes are read and deleted
    // with it. Both writers are drained first, so neither races with the completion.
    await a.progress?.drain();
    await a.logs?.drain();
    const rec = {
      ...a.rec,
      ...(a.progress?.wrote ? { progressed: true } : {}),
      ...(a.logs?.wrote ? { logged: true } : {}),
    };
    const s = settle(rec, a.token, outcome, Date.now(), retryDelay);
    const applied = await this.writer.write(a, s, outcome);
    if (applied && s.remove && rec.progressed) void deleteProgress(this.client, a.id);
    if (applied && s.remove && rec.logged) void deleteLogs(this.client, a.id);
    this.finish(a);
  }

  /**
   * The worker's backoff strategy's answer for a failed attempt with attempts left; undefined
   * (the job's own backoff) without a strategy, or when it throws or answers what is not a delay
   * (reported as an `error` naming it).
   */
  private async strategyDelay(a: ActiveJob, job: Job, outcome: RunOutcome): Promise<number | 'fail' | undefined> {
    const strategy = this.backoffStrategy;
    if (!strategy || outcome.kind !== 'failed') return undefined;
    const err = outcome.error;
    if (err instanceof UnrecoverableError || err instanceof WorkerClosingError) return undefined;
    if (attemptsUsed(a.rec) >= a.rec.opts.attempts) return undefined;
    try {
      return checkStrategyDelay(
        await strategy(attemptsUsed(a.rec), err instanceof Error ? err : new Error(String(err)), job),
      );
    } catch (e) {
      this.ctx.reportError(e, "backoffStrategy failed; the job's own backoff is used", { jobId: a.id });
      return undefined;
    }
  }

  private handlerDone(a: ActiveJob): void {
    if (a.handlerDone) return;
    a.handlerDone = true;
    this.running--;
    this.pumpSoon();
  }

  private finish(a: ActiveJob): void {
    this.handlerDone(a);
    this.active.delete(a.id);
    this.settleAssigned(a.worker, a.node, a.id);
    this.pumpSoon();
  }

  /**
   * Pumps once the current turn of the event loop is over: the slots freed by every handler that
   * ends in it (a claim's batch ends together) are claimed in one batch, one read and one multi,
   * instead of the first alone and the others after its round trip. Meanwhile the outcomes wait to
   * ride on that claim (see the writer's `deferWhile`); when nothing is claimed they are written.
   */
  private pumpSoon(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
      if (this.claiming === 0) this.writer.resume();
    });
  }
}
