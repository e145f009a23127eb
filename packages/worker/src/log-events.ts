/**
 * The log messages of a job's state changes. `zkjobs verify` reads the engine's pino logs back as
 * history (`--history`), so a message is protocol, not prose: every writer and the reader take
 * it from here, and {@link HISTORY_MESSAGES} says which ones are history events and of what kind.
 * Each line also carries `jobId`, `attempt`, `token` (or `version`), `worker` and `session`.
 */

import type { JobState } from './job.js';

/** What a history event says happened. */
export type HistoryEventKind =
  /** A job was submitted (its id is expected in the tree from now on). */
  | 'submit'
  /** A worker claimed a job: `token` is the claim's fencing token. */
  | 'claim'
  /** A worker's completion of the claim `token` was recorded (accepted). */
  | 'complete'
  /** A failed attempt under `token` was recorded (retrying, failed or dead; by its worker, or by the leader when the worker was lost). */
  | 'fail'
  /** A worker tried to record the outcome of claim `token` and was refused (lost claim). */
  | 'refuse'
  /** A worker learnt that its claim `token` was lost (session lost, requeued, cancelled) and aborted the handler. */
  | 'stall'
  /** The leader requeued claim `token` (owner session gone). */
  | 'requeue'
  /** A handler ran an external side effect under claim `token` (an entry of a ledger). */
  | 'effect';

/** The messages of the engine's state-change log lines. */
export const LOG = {
  /** Submitted (debug level). */
  submitted: 'job submitted',
  /** Claimed: the handler starts. */
  active: 'job active',
  /** The completion was recorded. */
  completed: 'job completed',
  /** A failed attempt was recorded and another follows. */
  retrying: 'job failed: retrying',
  /** A failed attempt was recorded and it was the last: UnrecoverableError. */
  failed: 'job failed',
  /** A failed attempt was recorded and it was the last: attempts used up. */
  dead: 'job dead',
  /** Handed back at shutdown (no attempt counted against it). */
  released: 'job released (worker closing)',
  /** The holder's completing write failed its claim check. */
  refused: 'completion refused: lost claim',
  /** The holder learnt while the handler ran that its claim is gone. */
  stalled: 'claim lost: job stalled',
  /** The leader put a dead worker's job back to waiting. */
  requeued: 'job requeued',
  /** The leader ended a dead worker's job: its worker was lost on its last attempt. */
  lost: 'job dead: worker lost',
  /** Cancelled by `Queue.cancel`. */
  cancelled: 'job cancelled',
  /** Failed by the leader: a dependency ended failed, dead or cancelled. */
  dependencyFailed: 'job failed: dependency did not complete',
  /** Run again by `Queue.retryJob` (a fresh budget of attempts; not a history event: the record holds it). */
  retried: 'job retried by the operator',
  /** Deleted by `Queue.remove`. */
  removed: 'job removed',
  /** Finished jobs deleted by `Queue.clean`. */
  cleaned: 'finished jobs removed (clean)',
  /** A namespace deleted by `Queue.obliterate`. */
  obliterated: 'namespace obliterated',
} as const;

/** The log message of a recorded failed attempt, by the record's next state. */
export function failureMessage(state: JobState): string {
  return state === 'failed' ? LOG.failed : state === 'dead' ? LOG.dead : LOG.retrying;
}

/** The engine's log messages that are history events, and their kind. */
export const HISTORY_MESSAGES: Readonly<Record<string, HistoryEventKind>> = {
  [LOG.active]: 'claim',
  [LOG.completed]: 'complete',
  [LOG.retrying]: 'fail',
  [LOG.failed]: 'fail',
  [LOG.dead]: 'fail',
  [LOG.lost]: 'fail',
  [LOG.refused]: 'refuse',
  [LOG.stalled]: 'stall',
  [LOG.requeued]: 'requeue',
  [LOG.submitted]: 'submit',
};
