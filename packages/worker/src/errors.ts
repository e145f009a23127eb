/**
 * Errors of the job engine. Each carries a stable `code` so that scripts and the CLI can tell
 * them apart without matching messages; causes are kept with ES2022 `{ cause }`.
 */

/** Base class of every error thrown by `@zkjobs/worker`. */
export class JobsError extends Error {
  /** A stable machine-readable code, e.g. `'INVALID_OPTION'`. */
  readonly code: string;

  /**
   * @param code - stable machine-readable code
   * @param message - human-readable message
   * @param options - ES2022 error options (`cause`)
   */
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Thrown by a processor to fail its job at once: no further attempts are made and the job
 * ends in state `failed` (not `dead`), as BullMQ's `UnrecoverableError`.
 */
export class UnrecoverableError extends Error {
  /** @param message - why the job cannot succeed */
  constructor(message = 'unrecoverable error', options?: ErrorOptions) {
    super(message, options);
    this.name = 'UnrecoverableError';
  }
}

/**
 * Bad input to {@link Queue.add} / {@link Queue.addBulk} / a constructor: an unknown or
 * out-of-range option, a malformed job id or type, a payload over the size cap. Thrown before
 * anything is written, so a rejected request changes nothing.
 */
export class JobValidationError extends JobsError {
  /** The offending field, as a dotted path: `opts.delay`, `data`, `jobs[3].opts.attempts`. */
  readonly field: string;

  /**
   * @param field - dotted path of the offending field
   * @param message - what is wrong with it
   */
  constructor(field: string, message: string, options?: ErrorOptions) {
    super('INVALID_OPTION', `${field}: ${message}`, options);
    this.field = field;
  }
}

/** No job with this id exists (never submitted, or removed by retention). */
export class JobNotFoundError extends JobsError {
  /** The id that was looked up. */
  readonly jobId: string;

  /** @param jobId - the id that was looked up */
  constructor(jobId: string) {
    super('JOB_NOT_FOUND', `job ${jobId} not found`);
    this.jobId = jobId;
  }
}

/**
 * The worker no longer holds the claim on a job: its session ended, the leader requeued the job,
 * or the job was cancelled. The handler's `signal` is aborted with this error as its reason,
 * and a completion attempted under the lost claim is refused (it is never recorded).
 */
export class LostClaimError extends JobsError {
  /** The job whose claim was lost. */
  readonly jobId: string;
  /** The fencing token of the lost claim. */
  readonly token: number;

  /**
   * @param jobId - the job whose claim was lost
   * @param token - the fencing token of the lost claim
   * @param reason - why it was lost
   */
  constructor(jobId: string, token: number, reason: string, options?: ErrorOptions) {
    super('LOST_CLAIM', `lost claim on job ${jobId} (token ${token}): ${reason}`, options);
    this.jobId = jobId;
    this.token = token;
  }
}

/** No schedule with this id exists. */
export class ScheduleNotFoundError extends JobsError {
  /** The id that was looked up. */
  readonly scheduleId: string;

  /** @param scheduleId - the id that was looked up */
  constructor(scheduleId: string) {
    super('SCHEDULE_NOT_FOUND', `schedule ${scheduleId} not found`);
    this.scheduleId = scheduleId;
  }
}

/** A job ran longer than its `timeout`; the handler's signal is aborted with this error. */
export class JobTimeoutError extends JobsError {
  /** The timeout that was exceeded, in ms. */
  readonly timeoutMs: number;

  /** @param timeoutMs - the timeout that was exceeded, in ms */
  constructor(timeoutMs: number) {
    super('TIMEOUT', `job timed out after ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The job was cancelled through {@link Queue.cancel}; the handler's signal is aborted with this error. */
export class JobCancelledError extends JobsError {
  /** @param jobId - the cancelled job */
  constructor(jobId: string) {
    super('CANCELLED', `job ${jobId} was cancelled`);
  }
}

/**
 * {@link Queue.add} / {@link Queue.addBulk} refused: the namespace's backlog (jobs `waiting` or
 * `delayed`) plus the jobs of this call would pass {@link QueueOptions.maxBacklog}. Nothing was
 * written.
 */
export class QueueFullError extends JobsError {
  /** Jobs waiting or delayed in the namespace when the call read the counts. */
  readonly backlog: number;
  /** The bound ({@link QueueOptions.maxBacklog}). */
  readonly maxBacklog: number;
  /** Jobs this call would have added. */
  readonly adding: number;

  /**
   * @param backlog - jobs waiting or delayed, as read
   * @param maxBacklog - the bound
   * @param adding - jobs of the refused call
   */
  constructor(backlog: number, maxBacklog: number, adding: number) {
    super(
      'QUEUE_FULL',
      `queue full: ${backlog} jobs waiting or delayed, and ${adding} more would pass maxBacklog ${maxBacklog}; nothing was added`,
    );
    this.backlog = backlog;
    this.maxBacklog = maxBacklog;
    this.adding = adding;
  }
}

/** {@link Queue.waitUntilFinished} gave up before the job reached a final state. */
export class WaitTimeoutError extends JobsError {
  /**
   * @param jobId - the job waited for
   * @param timeoutMs - how long it waited, in ms
   */
  constructor(jobId: string, timeoutMs: number) {
    super('WAIT_TIMEOUT', `job ${jobId} did not finish within ${timeoutMs} ms`);
  }
}

/** The job ended in `failed`, `dead` or `cancelled` while {@link Queue.waitUntilFinished} waited for it. */
export class JobFailedError extends JobsError {
  /** The job's final state. */
  readonly state: string;

  /**
   * @param jobId - the job
   * @param state - its final state
   * @param reason - its recorded error message
   */
  constructor(jobId: string, state: string, reason: string) {
    super('JOB_FAILED', `job ${jobId} ended ${state}: ${reason}`);
    this.state = state;
  }
}

/**
 * The worker is shutting down and its grace period is over: the handler's signal is aborted with
 * this error, and the job is released (back to waiting, attempt outcome `released`) for another
 * worker rather than failed.
 */
export class WorkerClosingError extends JobsError {
  /** @param graceMs - the grace period that ran out, ms */
  constructor(graceMs: number) {
    super('WORKER_CLOSING', `worker shutting down: grace period of ${graceMs} ms is over`);
  }
}

/**
 * A job record znode whose data is not a job record (not JSON, or missing its id, type, state,
 * attempts or history). The engine never rewrites such a znode; it leaves it for an operator.
 */
export class CorruptRecordError extends JobsError {
  /** The record's path, relative to the namespace. */
  readonly path: string;

  /**
   * @param path - the record's path, relative to the namespace
   * @param reason - what is wrong with its data
   */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super('CORRUPT_RECORD', `${path} is not a job record: ${reason}`, options);
    this.path = path;
  }
}

/**
 * An engine bug guard: a job record was asked to make a change its state does not allow (for
 * example completing a job that is not active). See the table in `engine/transitions.ts`.
 */
export class IllegalTransitionError extends JobsError {
  /** The job. */
  readonly jobId: string;
  /** Its state when the change was asked for. */
  readonly from: string;
  /** The change asked for. */
  readonly event: string;

  /**
   * @param jobId - the job
   * @param from - its state
   * @param event - the change that is not allowed from that state
   */
  constructor(jobId: string, from: string, event: string) {
    super('ILLEGAL_TRANSITION', `job ${jobId}: ${event} is not allowed from state ${from}`);
    this.jobId = jobId;
    this.from = from;
    this.event = event;
  }
}

/**
 * An operator's request that the job's state does not allow: {@link Queue.retryJob} of a job
 * that is not failed or dead, {@link Queue.remove} of an active (running) job — as BullMQ
 * refuses to remove a locked job. Nothing is written.
 */
export class JobStateError extends JobsError {
  /** The job. */
  readonly jobId: string;
  /** Its state when the request was made. */
  readonly state: string;
  /** The request: `retry` or `remove`. */
  readonly operation: string;

  /**
   * @param jobId - the job
   * @param state - its state
   * @param operation - what was asked (`retry`, `remove`)
   * @param why - why that state does not allow it
   */
  constructor(jobId: string, state: string, operation: string, why: string) {
    super('JOB_STATE', `cannot ${operation} job ${jobId}: it is ${state}; ${why}`);
    this.jobId = jobId;
    this.state = state;
    this.operation = operation;
  }
}

/**
 * {@link Queue.obliterate} refused: workers are registered under the namespace (their
 * `workers/w-…` znodes are live). Stop them first, or pass `force: true`. Nothing is deleted.
 */
export class LiveWorkersError extends JobsError {
  /** The live workers' znode names (`w-…`). */
  readonly workers: string[];

  /**
   * @param namespace - the namespace root
   * @param workers - the live workers' znode names
   */
  constructor(namespace: string, workers: string[]) {
    super(
      'LIVE_WORKERS',
      `cannot obliterate ${namespace}: ${workers.length} worker${workers.length === 1 ? ' is' : 's are'} live ` +
        `(${workers.slice(0, 5).join(', ')}${workers.length > 5 ? ', …' : ''}); stop them or pass force`,
    );
    this.workers = workers;
  }
}
