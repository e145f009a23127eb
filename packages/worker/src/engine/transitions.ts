/**
 * What can happen to a job: every change of a job record, as a pure function from the record
 * (and the event) to the next record. No I/O here: the actors read a record, call one of these,
 * and write the result with the multi that `ops.ts` builds for that change.
 *
 * | event              | from                      | to                     | written by                    |
 * | ------------------ | ------------------------- | ---------------------- | ----------------------------- |
 * | `submit`           | (none)                    | waiting, delayed       | Queue (submit multi); leader (a schedule's slot) |
 * | `claim`            | waiting, delayed          | active                 | consumer (claim multi)        |
 * | `complete`         | active                    | completed              | consumer (completion multi)   |
 * | `fail`             | active                    | failed                 | consumer: UnrecoverableError, or the worker's backoff strategy said fail now |
 * | `retry`            | active                    | waiting, delayed       | consumer: attempts left       |
 * | `dead`             | active                    | dead                   | consumer: attempts used up    |
 * | `release`          | active                    | waiting                | consumer: worker closing      |
 * | `requeue`          | waiting, delayed, active  | waiting                | leader: holder's session gone |
 * | `lost`             | active                    | dead                   | leader: holder's session gone, attempts used up |
 * | `cancel`           | waiting, delayed, active  | cancelled              | Queue.cancel                  |
 * | `dependencyFailed` | waiting, delayed          | failed                 | leader: a parent did not complete |
 * | `gangStart`        | waiting, delayed, active  | active                 | leader: a gang's tasks assigned |
 * | `gangFinish`       | waiting, delayed, active  | completed, failed      | leader: every task final      |
 * | `note`             | completed, failed, dead, cancelled | (unchanged)   | a stale holder's note         |
 * | `operatorRetry`    | failed, dead              | waiting                | Queue.retryJob: a fresh budget of attempts |
 *
 * What each change resets is decided here, once:
 * - leaving `active` (complete, fail, retry, dead, release, requeue, lost, cancel) clears `claim`
 *   and closes the claim's `running` attempt with the change's outcome;
 * - reaching a final state sets `finishedAt`; `fail`, `dead`, `lost`, `retry`, `dependencyFailed`
 *   and a failed gang set `error`; `complete` and a completed gang set `result`;
 * - `claim` counts the attempt (`attemptsMade + 1`), names the holder and its fencing token (the
 *   record's version after the claim's write), and appends a `running` attempt record. So a run
 *   whose holder is lost (its session ended: the process died, hung or was cut off) has used an
 *   attempt: the leader's `requeue` of it leaves `attemptsMade` as it is, and when no attempt is
 *   left it is `lost` instead (dead, `WorkerLostError` saying how often the worker was lost) — a
 *   handler that kills its process is not re-run forever.
 *
 * - `operatorRetry` keeps the history and `attemptsMade` (pending entries and assignments are
 *   checked against it, and fencing tokens keep increasing), sets `attemptsBase` to it — the
 *   budget of `opts.attempts` counts from there ({@link attemptsUsed}) — clears `error`, `result`
 *   and `finishedAt`, and appends a `retried` entry (no run) naming the operator.
 *
 * Deleting a record (Queue.remove, Queue.clean, retention) is no change of it: an operator may
 * delete it in every state but `active` ({@link isRemovable}).
 *
 * A change asked for from a state not in its row throws {@link IllegalTransitionError}: that is
 * an engine bug, never a race (races are settled by the version checks of the multis).
 */
import { IllegalTransitionError, UnrecoverableError, WorkerClosingError } from '../errors.js';
import {
  MAX_HISTORY,
  MAX_NOTES,
  isFinalState,
  type AttemptOutcome,
  type AttemptRecord,
  type ClaimNote,
  type JobRecord,
  type JobState,
  type NormalizedJobOptions,
} from '../job.js';
import { gangTaskId, type PendingEntry } from '../layout.js';
import { backoffDelay } from '../options.js';
import { storeError } from './record.js';

/** The changes of a job record; see the table in this module's header. */
export type TransitionEvent =
  | 'submit'
  | 'claim'
  | 'complete'
  | 'fail'
  | 'retry'
  | 'dead'
  | 'release'
  | 'requeue'
  | 'lost'
  | 'cancel'
  | 'dependencyFailed'
  | 'gangStart'
  | 'gangFinish'
  | 'note'
  | 'operatorRetry';

const WAITING: readonly JobState[] = ['waiting', 'delayed'];
const LIVE: readonly JobState[] = ['waiting', 'delayed', 'active'];
const FINAL: readonly JobState[] = ['completed', 'failed', 'dead', 'cancelled'];

/** The legal transitions: for each event, the states it may start from and those it may lead to. */
export const TRANSITIONS: Readonly<
  Record<TransitionEvent, { readonly from: readonly JobState[]; readonly to: readonly JobState[] }>
> = {
  submit: { from: [], to: WAITING },
  claim: { from: WAITING, to: ['active'] },
  complete: { from: ['active'], to: ['completed'] },
  fail: { from: ['active'], to: ['failed'] },
  retry: { from: ['active'], to: WAITING },
  dead: { from: ['active'], to: ['dead'] },
  release: { from: ['active'], to: ['waiting'] },
  requeue: { from: LIVE, to: ['waiting'] },
  lost: { from: ['active'], to: ['dead'] },
  cancel: { from: LIVE, to: ['cancelled'] },
  dependencyFailed: { from: WAITING, to: ['failed'] },
  gangStart: { from: LIVE, to: ['active'] },
  gangFinish: { from: LIVE, to: ['completed', 'failed'] },
  note: { from: FINAL, to: FINAL },
  operatorRetry: { from: ['failed', 'dead'], to: ['waiting'] },
};

/** True when `event` may be applied to a record in `state`. */
export function isLegal(state: JobState, event: TransitionEvent): boolean {
  return TRANSITIONS[event].from.includes(state);
}

function legal(rec: JobRecord, event: TransitionEvent): void {
  if (!isLegal(rec.state, event)) throw new IllegalTransitionError(rec.id, rec.state, event);
}

// ----- history --------------------------------------------------------------------------------

/** Appends an attempt record, keeping at most {@link MAX_HISTORY} (the oldest are dropped). */
export function pushHistory(history: readonly AttemptRecord[], entry: AttemptRecord): AttemptRecord[] {
  const h = [...history, entry];
  return h.length > MAX_HISTORY ? h.slice(h.length - MAX_HISTORY) : h;
}

/**
 * Closes the last `running` attempt (with fencing token `token`, when given) with an outcome;
 * a history without one is returned unchanged (copied).
 */
export function closeAttempt(
  history: readonly AttemptRecord[],
  token: number | undefined,
  patch: Pick<AttemptRecord, 'outcome'> & Partial<AttemptRecord>,
  now: number,
): AttemptRecord[] {
  const h = history.map((a) => ({ ...a }));
  for (let i = h.length - 1; i >= 0; i--) {
    const a = h[i]!;
    if (a.outcome === 'running' && (token === undefined || a.token === token)) {
      h[i] = { ...a, endedAt: now, ...patch };
      break;
    }
  }
  return h;
}

// ----- submit ---------------------------------------------------------------------------------

/** What {@link newRecord} needs: the validated job. */
export interface NewJob {
  id: string;
  type: string;
  data: unknown;
  opts: NormalizedJobOptions;
  /** Submit time, ms since the epoch (the submitter's clock). */
  now: number;
}

/** `submit`: a new record, `delayed` when it has a delay, else `waiting`. */
export function newRecord(job: NewJob): JobRecord {
  return {
    id: job.id,
    type: job.type,
    data: job.data,
    opts: job.opts,
    state: job.opts.delay > 0 ? 'delayed' : 'waiting',
    attemptsMade: 0,
    createdAt: job.now,
    history: [],
  };
}

/** The task records of a gang job (`opts.parallelism > 1`), written with the parent: `<id>~<index>`. */
export function gangTasks(parent: JobRecord): JobRecord[] {
  const size = parent.opts.parallelism;
  if (size <= 1) return [];
  return Array.from({ length: size }, (_, index) => ({
    ...parent,
    id: gangTaskId(parent.id, index),
    opts: { ...parent.opts, parallelism: 1 },
    gang: { parent: parent.id, index, size },
  }));
}

/** The pending entry of a just-submitted record: its delay, dependencies and gang size. */
export function submitEntry(rec: JobRecord): PendingEntry {
  const e = pendingEntry(rec, rec.opts.delay);
  if (rec.opts.dependsOn.length > 0) e.dependsOn = rec.opts.dependsOn;
  if (rec.opts.parallelism > 1) e.parallelism = rec.opts.parallelism;
  return e;
}

/** A pending entry for the record as it is (`attemptsMade` now), due `delay` ms after its marker's ctime. */
export function pendingEntry(rec: JobRecord, delay: number): PendingEntry {
  return { id: rec.id, type: rec.type, priority: rec.opts.priority, attemptsMade: rec.attemptsMade, delay };
}

// ----- claim ----------------------------------------------------------------------------------

/**
 * True when an assignment made at `assignedAttempts` still stands: the record is waiting or
 * delayed and has not been claimed since (an entry whose `attemptsMade` differs is stale).
 */
export function isClaimable(rec: JobRecord, assignedAttempts: number): boolean {
  return isLegal(rec.state, 'claim') && rec.attemptsMade === assignedAttempts;
}

/** The claimer of {@link claim}. */
export interface Claimer {
  /** Its registration znode's name (`w-…`). */
  worker: string;
  /** Its session id, hex. */
  session: string;
  /** `host:pid`. */
  process: string;
}

/**
 * `claim`: the record as written by the claim multi over `version`; the fencing token is
 * `version + 1`, the record's version after that write.
 */
export function claim(rec: JobRecord, by: Claimer, version: number, now: number): { next: JobRecord; token: number } {
  legal(rec, 'claim');
  const token = version + 1;
  const attempt = rec.attemptsMade + 1;
  return {
    token,
    next: {
      ...rec,
      state: 'active',
      attemptsMade: attempt,
      claim: { worker: by.worker, session: by.session, token },
      history: pushHistory(rec.history, {
        attempt,
        worker: by.worker,
        process: by.process,
        session: by.session,
        token,
        startedAt: now,
        outcome: 'running',
      }),
    },
  };
}

// ----- settle: the holder's outcome -----------------------------------------------------------

/** What a failed attempt's record adds when the worker's backoff strategy ended the job. */
export const STRATEGY_FAIL = "the worker's backoffStrategy made no more attempts";

/** How a handler run ended. */
export type RunOutcome = { kind: 'completed'; result: unknown } | { kind: 'failed'; error: unknown };

/** What the holder writes for an outcome (see {@link settle}). */
export interface Settlement {
  /** The change made. */
  event: 'complete' | 'fail' | 'retry' | 'dead' | 'release';
  /** The record to write (or, with `remove`, the last state of the one deleted). */
  next: JobRecord;
  /** The claim's attempt record's outcome. */
  outcome: AttemptOutcome;
  /** Delete the record instead of writing it (retention `true`). */
  remove: boolean;
  /** Retention by age: delete the record this many ms after the completing write. */
  keepFor?: number;
  /** A pending entry to write with it (retry, release): the job runs again. */
  retry?: PendingEntry;
}

/**
 * The holder's outcome of claim `token`: `complete`; on a failure `release` (the worker is
 * closing: no backoff, never dead), `fail` ({@link UnrecoverableError}, or `retryDelay` is
 * `'fail'`), `dead` (attempts used up) or `retry` (after `retryDelay` when given, else the
 * job's backoff; `delayed` when it is over 0 ms). Retention (`removeOnComplete` /
 * `removeOnFail`) decides `remove` and `keepFor` of final outcomes.
 * @param retryDelay - the worker's backoff strategy's answer for a retry, when it has one
 */
export function settle(
  rec: JobRecord,
  token: number,
  run: RunOutcome,
  now: number,
  retryDelay?: number | 'fail',
): Settlement {
  if (run.kind === 'completed') {
    legal(rec, 'complete');
    return withRetention(
      {
        event: 'complete',
        outcome: 'completed',
        remove: false,
        next: {
          ...rec,
          state: 'completed',
          claim: null,
          result: run.result,
          finishedAt: now,
          history: closeAttempt(rec.history, token, { outcome: 'completed' }, now),
        },
      },
      rec.opts.removeOnComplete,
    );
  }
  const err = run.error;
  const msg = err instanceof Error ? err.message : String(err);
  if (err instanceof WorkerClosingError) {
    legal(rec, 'release');
    return {
      event: 'release',
      outcome: 'released',
      remove: false,
      next: {
        ...rec,
        state: 'waiting',
        claim: null,
        history: closeAttempt(rec.history, token, { outcome: 'released', error: msg }, now),
      },
      retry: pendingEntry(rec, 0),
    };
  }
  const used = attemptsUsed(rec);
  const failNow = err instanceof UnrecoverableError || (retryDelay === 'fail' && used < rec.opts.attempts);
  if (failNow || used >= rec.opts.attempts) {
    const event = failNow ? 'fail' : 'dead';
    legal(rec, event);
    const state = event === 'fail' ? 'failed' : 'dead';
    return withRetention(
      {
        event,
        outcome: state,
        remove: false,
        next: {
          ...rec,
          state,
          claim: null,
          error: storeError(err),
          finishedAt: now,
          history: closeAttempt(
            rec.history,
            token,
            {
              outcome: state,
              error: failNow && !(err instanceof UnrecoverableError) ? `${msg} (${STRATEGY_FAIL})` : msg,
            },
            now,
          ),
        },
      },
      rec.opts.removeOnFail,
    );
  }
  legal(rec, 'retry');
  const delay = typeof retryDelay === 'number' ? retryDelay : backoffDelay(rec.opts.backoff, used);
  return {
    event: 'retry',
    outcome: 'retrying',
    remove: false,
    next: {
      ...rec,
      state: delay > 0 ? 'delayed' : 'waiting',
      claim: null,
      error: storeError(err),
      history: closeAttempt(rec.history, token, { outcome: 'retrying', error: msg }, now),
    },
    retry: pendingEntry(rec, delay),
  };
}

/** `remove` and `keepFor` of a final outcome; retention by count is read from the options by the multi (`ops.ts`). */
function withRetention(s: Settlement, retention: JobRecord['opts']['removeOnComplete']): Settlement {
  if (retention === true) s.remove = true;
  else if (typeof retention === 'object' && retention.age !== undefined) s.keepFor = retention.age;
  return s;
}

/** Attempts made within the current budget: since the operator's last retry ({@link operatorRetry}), else all. */
export function attemptsUsed(rec: Pick<JobRecord, 'attemptsMade' | 'attemptsBase'>): number {
  return rec.attemptsMade - (rec.attemptsBase ?? 0);
}

/**
 * True when the record shows that the holder's outcome `s` of claim `token` was applied: the
 * record is gone and `s` removed it, or the claim's attempt ended with `s`'s outcome and the
 * claim is no longer the record's current one. Tells "applied by a try whose reply was lost"
 * from "refused".
 */
export function isSettledBy(rec: JobRecord | null, token: number, s: Pick<Settlement, 'outcome' | 'remove'>): boolean {
  if (rec === null) return s.remove;
  const mine = rec.history.find((h) => h.token === token);
  return mine !== undefined && mine.outcome === s.outcome && rec.claim?.token !== token;
}

/** True when the record is active under the claim `token` made in `session` (a claim whose reply was lost was applied). */
export function isHeldBy(rec: JobRecord, session: string, token: number): boolean {
  return rec.state === 'active' && rec.claim?.session === session && rec.claim.token === token;
}

// ----- the leader's changes -------------------------------------------------------------------

/**
 * How a dead worker's assignment made at `assignedAttempts` stands: `unclaimed` (still waiting
 * for it), `claimed` (active under it), or null (moved on: claimed again, finished, …).
 */
export function requeueKind(rec: JobRecord, worker: string, assignedAttempts: number): 'unclaimed' | 'claimed' | null {
  if (isLegal(rec.state, 'claim') && rec.attemptsMade === assignedAttempts) return 'unclaimed';
  if (rec.state === 'active' && rec.claim?.worker === worker && rec.attemptsMade === assignedAttempts + 1) {
    return 'claimed';
  }
  return null;
}

/**
 * `requeue`: back to `waiting` because the holder's session is gone. A claimed job's attempt is
 * closed as `requeued` (`by` = the leader, `w-…@epoch`); an unclaimed one keeps its history.
 * The attempt stays counted (see {@link goneHolder} for a claimed job whose attempts are used up).
 */
export function requeue(rec: JobRecord, by: string, now: number): JobRecord {
  legal(rec, 'requeue');
  return {
    ...rec,
    state: 'waiting',
    claim: null,
    history:
      rec.state === 'active'
        ? closeAttempt(rec.history, rec.claim?.token, { outcome: 'requeued', error: OWNER_GONE, by }, now)
        : rec.history,
  };
}

/** The reason a gone holder's attempt records. */
export const OWNER_GONE = 'owner session gone';

/** The stored error's name of a job that ended dead because its worker was lost once too often. */
export const WORKER_LOST_ERROR = 'WorkerLostError';

/** How many of the record's attempts ended because their worker was lost (requeued or lost). */
export function workerLosses(history: readonly AttemptRecord[]): number {
  return history.filter((a) => a.outcome === 'requeued' || (a.outcome === 'dead' && a.by !== undefined)).length;
}

/** What the leader writes for a gone holder's job (see {@link goneHolder}). */
export interface GoneHolderChange {
  /** `requeue`: back to waiting; `lost`: attempts used up, dead. */
  event: 'requeue' | 'lost';
  next: JobRecord;
  /** Delete the record instead of writing it (`removeOnFail: true`). */
  remove: boolean;
  /** Retention by age of a `lost` record, ms. */
  keepFor?: number;
}

/**
 * The leader's change of a job whose holder's session is gone: a claimed job with attempts left,
 * or one never claimed, is `requeue`d; a claimed job that has used its last attempt is `lost`:
 * dead, its attempt closed as `dead` (`by` the leader), its error a {@link WORKER_LOST_ERROR}
 * saying how many times its worker was lost, retention by `removeOnFail`.
 */
export function goneHolder(rec: JobRecord, by: string, now: number): GoneHolderChange {
  if (rec.state !== 'active' || attemptsUsed(rec) < rec.opts.attempts) {
    return { event: 'requeue', next: requeue(rec, by, now), remove: false };
  }
  legal(rec, 'lost');
  const n = workerLosses(rec.history) + 1;
  const message =
    `its worker was lost ${n} time${n === 1 ? '' : 's'} while it ran (the holder's session ended); ` +
    `attempts (${rec.opts.attempts}) used up`;
  const s: Settlement = {
    event: 'dead',
    outcome: 'dead',
    remove: false,
    next: {
      ...rec,
      state: 'dead',
      claim: null,
      error: { name: WORKER_LOST_ERROR, message },
      finishedAt: now,
      history: closeAttempt(rec.history, rec.claim?.token, { outcome: 'dead', error: OWNER_GONE, by }, now),
    },
  };
  withRetention(s, rec.opts.removeOnFail);
  return {
    event: 'lost',
    next: s.next,
    remove: s.remove,
    ...(s.keepFor !== undefined ? { keepFor: s.keepFor } : {}),
  };
}

/**
 * What a record deleted by its own completion (`removeOnComplete: true`) last said, as far as a
 * waiter that saw it claimed can tell: completed, no claim; its result went with it. A view for
 * `waitUntilFinished`, never written.
 */
export function removedOnCompletion(rec: JobRecord): JobRecord {
  const { result: _result, ...rest } = rec;
  void _result;
  return { ...rest, state: 'completed', claim: null };
}

/** `cancel`: final; a running attempt is closed as `cancelled`. */
export function cancel(rec: JobRecord, now: number): JobRecord {
  legal(rec, 'cancel');
  return {
    ...rec,
    state: 'cancelled',
    finishedAt: now,
    claim: null,
    history:
      rec.state === 'active' ? closeAttempt(rec.history, rec.claim?.token, { outcome: 'cancelled' }, now) : rec.history,
  };
}

/** True when a blocked entry made at `entryAttempts` still stands for the record (not claimed or finished since). */
export function isDependantCurrent(rec: JobRecord, entryAttempts: number): boolean {
  return isLegal(rec.state, 'dependencyFailed') && rec.attemptsMade === entryAttempts;
}

/** `dependencyFailed`: failed, because parent `dep` ended `depState` (failed, dead or cancelled). */
export function failDependant(rec: JobRecord, dep: string, depState: string, now: number): JobRecord {
  legal(rec, 'dependencyFailed');
  return {
    ...rec,
    state: 'failed',
    finishedAt: now,
    error: { name: 'DependencyFailedError', message: `dependency ${dep} ended ${depState}` },
  };
}

/** `gangStart`: the gang parent is active while its tasks run. */
export function startGang(rec: JobRecord): JobRecord {
  legal(rec, 'gangStart');
  return { ...rec, state: 'active' };
}

/**
 * `gangFinish`: every task is final; the parent is completed (its result: the tasks' results, in
 * task order) when all completed, else failed naming the first task that did not.
 */
export function finishGang(rec: JobRecord, tasks: readonly JobRecord[], now: number): JobRecord {
  legal(rec, 'gangFinish');
  const failed = tasks.find((t) => t.state !== 'completed');
  if (failed) {
    return {
      ...rec,
      state: 'failed',
      finishedAt: now,
      error: {
        name: 'GangTaskFailedError',
        message: `task ${failed.id} ended ${failed.state}: ${failed.error?.message ?? ''}`,
      },
    };
  }
  return { ...rec, state: 'completed', finishedAt: now, result: tasks.map((t) => t.result) };
}

// ----- notes ----------------------------------------------------------------------------------

/** True when the record already holds this note (same token, kind and session). */
export function hasNote(rec: JobRecord, note: Pick<ClaimNote, 'token' | 'kind' | 'session'>): boolean {
  return rec.notes?.some((x) => x.token === note.token && x.kind === note.kind && x.session === note.session) ?? false;
}

/**
 * `note`: appends a stale holder's note, written over version `over` (kept: the last
 * {@link MAX_NOTES}). Only on a final record: on a live one the write would move the version the
 * current holder's claim or completion is checked against.
 */
export function addNote(rec: JobRecord, note: Omit<ClaimNote, 'over'>, over: number): JobRecord {
  legal(rec, 'note');
  const notes = [...(rec.notes ?? []), { ...note, over }];
  return { ...rec, notes: notes.slice(Math.max(0, notes.length - MAX_NOTES)) };
}

// ----- the operator ---------------------------------------------------------------------------

/** Who retried a job (see {@link operatorRetry}). */
export interface Operator {
  /** `host:pid` of the retrying process. */
  process: string;
  /** Its session id, hex. */
  session: string;
}

/** The `worker` of an operator's `retried` history entry. */
export const OPERATOR = 'operator';

/**
 * `operatorRetry`: a failed or dead job runs again with a fresh budget of `opts.attempts`. The
 * history keeps its attempts and gains a `retried` entry (`token` = `version + 1`, the record's
 * version after this write, so tokens keep increasing; `error` names the state it left).
 * @param version - the version the record was read at (the write goes over it)
 */
export function operatorRetry(rec: JobRecord, by: Operator, version: number, now: number): JobRecord {
  legal(rec, 'operatorRetry');
  const { error: _e, result: _r, finishedAt: _f, ...rest } = rec;
  void _e;
  void _r;
  void _f;
  return {
    ...rest,
    state: 'waiting',
    claim: null,
    attemptsBase: rec.attemptsMade,
    history: pushHistory(rec.history, {
      attempt: rec.attemptsMade,
      worker: OPERATOR,
      process: by.process,
      session: by.session,
      token: version + 1,
      startedAt: now,
      endedAt: now,
      outcome: 'retried',
      error: `retried by the operator from ${rec.state}`,
    }),
  };
}

/** The pending entry of a retried job: due now, no dependencies (the operator asked it to run). */
export function retryEntry(rec: JobRecord): PendingEntry {
  return pendingEntry(rec, 0);
}

/** The states in which an operator may delete a record: every state but `active` (a running job is cancelled first). */
export const REMOVABLE: readonly JobState[] = ['waiting', 'delayed', ...FINAL];

/** True when an operator may delete a record in `state` (see {@link REMOVABLE}). */
export function isRemovable(state: JobState): boolean {
  return REMOVABLE.includes(state);
}

/** True for the states a job never leaves (re-exported for the actors' guards). */
export { isFinalState };
