/**
 * The job record stored at `<root>/jobs/<bucket>/<jobId>` and the public view of it.
 */

/**
 * Where a job is in its life.
 *
 * - `waiting`: submitted (or requeued / released), not yet claimed; it may sit in a pending
 *   marker, be blocked on its `dependsOn`, or be assigned to a worker's queue.
 * - `delayed`: waiting for its `delay` or a retry backoff to pass (ZooKeeper's clock).
 * - `active`: claimed by a worker; `claim` names it and its fencing token.
 * - `completed`, `failed` (UnrecoverableError, failed dependency), `dead` (used up its
 *   attempts), `cancelled`: final.
 */
export type JobState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'dead' | 'cancelled';

/** Every {@link JobState}, in life order. */
export const JOB_STATES: readonly JobState[] = [
  'waiting',
  'delayed',
  'active',
  'completed',
  'failed',
  'dead',
  'cancelled',
];

/** True for the states a job never leaves: completed, failed, dead, cancelled. */
export function isFinalState(state: JobState): boolean {
  return state === 'completed' || state === 'failed' || state === 'dead' || state === 'cancelled';
}

/** Backoff between attempts. `number` = fixed delay in ms. */
export type BackoffOptions =
  | number
  | {
      /** `fixed`: `delay` every time; `exponential`: `delay × 2^(attempt-1)`. */
      type: 'fixed' | 'exponential';
      /** Base delay, in ms. */
      delay: number;
    }
  | {
      /** An explicit list: the n-th retry waits `delays[n-1]` ms (the last one repeats). */
      type: 'custom';
      /** Delays in ms, one per retry. */
      delays: number[];
    };

/**
 * How long a finished job's record is kept: `true` = deleted with the finishing write, `false` =
 * kept; an object keeps it until either of its bounds says it goes:
 * - `age`: deleted `age` ms after it finished (ZooKeeper's clock);
 * - `count`: deleted once `count` newer records of its kind finished (BullMQ's `{ count }`): of
 *   the records kept by count, only the newest `count` completed ones (`removeOnComplete`) or
 *   the newest `count` failed and dead ones (`removeOnFail`) of the namespace stay.
 */
export type Retention = boolean | { age: number; count?: number } | { age?: number; count: number };

/** Options of one job, as given to {@link Queue.add}. All times in ms. */
export interface JobOptions {
  /**
   * Idempotency key and id of the job: a second `add` with the same `jobId` writes nothing and
   * returns the first job. 1–128 characters of `[A-Za-z0-9._:@-]`.
   * @defaultValue a generated, time-ordered id
   */
  jobId?: string;
  /**
   * Lower numbers run first (BullMQ's convention); jobs of equal priority run in submission
   * order. Integer 0–1,000,000.
   * @defaultValue 0
   */
  priority?: number;
  /**
   * Do not start before this many ms have passed on ZooKeeper's clock (the submit znode's ctime
   * plus `delay`), whatever the submitter's clock says. Integer 0–31,536,000,000 (a year).
   * @defaultValue 0
   */
  delay?: number;
  /**
   * How many times the job may run (claims), the first run included. Integer 1–1,000.
   * @defaultValue 1
   */
  attempts?: number;
  /**
   * Wait between a failed attempt and the next one. Needs `attempts` ≥ 2 (a backoff without a
   * next attempt is refused: `JobValidationError` on `opts.backoff`). A worker's
   * `backoffStrategy` takes precedence for the jobs it runs.
   * @defaultValue 0 (retry at once)
   */
  backoff?: BackoffOptions;
  /**
   * Abort the handler's signal with a {@link JobTimeoutError} after this many ms of running and
   * record the attempt as failed. Integer 1–86,400,000.
   * @defaultValue no timeout
   */
  timeout?: number;
  /**
   * Retention of a completed job's record: `true` deletes it when the job completes (the delete
   * is the completing write, fenced like any completion); `{ age }` keeps it `age` ms (by
   * ZooKeeper's clock, from the completing write), then the leader deletes it; `false` keeps it
   * until deleted by hand.
   * @defaultValue false
   */
  removeOnComplete?: Retention;
  /**
   * Retention of a failed/dead job's record, as {@link JobOptions.removeOnComplete}.
   * @defaultValue false
   */
  removeOnFail?: Retention;
  /**
   * Ids of jobs that must complete before this one is scheduled. They must exist when this job is
   * submitted (or be in the same `addBulk`). If one of them ends failed, dead or cancelled, this
   * job fails with "dependency … ended …". At most 100.
   * @defaultValue []
   */
  dependsOn?: string[];
  /**
   * A gang job: run this many tasks at the same time on different workers, entering and leaving a
   * DoubleBarrier together. Integer 1–64.
   * @defaultValue 1
   */
  parallelism?: number;
}

/** Options after validation and defaults, as stored in the record (see {@link JobOptions}). */
export interface NormalizedJobOptions {
  /** Lower runs first. */
  priority: number;
  /** Delay before the first run, ms (ZooKeeper's clock). */
  delay: number;
  /** Maximum number of runs. */
  attempts: number;
  /** Backoff between runs, if any. */
  backoff?: BackoffOptions;
  /** Run timeout, ms, if any. */
  timeout?: number;
  /** Retention of the record once completed. */
  removeOnComplete: Retention;
  /** Retention of the record once failed or dead. */
  removeOnFail: Retention;
  /** Jobs that must complete first. */
  dependsOn: string[];
  /** Tasks of a gang job (1 = not a gang). */
  parallelism: number;
}

/** How an attempt ended. `running` while it runs. */
export type AttemptOutcome =
  'running' | 'completed' | 'failed' | 'retrying' | 'dead' | 'released' | 'requeued' | 'cancelled' | 'retried';

/**
 * True for a history entry that records a claim (a run of the handler); false for an operator's
 * retry (`retried`, see {@link Queue.retryJob}), which records no run.
 */
export function isClaimEntry(a: Pick<AttemptRecord, 'outcome'>): boolean {
  return a.outcome !== 'retried';
}

/**
 * One attempt of a job: who ran it, under which session and fencing token, when, and how it
 * ended. The answer to "why did this run twice?".
 *
 * An operator's retry ({@link Queue.retryJob}) adds an entry of its own, outcome `retried`: no
 * run, `attempt` = the attempts made before it, `token` = the record's version after the retry's
 * write, `worker` = `operator`, `process`/`session` = the retrying process and session,
 * `error` = the state it was retried from.
 */
export interface AttemptRecord {
  /** 1-based attempt number (the job's `attemptsMade` after the claim). */
  attempt: number;
  /** The worker's znode name, e.g. `w-0000000003`. */
  worker: string;
  /** Host and pid of the worker process, `host:pid`. */
  process: string;
  /** The worker's ZooKeeper session id, hex. */
  session: string;
  /** The claim's fencing token (the record's version after the claim write). */
  token: number;
  /** Start, ms since the epoch (worker's clock). */
  startedAt: number;
  /** End, ms since the epoch (writer's clock); absent while running. */
  endedAt?: number;
  /** How it ended. */
  outcome: AttemptOutcome;
  /** The error message for failed / retrying / dead (a timeout's is `job timed out after N ms`), or the reason for requeued / released. */
  error?: string;
  /** For `requeued`: the leader that requeued it (`w-…`, epoch). */
  by?: string;
}

/** A serialised error, as stored in the record. */
export interface StoredError {
  /** The error's class name, e.g. `Error`, `UnrecoverableError`, `JobTimeoutError`. */
  name: string;
  /** Its message. */
  message: string;
  /** The first lines of its stack, when it had one. */
  stack?: string;
}

/** The current claim on an active job. */
export interface ClaimInfo {
  /** The holder's znode name (`w-…`). */
  worker: string;
  /** The holder's session id, hex. */
  session: string;
  /** The fencing token (the record's version after the claim). */
  token: number;
}

/** The JSON document at `<root>/jobs/<bucket>/<jobId>`. */
export interface JobRecord {
  /** The job id (gang tasks: `<parent>~<index>`). */
  id: string;
  /** The job type. */
  type: string;
  /** The payload. */
  data: unknown;
  /** Options after defaults. */
  opts: NormalizedJobOptions;
  /** Current state. */
  state: JobState;
  /** Number of claims so far (attempts started). */
  attemptsMade: number;
  /**
   * `attemptsMade` at the operator's last retry ({@link Queue.retryJob}): the budget of
   * `opts.attempts` counts the attempts made after it. Absent = 0 (never retried).
   */
  attemptsBase?: number;
  /** Submit time, ms since the epoch (submitter's clock; informative only). */
  createdAt: number;
  /** Attempt records, oldest first (at most {@link MAX_HISTORY}). */
  history: AttemptRecord[];
  /** The current claim while `active`. */
  claim?: ClaimInfo | null;
  /** The handler's return value, once completed (gang parents: the tasks' results). */
  result?: unknown;
  /** The last error. */
  error?: StoredError;
  /** When it reached a final state, ms since the epoch (writer's clock). */
  finishedAt?: number;
  /** For gang tasks: the gang job's id and this task's index. */
  gang?: { parent: string; index: number; size: number };
  /**
   * A run of the job stored progress (`progress/<bucket>/<id>`), so the node is read with the
   * record and deleted with it. Set by the holder's outcome (and the leader's requeue).
   */
  progressed?: boolean;
  /**
   * A run of the job stored log lines (`logs/<bucket>/<id>`), so the node is deleted with the
   * record. Set by the holder's outcome (and the leader's requeue).
   */
  logged?: boolean;
  /**
   * Refused completions and lost claims, oldest first (at most {@link MAX_NOTES}): what a stale
   * holder learnt after its claim had been superseded. Appended only by a compare-and-set on the
   * version the writer has just read, and only once the record is final, so a note never moves the
   * fencing token of a live claim.
   */
  notes?: ClaimNote[];
}

/**
 * A holder's note about one of its claims that did not end in a recorded outcome of its own: its
 * completion was refused (`refused`), or it learnt that the claim was lost while the handler ran
 * (`lost`: session lost, requeued, cancelled). Kept in the record so that `zkjobs verify` can
 * explain a re-run from the tree alone.
 */
export interface ClaimNote {
  /** `refused`: the completing write failed its claim check; `lost`: the handler was aborted. */
  kind: 'refused' | 'lost';
  /** The claim's attempt number. */
  attempt: number;
  /** The claim's fencing token. */
  token: number;
  /** The holder's znode name (`w-…`). */
  worker: string;
  /** The holder's session id, hex. */
  session: string;
  /** Host and pid of the holder, `host:pid`. */
  process: string;
  /** Why, as the holder saw it. */
  reason: string;
  /** When the holder learnt it, ms since the epoch (its clock). */
  at: number;
  /** The record version this note was written over (the note's write made it `over + 1`). */
  over: number;
}

/** At most this many notes are kept per job (the oldest are dropped). */
export const MAX_NOTES = 20;

/** At most this many attempt records are kept per job (the oldest are dropped). */
export const MAX_HISTORY = 50;

/**
 * A job as read from ZooKeeper: its record plus the znode's version and zxids.
 * @typeParam D - the payload type
 * @typeParam R - the result type
 */
export interface Job<D = unknown, R = unknown> {
  /** The job id. */
  readonly id: string;
  /** The job type (the handler name). */
  readonly type: string;
  /** The payload. */
  readonly data: D;
  /** Options, after defaults. */
  readonly opts: NormalizedJobOptions;
  /** Current state. */
  readonly state: JobState;
  /** Number of attempts started so far. */
  readonly attemptsMade: number;
  /**
   * Attempts made before the operator's last retry ({@link Queue.retryJob}); `opts.attempts`
   * counts from here. Absent when never retried.
   */
  readonly attemptsBase?: number;
  /** Submit time, ms since the epoch (submitter's clock). */
  readonly createdAt: number;
  /** The attempt history, oldest first. */
  readonly history: readonly AttemptRecord[];
  /** The handler's return value, once completed. */
  readonly result?: R;
  /** The last error, once failed/dead (or the last failed attempt while retrying). */
  readonly error?: StoredError;
  /** When it reached its final state, ms since the epoch (writer's clock). */
  readonly finishedAt?: number;
  /** Refused completions and lost claims noted by stale holders, oldest first. */
  readonly notes?: readonly ClaimNote[];
  /**
   * The last progress a run reported (`ctx.progress(value)`), as read by `Queue.getJob`; kept
   * after the job finished, deleted with its record.
   */
  readonly progress?: unknown;
  /** The record znode's data version (fencing tokens are versions of this znode). */
  readonly version: number;
  /** zxid of the record's last write, as a decimal string. */
  readonly zxid: string;
}

/**
 * A job as returned by {@link Queue.add} and {@link Queue.addBulk}: the stored job, and whether
 * this call created it (`false`: its `jobId` existed already and nothing was written).
 * @typeParam D - the payload type
 */
export type SubmittedJob<D = unknown> = Job<D> & {
  /** True when this call wrote the job; false when an existing job with the same `jobId` was returned. */
  readonly created: boolean;
};

/**
 * The claim a {@link Worker} event is about: its fencing token, attempt number, and the holder's
 * registration and session.
 */
export interface EventClaim {
  /** The claim's fencing token. */
  token: number;
  /** The 1-based attempt number of the claim. */
  attempt: number;
  /** The holder's znode name (`w-…`). */
  worker: string;
  /** The session the claim was made in, hex. */
  session: string;
}
