/**
 * One JSON vocabulary for the job commands (`job submit|list|status|explain|wait --json`) and the
 * dashboard's API:
 *
 * - `attemptsMade`: attempts started so far (a number);
 * - `maxAttempts`: attempts the job may have (its `attempts` option; after an operator's retry,
 *   counted from `attemptsBase`, the attempts made before it);
 * - `attempts`: the attempt records, oldest first (an array; `why` on each after the first says
 *   why it ran again) — only where the records are shown (`status`, `explain`, a job's page).
 *
 * Inside `opts` (`job status`), the submitted options keep their own names (`opts.attempts`).
 */
import { isClaimEntry, type AttemptRecord, type Job } from '../job.js';

/** A job in a list (`job list`, `job submit --json`, the dashboard's lists). */
export interface JobSummaryJson {
  id: string;
  type: string;
  state: Job['state'];
  attemptsMade: number;
  maxAttempts: number;
  priority: number;
  /** Submit time, ms since the epoch (the submitter's clock). */
  createdAt: number;
  /** When it reached its final state, ms since the epoch (the writer's clock). */
  finishedAt?: number;
}

/** An attempt record, with why it ran when it was not the first. */
export type AttemptJson = AttemptRecord & { why?: string };

/** Why attempt `next` happened, from the attempt before it. */
export function whyAgain(prev: AttemptRecord, maxAttempts: number): string {
  const n = prev.attempt;
  const err = prev.error ? `: ${prev.error}` : '';
  switch (prev.outcome) {
    case 'retrying':
    case 'failed':
      return `attempt ${n} failed${err}; retried (attempts ${maxAttempts})`;
    case 'requeued':
      return `attempt ${n}'s worker ${prev.worker} (session ${prev.session}) was gone; requeued by leader ${prev.by ?? '?'}${err}`;
    case 'released':
      return `attempt ${n} was released by ${prev.worker}${err || ' (shutdown)'}; run again`;
    case 'retried':
      return `retried by the operator (${prev.process}, session ${prev.session}) after attempt ${n}${err}; a fresh budget of ${maxAttempts} attempt(s)`;
    case 'running':
      return `attempt ${n} never recorded an end (its claim by ${prev.worker}, token ${prev.token}, was lost); claimed again`;
    default:
      return `attempt ${n} ended ${prev.outcome}${err}; run again`;
  }
}

/** The summary of a job. */
export function jobSummaryJson(job: Job): JobSummaryJson {
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts.attempts,
    priority: job.opts.priority,
    createdAt: job.createdAt,
    ...(job.finishedAt !== undefined ? { finishedAt: job.finishedAt } : {}),
  };
}

/** A job's attempt records, each after the first with its `why`. */
export function attemptsJson(job: Job): AttemptJson[] {
  return job.history.map((a, i) => {
    const prev = i > 0 ? job.history[i - 1] : undefined;
    // An operator's retry is no run: it has no why of its own, it is the why of the next run.
    return prev && isClaimEntry(a) ? { ...a, why: whyAgain(prev, job.opts.attempts) } : { ...a };
  });
}

/** `job status --json`: the job's fields, `maxAttempts`, and its records as `attempts` (not `history`). */
export function jobStatusJson(job: Job): Record<string, unknown> {
  const { history: _history, ...fields } = job;
  return { ...fields, maxAttempts: job.opts.attempts, attempts: attemptsJson(job) };
}

/** `job explain --json`. */
export function jobExplainJson(job: Job): Record<string, unknown> {
  return {
    id: job.id,
    type: job.type,
    state: job.state,
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts.attempts,
    ...(job.attemptsBase !== undefined ? { attemptsBase: job.attemptsBase } : {}),
    ...(job.error ? { error: job.error } : {}),
    ...(job.result !== undefined ? { result: job.result } : {}),
    attempts: attemptsJson(job),
  };
}
