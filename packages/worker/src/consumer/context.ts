/**
 * What the parts of a worker's consumer share: the client, the log and events, the counters,
 * and the job being run (`ActiveJob`). The consumer (`consumer.ts`) owns the registration; its
 * parts — claims (`claim.ts`), handler runs (`run.ts`), completions (`completion-writer.ts`)
 * and notes (`claim-notes.ts`) — take this context.
 */
import type { ZkClient } from '@zkjobs/core';
import type { Logger } from 'pino';
import type { TypedEmitter, WorkerEvents } from '../events.js';
import type { EventClaim, JobRecord } from '../job.js';
import type { LogWriter } from './logs.js';
import type { ProgressWriter } from './progress.js';

/** Counts of one consumer, for tests and metrics (`Worker.stats()`). */
export interface ConsumerCounters {
  /** Claims made. */
  claimed: number;
  /** Completions recorded. */
  completed: number;
  /** Failed attempts recorded. */
  failed: number;
  /** Claims lost or completions refused. */
  refused: number;
  /** Assigned jobs not claimed (stale, unknown type, taken meanwhile). */
  skipped: number;
  /** Claim multis sent. */
  claimMultis: number;
  /** Completion multis sent. */
  completionMultis: number;
  /** Records read to claim. */
  recordReads: number;
}

/** Shared by the consumer's parts. */
export interface ConsumerContext {
  readonly client: ZkClient;
  readonly log: Logger;
  readonly events: TypedEmitter<WorkerEvents>;
  /** `host:pid` of this process. */
  readonly process: string;
  readonly counters: ConsumerCounters;
  /** Log lines kept per job (the Worker's `keepLogs`). */
  readonly keepLogs: number;
  /** The registration (`w-…`) the consumer is bound to now, or null. */
  bound(): string | null;
  /**
   * A background failure the consumer retries or survives: logged at warn and emitted as the
   * worker's `error` event when the worker has an `error` listener (as BullMQ's worker does).
   */
  reportError(err: unknown, msg: string, fields?: Record<string, unknown>): void;
}

/** A job claimed by this consumer, from its claim until its outcome is settled. */
export interface ActiveJob {
  id: string;
  /** The holder's registration znode name (`w-…`). */
  worker: string;
  /** The session the claim was made in, hex. */
  session: string;
  /** The claim's fencing token. */
  token: number;
  /** The record as claimed. */
  rec: JobRecord;
  /** Aborts the handler (its `ctx.signal`). */
  abort: RunAbort;
  /** The run's timeout timer. */
  timer?: NodeJS.Timeout;
  /** The assignment znode it came in. */
  node: string;
  /** `stalled` was reported for it. */
  stalled?: boolean;
  /** Its handler settled (its slot is free). */
  handlerDone?: boolean;
  /** Its stored progress, once reported. */
  progress?: ProgressWriter;
  /** Its stored log lines, once one is logged. */
  logs?: LogWriter;
}

/**
 * The abort of one handler run: what an AbortController does for it, with the controller (and its
 * signal) made only when the handler asks for `ctx.signal`. Most handlers never do, and a
 * controller, its signal and an event listener per job are a measurable part of a short job's
 * cost. The consumer's own wait for an abort is one callback ({@link RunAbort.onAbort}).
 */
export class RunAbort {
  private controller: AbortController | null = null;
  private done = false;
  private why: unknown = undefined;
  private listener: ((reason: unknown) => void) | null = null;

  /** True once {@link abort} was called. */
  get aborted(): boolean {
    return this.done;
  }

  /** The reason given to {@link abort} (undefined before). */
  get reason(): unknown {
    return this.why;
  }

  /** The handler's signal: aborted with the same reason, also when asked for after the abort. */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.done) this.controller.abort(this.why);
    }
    return this.controller.signal;
  }

  /** Aborts the run with `reason` (once: later calls do nothing), as `AbortController.abort` does. */
  abort(reason?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.why = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.controller?.abort(this.why);
    const l = this.listener;
    this.listener = null;
    l?.(this.why);
  }

  /** Calls `fn` with the reason when the run is aborted (at once when it is already); one listener. */
  onAbort(fn: (reason: unknown) => void): void {
    if (this.done) fn(this.why);
    else this.listener = fn;
  }
}

/** The claim of an active job, as events carry it. */
export function claimOf(a: ActiveJob): EventClaim {
  return { token: a.token, attempt: a.rec.attemptsMade, worker: a.worker, session: a.session };
}

/** An assigned job waiting in the consumer's buffer for a slot. */
export interface BufferedJob {
  id: string;
  /** The record's `attemptsMade` when it was assigned. */
  attemptsMade: number;
  priority: number;
  /** The assignment znode it came in. */
  node: string;
}
