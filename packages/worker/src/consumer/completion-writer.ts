/**
 * Writes the outcomes of a consumer's claims: batched into one completion multi per holder
 * (`ops.completionOps`, fenced by the holder's znode, each record over its claim's token), one by
 * one when a batch fails, so a stale claim fails alone. Reports each as applied (events, log) or
 * refused (the claim was lost: `stalled`, a note).
 */
import { LostClaimError, WorkerClosingError, CorruptRecordError } from '../errors.js';
import { completionOps, isHolderFenceFailure, zxidOf, type CompletionItem } from '../engine/ops.js';
import { readRecord, toJob, type ReadRecord } from '../engine/record.js';
import { isSettledBy, type RunOutcome, type Settlement } from '../engine/transitions.js';
import { failureMessage, LOG } from '../log-events.js';
import { backoffStep, retrying, sleep } from '../util.js';
import type { ClaimNotes } from './claim-notes.js';
import { claimOf, type ActiveJob, type ConsumerContext } from './context.js';
import { TransactionError } from '@zkjobs/core';
import type { Job } from '../job.js';

/** Completions per multi. */
const BATCH = 200;
/** Completions carried by one claim multi, at most. */
const RIDE_MAX = 64;

/** Completions taken by a claim multi (see {@link CompletionWriter.take}). */
export interface TakenCompletions {
  items: CompletionItem[];
  /** Assignments these completions finish (deleted in the same multi). */
  done: string[];
  /** The multi committed (its zxid). */
  applied(zxid: string | undefined): void;
  /** The multi failed: they are written on their own. */
  failed(): void;
}
/** How long the verdict read after a lost registration is retried, ms. */
const VERDICT_READ_MS = 15_000;

interface Completion {
  a: ActiveJob;
  s: Settlement;
  run: RunOutcome;
  resolve: (applied: boolean) => void;
}

/** How the writer learns which assignments a batch finishes (their deletes go in its multi). */
export interface AssignmentHooks {
  /** The assignments of `worker` that are done once `jobIds` are settled (node names). */
  doneBy(worker: string, jobIds: readonly string[]): string[];
  /** These assignments of `worker` were deleted by a committed completion multi. */
  deleted(worker: string, nodes: readonly string[]): void;
}

/** The completion writer of one consumer. */
export class CompletionWriter {
  private queue: Completion[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly ctx: ConsumerContext,
    private readonly notes: ClaimNotes,
    private readonly assignments: AssignmentHooks = { doneBy: () => [], deleted: () => undefined },
  ) {}

  /** True while completions wait or are being written. */
  get busy(): boolean {
    return this.queue.length > 0 || this.flushing !== null;
  }

  /**
   * Writes the settlement `s` of the active job `a` (whose handler ended with `run`).
   * @returns true when it was recorded, false when it was refused (the claim was lost)
   */
  write(a: ActiveJob, s: Settlement, run: RunOutcome): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      this.queue.push({ a, s, run, resolve });
      this.schedule();
    });
  }

  /**
   * Reports claim `a` as refused: its handler's signal is aborted, `stalled` is emitted once, and
   * a `refused` note is queued for its record.
   */
  refuse(a: ActiveJob, reason: string): void {
    const err = new LostClaimError(a.id, a.token, reason);
    if (!a.abort.aborted) a.abort.abort(err);
    this.ctx.log.warn(
      { jobId: a.id, attempt: a.rec.attemptsMade, token: a.token, worker: a.worker, session: a.session, reason },
      LOG.refused,
    );
    if (!a.stalled) {
      a.stalled = true;
      this.ctx.counters.refused++;
      this.ctx.events.emit('stalled', a.id, err, claimOf(a));
    }
    this.notes.note(a, 'refused', reason);
  }

  /**
   * While this says true (a claim of the next batch is being prepared), completions wait for that
   * claim to carry them ({@link take}) instead of taking a multi of their own.
   */
  deferWhile: () => boolean = () => false;

  /**
   * Takes the completions of `worker` waiting to be written (at most {@link RIDE_MAX}), for a
   * claim multi to carry: their ops, the assignments they finish, and what to do once that multi
   * committed (`applied`) or failed (`failed`: they go back to be written on their own).
   */
  take(worker: string): TakenCompletions | null {
    const mine = this.queue.filter((c) => c.a.worker === worker).slice(0, RIDE_MAX);
    if (mine.length === 0) return null;
    const set = new Set(mine);
    this.queue = this.queue.filter((c) => !set.has(c));
    const done = this.assignments.doneBy(
      worker,
      mine.map((c) => c.a.id),
    );
    return {
      items: mine.map((c) => this.itemOf(c)),
      done,
      applied: (zxid) => {
        this.ctx.counters.completionMultis++;
        if (done.length > 0) this.assignments.deleted(worker, done);
        for (const c of mine) this.applied(c, zxid);
      },
      failed: () => {
        this.queue.unshift(...mine);
        this.schedule();
      },
    };
  }

  /** A claim that could carry completions is over: write what still waits. */
  resume(): void {
    if (this.queue.length > 0) this.schedule();
  }

  private schedule(): void {
    if (this.flushing || this.deferWhile()) return;
    this.flushing = (async () => {
      try {
        while (this.queue.length > 0) await this.flush(this.queue.splice(0, BATCH));
      } finally {
        this.flushing = null;
      }
    })();
  }

  /** Writes a batch in one multi per holder; on failure one by one, so a stale one fails alone. */
  private async flush(batch: Completion[]): Promise<void> {
    const byWorker = new Map<string, Completion[]>();
    for (const c of batch) {
      const list = byWorker.get(c.a.worker);
      if (list) list.push(c);
      else byWorker.set(c.a.worker, [c]);
    }
    for (const [worker, cs] of byWorker) {
      let zxid: string | undefined;
      const done = this.assignments.doneBy(
        worker,
        cs.map((c) => c.a.id),
      );
      try {
        zxid = await this.commit(worker, cs, done);
        if (done.length > 0) this.assignments.deleted(worker, done);
      } catch (err) {
        if (isHolderFenceFailure(err)) {
          for (const c of cs) this.refused(c, 'registration gone (session expired)');
          continue;
        }
        for (const c of cs) await this.commitOne(worker, c);
        continue;
      }
      for (const c of cs) this.applied(c, zxid);
    }
  }

  private async commit(
    worker: string,
    cs: readonly Completion[],
    doneAssignments: readonly string[] = [],
  ): Promise<string | undefined> {
    const tx = completionOps(
      this.ctx.client,
      worker,
      cs.map((c) => this.itemOf(c)),
      doneAssignments,
    );
    this.ctx.counters.completionMultis++;
    return zxidOf(await tx.commit());
  }

  private itemOf(c: Completion): CompletionItem {
    const item: CompletionItem = { next: c.s.next, token: c.a.token, from: c.a.rec.state, remove: c.s.remove };
    if (c.s.retry) item.retry = c.s.retry;
    if (c.s.keepFor !== undefined) item.keepFor = c.s.keepFor;
    return item;
  }

  /** Reads a record while `worker` is still the bound registration; undefined once it is not. */
  private readWhileRegistered(id: string, worker: string): Promise<ReadRecord | null | undefined> {
    return retrying(() => readRecord(this.ctx.client, id), {
      until: () => this.ctx.bound() !== worker,
      retryOn: (e) => !(e instanceof CorruptRecordError),
    });
  }

  /**
   * One completion alone. A TransactionError is final (refused: the claim is no longer current);
   * connection trouble is retried while our registration lives — a completion must not be dropped
   * while we still hold the claim, or nobody would ever finish the job. Before every retry, and
   * before reporting a refusal, the record is read: our attempt's outcome in it tells "applied by
   * an earlier try whose reply was lost" from "not applied".
   */
  private async commitOne(worker: string, c: Completion): Promise<void> {
    for (let tries = 0; ; tries++) {
      let err: unknown;
      try {
        this.applied(c, await this.commit(worker, [c]));
        return;
      } catch (e) {
        err = e;
      }
      let now: ReadRecord | null | undefined;
      try {
        now = await this.readWhileRegistered(c.a.id, worker);
        if (now === undefined) {
          // The registration is gone, so nothing more can be written; was an earlier try applied?
          now = await retrying(() => readRecord(this.ctx.client, c.a.id), {
            forMs: VERDICT_READ_MS,
            retryOn: (e) => !(e instanceof CorruptRecordError),
          });
          if (now !== undefined && isSettledBy(now?.rec ?? null, c.a.token, c.s))
            this.applied(c, now?.stat.mzxid.toString());
          else this.refused(c, 'registration gone (session lost) before the completion was written');
          return;
        }
      } catch (e) {
        this.refused(c, `record unreadable: ${(e as Error).message}`);
        return;
      }
      if (isSettledBy(now?.rec ?? null, c.a.token, c.s)) {
        this.applied(c, now?.stat.mzxid.toString());
        return;
      }
      if (err instanceof TransactionError || now === null) {
        this.refused(
          c,
          err instanceof TransactionError
            ? `claim no longer current (${err.failedOp.type} ${err.failedOp.path}: ${err.name})`
            : 'record removed',
        );
        return;
      }
      // Not applied, and the claim still stands: the error was connection trouble; try again.
      await sleep(backoffStep(tries, 100, 1000));
    }
  }

  private applied(c: Completion, zxid: string | undefined): void {
    const { a, s } = c;
    const rec = s.next;
    const { counters, log, events } = this.ctx;
    // The log line's fields and the events' job only when someone takes them: a completion per job.
    const base = log.isLevelEnabled('info')
      ? {
          jobId: a.id,
          type: rec.type,
          attempt: rec.attemptsMade,
          token: a.token,
          worker: a.worker,
          session: a.session,
          zxid,
        }
      : null;
    const job = (): Job => toJob(rec, a.token + 1, zxid ?? '0');
    if (c.run.kind === 'completed') {
      counters.completed++;
      if (base) log.info({ ...base, state: s.remove ? 'completed (removed)' : 'completed' }, LOG.completed);
      if (events.listenerCount('completed') > 0) events.emit('completed', job(), rec.result, claimOf(a));
    } else if (c.run.error instanceof WorkerClosingError) {
      if (base) log.info({ ...base, state: rec.state }, LOG.released);
    } else {
      counters.failed++;
      const err = c.run.error instanceof Error ? c.run.error : new Error(String(c.run.error));
      const state = rec.state;
      const final = state === 'failed' || state === 'dead';
      if (base) log.info({ ...base, state, error: err.message }, failureMessage(state));
      const j = job();
      events.emit('failed', j, err, final, claimOf(a));
      if (s.retry) events.emit('retrying', j, err, s.retry.delay);
      if (state === 'dead') events.emit('dead', j, err);
    }
    c.resolve(true);
  }

  private refused(c: Completion, reason: string): void {
    this.refuse(c.a, reason);
    c.resolve(false);
  }
}
