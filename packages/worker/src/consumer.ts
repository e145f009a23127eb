import { hostname } from 'node:os';
import type { Stat, ZkClient, WatchHandle } from '@zkjobs/core';
import {
  BadVersionError,
  CreateMode,
  NodeExistsError,
  NoNodeError,
  TransactionError,
  DoubleBarrier,
} from '@zkjobs/core';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import {
  JobCancelledError,
  JobTimeoutError,
  LostClaimError,
  UnrecoverableError,
  WorkerClosingError,
} from './errors.js';
import type { TypedEmitter, WorkerEvents } from './events.js';
import {
  closeAttempt,
  isFinalState,
  MAX_NOTES,
  pushHistory,
  storeError,
  type AttemptOutcome,
  type ClaimNote,
  type EventClaim,
  type Job,
  type JobRecord,
} from './job.js';
import {
  BARRIERS,
  WORKERS,
  decodeAssignment,
  encodeMarker,
  jobPath,
  pendingMarkerPrefix,
  queueDir,
  retentionMarkerPrefix,
  type AssignedJob,
  type PendingEntry,
} from './layout.js';
import { backoffDelay } from './options.js';
import { encodeRecord, mapLimit, readRecord, toJob } from './store.js';

/** What a processor gets besides the job. */
export interface ProcessorContext {
  /**
   * The claim's fencing token: larger for every later claim of the same job. Pass it to external
   * systems so they can reject writes from a stale holder.
   */
  token: number;
  /** Aborted on timeout ({@link JobTimeoutError}), cancel ({@link JobCancelledError}), lost claim ({@link LostClaimError}) or shutdown. */
  signal: AbortSignal;
  /** Reports progress: emitted as the Worker's `progress` event and logged at debug (not stored). */
  progress(value: unknown): void;
  /** 1-based attempt number. */
  attempt: number;
  /** The worker's znode name (`w-NNNNNNNNNN`). */
  worker: string;
  /** The worker's session id, hex. */
  session: string;
  /** For a task of a gang job: its index (0-based) and the gang's size. */
  gang?: { index: number; size: number; parent: string };
}

/**
 * A job handler. Its return value is stored as the job's result, as JSON: a result over
 * {@link MAX_RESULT_BYTES} (256 KiB) is stored as `{ truncated: true, reason, bytes }`, and one
 * that cannot be serialised (a cycle, a BigInt) fails the attempt as an UnrecoverableError. A
 * throw fails the attempt ({@link UnrecoverableError}: no more attempts).
 */
export type Processor<D = any, R = any> = (job: Job<D>, ctx: ProcessorContext) => Promise<R> | R; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Assignment {
  jobs: AssignedJob[];
  outstanding: Set<string>;
}

interface Active {
  id: string;
  worker: string;
  session: string;
  token: number;
  rec: JobRecord; // as claimed
  ac: AbortController;
  timer?: NodeJS.Timeout;
  node: string; // assignment node
  stalled?: boolean; // 'stalled' was reported
  handlerDone?: boolean; // its handler settled (its slot is free)
}

/** Results larger than this (bytes of JSON) are stored as a `{ truncated: true }` marker. */
export const MAX_RESULT_BYTES = 262_144;

/**
 * What a handler's result becomes in the record: itself, or a `{ truncated, reason, bytes }`
 * marker when its JSON is over {@link MAX_RESULT_BYTES}.
 * @throws UnrecoverableError when the result cannot be stored as JSON (a cycle, a BigInt, …):
 *   the attempt fails at once, instead of the worker failing to write its completion.
 */
function storableResult(result: unknown): unknown {
  if (result === undefined) return undefined;
  let json: string | undefined;
  try {
    json = JSON.stringify(result);
  } catch (err) {
    throw new UnrecoverableError(`the handler's result cannot be stored as JSON: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const bytes = Buffer.byteLength(json ?? '');
  if (bytes > MAX_RESULT_BYTES) return { truncated: true, reason: `result over ${MAX_RESULT_BYTES} bytes`, bytes };
  return result;
}

type Outcome = { kind: 'completed'; result: unknown } | { kind: 'failed'; error: unknown; timeout?: boolean };

interface Completion {
  a: Active;
  rec: JobRecord; // the record to write (or delete when remove)
  remove: boolean;
  retry?: PendingEntry;
  /** Retention by age: the record is deleted this many ms after the completing write. */
  keepFor?: number;
  outcome: Outcome;
  resolve: (applied: boolean) => void;
}

/** Internal: the consumer side of a Worker, bound to one registration (`w-…` + session) at a time. */
export class Consumer {
  private name: string | null = null;
  private session = '';
  private watch: WatchHandle | null = null;
  private poll: NodeJS.Timeout | null = null;
  private listing = false;
  private readonly assignments = new Map<string, Assignment>();
  private readonly loading = new Set<string>();
  /** Assigned jobs not yet claimed, lowest priority number first, then in order of arrival. */
  private buffer: { id: string; a: number; p: number; node: string }[] = [];
  private readonly active = new Map<string, Active>();
  private claiming = 0;
  /** Handlers running now (≤ concurrency). */
  private running = 0;
  private pumping = false;
  private stopped = false;
  private readonly pq: PQueue;
  private completions: Completion[] = [];
  private flushing: Promise<void> | null = null;
  private readonly proc = `${hostname()}:${process.pid}`;
  /** Completed, failed or refused completions so far (for tests and metrics). */
  readonly counters = {
    claimed: 0,
    completed: 0,
    failed: 0,
    refused: 0,
    skipped: 0,
    claimMultis: 0,
    completionMultis: 0,
    recordReads: 0,
  };

  constructor(
    private readonly client: ZkClient,
    private readonly handlers: Record<string, Processor>,
    private readonly concurrency: number,
    private readonly log: Logger,
    private readonly events: TypedEmitter<WorkerEvents>,
    private readonly pollMs: number,
  ) {
    this.pq = new PQueue({ concurrency });
  }

  get workerName(): string | null {
    return this.name;
  }

  get runningCount(): number {
    return this.running;
  }

  /** Mean handler time, ms (exponentially weighted; starts high, so nothing is claimed ahead at first). */
  private handlerMs = 1000;

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
    try {
      await this.client.create(queueDir(name));
    } catch (err) {
      if (!(err instanceof NodeExistsError)) throw err;
    }
    if (this.name !== name) return;
    this.watch = this.client.watchChildren(queueDir(name), (children) => this.onChildren(name, children), {
      onError: (e) => this.log.warn({ err: e, worker: name }, 'queue watch error'),
    });
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
    this.watch?.close();
    this.watch = null;
    this.assignments.clear();
    this.buffer = [];
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

  private abortLost(a: Active, reason: string): void {
    if (a.ac.signal.aborted || a.stalled) return;
    a.stalled = true;
    const err = new LostClaimError(a.id, a.token, reason);
    a.ac.abort(err);
    this.counters.refused++;
    this.log.warn(
      { jobId: a.id, attempt: a.rec.attemptsMade, token: a.token, worker: a.worker, session: a.session, reason },
      'claim lost: job stalled',
    );
    this.events.emit('stalled', a.id, err, claimOf(a));
    this.noteClaim(a, 'lost', reason);
  }

  /** Aborts every running job (shutdown after the grace period). */
  abortAll(reason: Error): void {
    for (const a of this.active.values()) if (!a.ac.signal.aborted) a.ac.abort(reason);
  }

  /** Resolves when no job is running and no completion is being written. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.active.size > 0 || this.claiming > 0 || this.completions.length > 0 || this.flushing) {
      if (Date.now() > deadline) return false;
      await new Promise((r) => setTimeout(r, 20));
    }
    return true;
  }

  private onChildren(name: string, children: string[]): void {
    if (this.name !== name) return;
    for (const c of children) {
      if (c.startsWith('x-')) {
        const id = c.slice(2);
        const a = this.active.get(id);
        if (a && !a.ac.signal.aborted) {
          this.log.info({ jobId: id, token: a.token, worker: a.worker }, 'job cancelled while running: aborting');
          a.ac.abort(new JobCancelledError(id));
          this.counters.refused++;
        }
        this.client.delete(`${queueDir(name)}/${c}`).catch(() => undefined);
        continue;
      }
      if (!c.startsWith('a-') || this.assignments.has(c) || this.loading.has(c)) continue;
      this.loading.add(c);
      this.client
        .getData(`${queueDir(name)}/${c}`)
        .then(({ data }) => {
          this.loading.delete(c);
          this.accept(name, c, decodeAssignment(data));
        })
        .catch((err: unknown) => {
          this.loading.delete(c);
          if (!(err instanceof NoNodeError)) this.log.warn({ err, node: c }, 'could not read assignment');
        });
    }
    // Assignments missing from a listing are not forgotten here: they are dropped when their
    // last job settles (a listing that raced our own loading must not lose one).
  }

  /**
   * An assignment handed over in-process by this worker's own scheduler once its create has
   * committed (the leader assigning to itself): taken at once, without the watch notification,
   * the listing and the read. The listing that follows finds it known and skips it.
   */
  deliver(name: string, node: string, jobs: AssignedJob[]): void {
    if (this.loading.has(node)) return;
    this.accept(name, node, jobs);
  }

  private accept(name: string, node: string, jobs: AssignedJob[]): void {
    if (this.name !== name || this.stopped || this.assignments.has(node)) return;
    this.assignments.set(node, { jobs, outstanding: new Set(jobs.map((j) => j[0])) });
    for (const [id, a, p] of jobs) this.buffer.push({ id, a, p: p ?? 0, node });
    // Priority holds among the jobs handed to this worker too (the sort is stable).
    this.buffer.sort((x, y) => x.p - y.p);
    this.log.debug(
      { worker: name, node, jobs: jobs.length, buffered: this.buffer.length, active: this.active.size },
      'assignment received',
    );
    if (jobs.length === 0) this.deleteAssignment(name, node);
    this.pump();
  }

  private deleteAssignment(name: string, node: string): void {
    this.assignments.delete(node);
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

  /** Claims as many buffered jobs as there are free slots, in one multi per batch. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void (async () => {
      try {
        while (!this.stopped && this.name !== null && this.buffer.length > 0) {
          const free = this.claimLimit() - this.running - this.claiming;
          if (free <= 0) break;
          const batch = this.buffer.splice(0, free);
          this.claiming += batch.length;
          try {
            await this.claimBatch(this.name, this.session, batch);
          } catch (err) {
            this.log.warn({ err }, 'claim failed');
          } finally {
            this.claiming -= batch.length;
          }
        }
      } finally {
        this.pumping = false;
      }
    })();
  }

  private async claimBatch(
    name: string,
    session: string,
    batch: { id: string; a: number; node: string }[],
  ): Promise<void> {
    this.counters.recordReads += batch.length;
    const reads = await mapLimit(batch, 64, async (b) => ({ b, found: await readRecord(this.client, b.id) }));
    const claims: { b: (typeof batch)[number]; rec: JobRecord; version: number }[] = [];
    for (const { b, found } of reads) {
      const r = found?.rec;
      if (!found || !r || r.attemptsMade !== b.a || (r.state !== 'waiting' && r.state !== 'delayed')) {
        this.counters.skipped++;
        this.log.debug(
          { jobId: b.id, state: r?.state, attemptsMade: r?.attemptsMade, assigned: b.a },
          'stale assignment skipped',
        );
        this.settleAssigned(name, b.node, b.id);
        continue;
      }
      if (!this.handlers[r.type]) {
        this.log.error({ jobId: b.id, type: r.type }, 'no handler for job type (assignment skipped)');
        this.settleAssigned(name, b.node, b.id);
        continue;
      }
      const token = found.stat.version + 1;
      const attempt = r.attemptsMade + 1;
      const claimed: JobRecord = {
        ...r,
        state: 'active',
        attemptsMade: attempt,
        claim: { worker: name, session, token },
        history: pushHistory(r.history, {
          attempt,
          worker: name,
          process: this.proc,
          session,
          token,
          startedAt: Date.now(),
          outcome: 'running',
        }),
      };
      claims.push({ b, rec: claimed, version: found.stat.version });
    }
    if (claims.length === 0) return;
    const commit = async (cs: typeof claims): Promise<{ zxid: string }[]> => {
      const tx = this.client.transaction().check(`${WORKERS}/${name}`, -1);
      for (const c of cs) tx.setData(jobPath(c.rec.id), encodeRecord(c.rec), { version: c.version });
      this.counters.claimMultis++;
      const res = await tx.commit();
      return cs.map((_, i) => ({ zxid: res[i + 1]?.stat?.mzxid.toString() ?? '' }));
    };
    let ok: { c: (typeof claims)[number]; zxid: string }[] = [];
    try {
      const z = await commit(claims);
      ok = claims.map((c, i) => ({ c, zxid: z[i]!.zxid }));
    } catch (err) {
      if (err instanceof TransactionError && err.failedIndex === 0) {
        this.log.warn({ worker: name }, 'claim refused: registration gone');
        return;
      }
      // One record changed meanwhile (cancelled, …) or the reply was lost: claim one by one.
      for (const c of claims) {
        for (;;) {
          try {
            const z = await commit([c]);
            ok.push({ c, zxid: z[0]!.zxid });
            break;
          } catch (e) {
            // Applied by an earlier try after all (a lost reply), or taken by someone else?
            const now = await this.readWhileRegistered(c.rec.id, name);
            if (
              now &&
              now.rec.claim?.session === session &&
              now.rec.claim.token === c.rec.claim!.token &&
              now.rec.state === 'active'
            ) {
              ok.push({ c, zxid: now.stat.mzxid.toString() });
              break;
            }
            if (now === undefined || now === null || e instanceof TransactionError || now.stat.version !== c.version) {
              // Registration gone (the leader requeues what we hold), or the job moved on: skip it.
              this.counters.skipped++;
              this.settleAssigned(name, c.b.node, c.b.id);
              this.log.debug({ jobId: c.rec.id, err: e }, 'claim not taken; skipped');
              break;
            }
            // Not applied and unchanged: try again.
          }
        }
      }
    }
    for (const { c, zxid } of ok) this.start(name, session, c.b.node, c.rec, zxid);
  }

  private start(name: string, session: string, node: string, rec: JobRecord, zxid: string): void {
    const token = rec.claim!.token;
    const a: Active = { id: rec.id, worker: name, session, token, rec, ac: new AbortController(), node };
    this.active.set(rec.id, a);
    this.running++;
    this.counters.claimed++;
    const job = toJob(rec, { version: token, mzxid: BigInt(zxid || 0) } as never);
    this.log.info(
      { jobId: rec.id, type: rec.type, state: 'active', attempt: rec.attemptsMade, token, worker: name, session, zxid },
      'job active',
    );
    this.events.emit('active', job, token);
    void this.pq.add(() => this.run(a, job));
  }

  private async run(a: Active, job: Job): Promise<void> {
    const rec = a.rec;
    const handler = this.handlers[rec.type]!;
    const timeout = rec.opts.timeout;
    if (timeout !== undefined) {
      a.timer = setTimeout(() => a.ac.abort(new JobTimeoutError(timeout)), timeout);
    }
    let outcome: Outcome;
    let barrier: DoubleBarrier | undefined;
    let t0 = -1;
    try {
      const aborted = new Promise<never>((_, reject) => {
        if (a.ac.signal.aborted) reject(a.ac.signal.reason);
        a.ac.signal.addEventListener('abort', () => reject(a.ac.signal.reason), { once: true });
      });
      aborted.catch(() => undefined);
      const ctx: ProcessorContext = {
        token: a.token,
        signal: a.ac.signal,
        attempt: rec.attemptsMade,
        worker: a.worker,
        session: a.session,
        progress: (value: unknown) => {
          this.log.debug({ jobId: a.id, progress: value }, 'job progress');
          this.events.emit('progress', job, value);
        },
      };
      if (rec.gang) {
        ctx.gang = { index: rec.gang.index, size: rec.gang.size, parent: rec.gang.parent };
        barrier = new DoubleBarrier(this.client, `${BARRIERS}/${rec.gang.parent}-${rec.attemptsMade}`, rec.gang.size, {
          memberId: `t${rec.gang.index}`,
        });
        const entered = await Promise.race([barrier.enter({ signal: a.ac.signal, timeoutMs: 60_000 }), aborted]);
        if (!entered) throw new Error('gang barrier: not every task started within 60 s');
      }
      t0 = performance.now();
      const result = await Promise.race([Promise.resolve().then(() => handler(job, ctx)), aborted]);
      if (barrier) await Promise.race([barrier.leave({ signal: a.ac.signal, timeoutMs: 60_000 }), aborted]);
      outcome = { kind: 'completed', result: storableResult(result) };
    } catch (err) {
      outcome = { kind: 'failed', error: err, timeout: err instanceof JobTimeoutError };
    }
    if (t0 >= 0) this.handlerMs = 0.8 * this.handlerMs + 0.2 * (performance.now() - t0);
    if (a.timer) clearTimeout(a.timer);
    const reason: unknown = a.ac.signal.aborted ? a.ac.signal.reason : undefined;
    if (reason instanceof LostClaimError || reason instanceof JobCancelledError) {
      // The claim is gone: nothing may be written for it.
      this.finish(a);
      return;
    }
    // The handler is done: its slot is free for the next job while the outcome is written
    // (writes in flight stay bounded by the prefetch: nothing new is assigned before they land).
    this.handlerDone(a);
    await this.complete(a, outcome);
    this.finish(a);
  }

  private handlerDone(a: Active): void {
    if (a.handlerDone) return;
    a.handlerDone = true;
    this.running--;
    this.pump();
  }

  private finish(a: Active): void {
    this.handlerDone(a);
    this.active.delete(a.id);
    this.settleAssigned(a.worker, a.node, a.id);
    this.pump();
  }

  private complete(a: Active, outcome: Outcome): Promise<boolean> {
    const rec = a.rec;
    const now = Date.now();
    let next: JobRecord;
    let remove = false;
    let keepFor: number | undefined;
    let retry: PendingEntry | undefined;
    let histOutcome: AttemptOutcome;
    if (outcome.kind === 'completed') {
      histOutcome = 'completed';
      next = { ...rec, state: 'completed', claim: null, result: outcome.result, finishedAt: now };
      remove = rec.opts.removeOnComplete === true;
      if (typeof rec.opts.removeOnComplete === 'object') keepFor = rec.opts.removeOnComplete.age;
    } else {
      const err = outcome.error;
      const unrecoverable = err instanceof UnrecoverableError;
      const msg = err instanceof Error ? err.message : String(err);
      if (err instanceof WorkerClosingError) {
        // Shutdown: hand the job back (no backoff, never dead) for another worker.
        histOutcome = 'released';
        next = { ...rec, state: 'waiting', claim: null };
        retry = { id: rec.id, type: rec.type, priority: rec.opts.priority, attemptsMade: rec.attemptsMade, delay: 0 };
      } else if (unrecoverable) {
        histOutcome = 'failed';
        next = { ...rec, state: 'failed', claim: null, error: storeError(err), finishedAt: now };
      } else if (rec.attemptsMade >= rec.opts.attempts) {
        histOutcome = 'dead';
        next = { ...rec, state: 'dead', claim: null, error: storeError(err), finishedAt: now };
      } else {
        histOutcome = 'retrying';
        const delay = backoffDelay(rec.opts.backoff, rec.attemptsMade);
        next = { ...rec, state: delay > 0 ? 'delayed' : 'waiting', claim: null, error: storeError(err) };
        retry = { id: rec.id, type: rec.type, priority: rec.opts.priority, attemptsMade: rec.attemptsMade, delay };
      }
      if (outcome.timeout) histOutcome = histOutcome === 'retrying' ? 'retrying' : histOutcome;
      if (next.state === 'failed' || next.state === 'dead') {
        remove = rec.opts.removeOnFail === true;
        if (typeof rec.opts.removeOnFail === 'object') keepFor = rec.opts.removeOnFail.age;
      }
      next.history = closeAttempt(rec.history, a.token, { outcome: histOutcome, error: msg });
    }
    if (outcome.kind === 'completed') next.history = closeAttempt(rec.history, a.token, { outcome: 'completed' });
    return new Promise<boolean>((resolve) => {
      const c: Completion = { a, rec: next, remove, outcome, resolve };
      if (retry) c.retry = retry;
      if (keepFor !== undefined) c.keepFor = keepFor;
      this.completions.push(c);
      this.scheduleFlush();
    });
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      try {
        while (this.completions.length > 0) {
          const batch = this.completions.splice(0, 200);
          await this.flush(batch);
        }
      } finally {
        this.flushing = null;
      }
    })();
  }

  /** Writes a batch of completions in one multi; on failure one by one, so a stale one fails alone. */
  private async flush(batch: Completion[]): Promise<void> {
    const byWorker = new Map<string, Completion[]>();
    for (const c of batch) {
      const l = byWorker.get(c.a.worker) ?? [];
      l.push(c);
      byWorker.set(c.a.worker, l);
    }
    for (const [worker, cs] of byWorker) {
      let zxid: string | undefined;
      try {
        zxid = await this.commitCompletions(worker, cs);
      } catch (err) {
        if (err instanceof TransactionError && err.failedIndex === 0) {
          for (const c of cs) this.refused(c, 'registration gone (session expired)');
          continue;
        }
        for (const c of cs) await this.commitOne(worker, c);
        continue;
      }
      for (const c of cs) this.applied(c, zxid);
    }
  }

  /**
   * Reads a record, retrying connection trouble for as long as the registration `worker` is ours.
   * @returns the record, null if it does not exist, undefined when the registration is gone
   */
  private async readWhileRegistered(
    id: string,
    worker: string,
  ): Promise<{ rec: JobRecord; stat: Stat } | null | undefined> {
    for (let tries = 0; ; tries++) {
      if (this.name !== worker) return undefined;
      try {
        return await readRecord(this.client, id);
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** tries)));
      }
    }
  }

  /** Reads a record for a verdict, retrying connection trouble for up to 15 s; undefined if it could not. */
  private async readForVerdict(id: string): Promise<{ rec: JobRecord; stat: Stat } | null | undefined> {
    const deadline = Date.now() + 15_000;
    for (let tries = 0; Date.now() < deadline; tries++) {
      try {
        return await readRecord(this.client, id);
      } catch {
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** tries)));
      }
    }
    return undefined;
  }

  /**
   * One completion alone. A TransactionError is final (refused: the claim is no longer current);
   * connection trouble is retried while our registration lives — a completion must not be dropped
   * while we still hold the claim, or nobody would ever finish the job. Before every retry, and
   * before reporting a refusal, the record is read: our attempt's outcome in it tells "applied by
   * an earlier try whose reply was lost" from "not applied".
   */
  private async commitOne(worker: string, c: Completion): Promise<void> {
    const wanted = c.rec.history.find((h) => h.token === c.a.token)?.outcome;
    for (let tries = 0; ; tries++) {
      let err: unknown;
      try {
        this.applied(c, await this.commitCompletions(worker, [c]));
        return;
      } catch (e) {
        err = e;
      }
      let now = await this.readWhileRegistered(c.a.id, worker);
      if (now === undefined) {
        // The registration is gone, so nothing more can be written; was an earlier try applied?
        now = await this.readForVerdict(c.a.id);
        const m = now?.rec.history.find((h) => h.token === c.a.token);
        if ((now === null && c.remove) || (m && m.outcome === wanted && now?.rec.claim?.token !== c.a.token)) {
          this.applied(c, now?.stat.mzxid.toString());
        } else {
          this.refused(c, 'registration gone (session lost) before the completion was written');
        }
        return;
      }
      const mine = now?.rec.history.find((h) => h.token === c.a.token);
      if ((now === null && c.remove) || (mine && mine.outcome === wanted && now?.rec.claim?.token !== c.a.token)) {
        this.applied(c, now?.stat.mzxid.toString());
        return;
      }
      if (err instanceof TransactionError || now === null) {
        const why =
          err instanceof TransactionError
            ? `claim no longer current (${err.failedOp.type} ${err.failedOp.path}: ${err.name})`
            : 'record removed';
        this.refused(c, why);
        return;
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, 100 * 2 ** tries)));
    }
  }

  private async commitCompletions(worker: string, cs: Completion[]): Promise<string | undefined> {
    const tx = this.client.transaction().check(`${WORKERS}/${worker}`, -1);
    const retries: PendingEntry[] = [];
    for (const c of cs) {
      if (c.remove) tx.delete(jobPath(c.a.id), { version: c.a.token });
      else tx.setData(jobPath(c.a.id), encodeRecord(c.rec), { version: c.a.token });
      if (c.retry) retries.push(c.retry);
    }
    if (retries.length > 0) {
      tx.create(pendingMarkerPrefix(retries[0]!.id), {
        data: encodeMarker(retries),
        mode: CreateMode.PERSISTENT_SEQUENTIAL,
      });
    }
    // Retention by age: one marker per distinct age, written with the completions (its ctime is
    // the finish time on ZooKeeper's clock); the leader deletes the records when due.
    const byAge = new Map<number, string[]>();
    for (const c of cs) if (c.keepFor !== undefined) byAge.set(c.keepFor, [...(byAge.get(c.keepFor) ?? []), c.a.id]);
    for (const [age, ids] of byAge) {
      tx.create(retentionMarkerPrefix(ids[0]!), {
        data: JSON.stringify({ age, ids }),
        mode: CreateMode.PERSISTENT_SEQUENTIAL,
      });
    }
    this.counters.completionMultis++;
    const res = await tx.commit();
    return res.find((r) => r.stat)?.stat?.mzxid.toString();
  }

  private applied(c: Completion, zxid: string | undefined): void {
    const { a, rec } = c;
    const job = toJob(rec, { version: a.token + 1, mzxid: BigInt(zxid ?? 0) } as never);
    const base = {
      jobId: a.id,
      type: rec.type,
      attempt: rec.attemptsMade,
      token: a.token,
      worker: a.worker,
      session: a.session,
      zxid,
    };
    if (c.outcome.kind === 'completed') {
      this.counters.completed++;
      this.log.info({ ...base, state: c.remove ? 'completed (removed)' : 'completed' }, 'job completed');
      this.events.emit('completed', job, rec.result, claimOf(a));
    } else if (c.outcome.error instanceof WorkerClosingError) {
      this.log.info({ ...base, state: rec.state }, 'job released (worker closing)');
    } else {
      this.counters.failed++;
      const err = c.outcome.error instanceof Error ? c.outcome.error : new Error(String(c.outcome.error));
      const final = rec.state !== 'waiting' && rec.state !== 'delayed';
      this.log.info(
        { ...base, state: rec.state, error: err.message },
        final ? `job ${rec.state}` : 'job failed: retrying',
      );
      this.events.emit('failed', job, err, final, claimOf(a));
      if (c.retry) this.events.emit('retrying', job, err, c.retry.delay);
      if (rec.state === 'dead') this.events.emit('dead', job, err);
    }
    c.resolve(true);
  }

  private refused(c: Completion, reason: string): void {
    const a = c.a;
    const err = new LostClaimError(a.id, a.token, reason);
    if (!a.ac.signal.aborted) a.ac.abort(err);
    this.log.warn(
      { jobId: a.id, attempt: a.rec.attemptsMade, token: a.token, worker: a.worker, session: a.session, reason },
      'completion refused: lost claim',
    );
    if (!a.stalled) {
      a.stalled = true;
      this.counters.refused++;
      this.events.emit('stalled', a.id, err, claimOf(a));
    }
    this.noteClaim(a, 'refused', reason);
    c.resolve(false);
  }

  // ----- notes: refused completions and lost claims, kept in the record ----------------------

  private readonly notes = new Map<
    string,
    { id: string; note: Omit<ClaimNote, 'over'>; tries: number; due: number; until: number }
  >();
  private notesTimer: NodeJS.Timeout | null = null;
  private notesRunning: Promise<void> | null = null;

  /**
   * Queues a note about claim `a` for its record. It is written by a compare-and-set on the
   * version just read, and only once the record is in a final state: a note on a live record
   * would move the version that the current holder's claim or completion is checked against.
   */
  private noteClaim(a: Active, kind: ClaimNote['kind'], reason: string): void {
    const key = `${a.id}@${a.token}@${kind}`;
    if (this.notes.has(key) || this.notes.size >= 1000) return;
    const now = Date.now();
    this.notes.set(key, {
      id: a.id,
      note: {
        kind,
        attempt: a.rec.attemptsMade,
        token: a.token,
        worker: a.worker,
        session: a.session,
        process: this.proc,
        reason,
        at: now,
      },
      tries: 0,
      due: now,
      until: now + 10 * 60_000,
    });
    this.armNotes(0);
  }

  private armNotes(ms: number): void {
    if (this.notesTimer) return;
    this.notesTimer = setTimeout(() => {
      this.notesTimer = null;
      void this.writeNotes();
    }, ms);
    this.notesTimer.unref();
  }

  /** Writes the notes that are due; best effort (a note is history, not state). */
  writeNotes(): Promise<void> {
    if (this.notesRunning) return this.notesRunning;
    this.notesRunning = (async () => {
      try {
        const now = Date.now();
        const due = [...this.notes].filter(([, n]) => n.due <= now);
        await mapLimit(due, 16, async ([key, n]) => {
          n.tries++;
          const backoff = (): void => {
            if (Date.now() > n.until) this.notes.delete(key);
            else n.due = Date.now() + Math.min(10_000, 250 * 2 ** Math.min(n.tries, 6));
          };
          let found;
          try {
            found = await readRecord(this.client, n.id);
          } catch {
            return backoff();
          }
          const rec = found?.rec;
          const noted = rec?.notes?.some(
            (x) => x.token === n.note.token && x.kind === n.note.kind && x.session === n.note.session,
          );
          if (!found || !rec || noted) return void this.notes.delete(key);
          if (!isFinalState(rec.state)) return backoff();
          const notes = [...(rec.notes ?? []), { ...n.note, over: found.stat.version }];
          const next: JobRecord = { ...rec, notes: notes.slice(Math.max(0, notes.length - MAX_NOTES)) };
          try {
            await this.client.setData(jobPath(n.id), encodeRecord(next), { version: found.stat.version });
            this.notes.delete(key);
            this.log.debug({ jobId: n.id, token: n.note.token, kind: n.note.kind }, 'claim note written');
          } catch (err) {
            if (err instanceof NoNodeError) this.notes.delete(key);
            else if (err instanceof BadVersionError) n.due = Date.now();
            else backoff();
          }
        });
      } finally {
        this.notesRunning = null;
        if (this.notes.size > 0) {
          const next = Math.min(...[...this.notes.values()].map((n) => n.due));
          this.armNotes(Math.max(0, next - Date.now()));
        }
      }
    })();
    return this.notesRunning;
  }

  /** Notes not written yet (for tests and shutdown). */
  get pendingNotes(): number {
    return this.notes.size;
  }
}

function claimOf(a: Active): EventClaim {
  return { token: a.token, attempt: a.rec.attemptsMade, worker: a.worker, session: a.session };
}
