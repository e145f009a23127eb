/**
 * The handler API: what a job's processor is given and what it returns. Public (exported from
 * the package's index).
 */
import { UnrecoverableError } from './errors.js';
import type { Job } from './job.js';
import { unfaithfulJson } from './json-value.js';

/** What a processor gets besides the job. */
export interface ProcessorContext {
  /**
   * The claim's fencing token: larger for every later claim of the same job. Pass it to external
   * systems so they can reject writes from a stale holder.
   */
  token: number;
  /**
   * Aborted on timeout ({@link JobTimeoutError}), cancel ({@link JobCancelledError}), lost claim
   * ({@link LostClaimError}) or shutdown after the grace period ({@link WorkerClosingError}).
   */
  signal: AbortSignal;
  /**
   * Reports progress: emitted as the Worker's `progress` event at once and stored in
   * `progress/<bucket>/<id>` (readable as `Queue.getJob(id).progress`; the latest value wins,
   * writes in flight are coalesced). A separate znode, fenced by the holder's registration: it
   * never moves the record's fencing token. Calls after the handler returned are ignored.
   * @param value - JSON-serialisable, at most 64 KiB as JSON
   * @returns resolves when the value is stored (or dropped: the claim is gone)
   * @throws JobValidationError on field `progress` for a value that is not JSON or too big
   */
  progress(value: unknown): Promise<void>;
  /**
   * Appends a line to the job's stored logs, `logs/<bucket>/<id>` (BullMQ's `job.log`; readable
   * from any process as `Queue.getJobLogs(id)`), with the time (ms since the epoch, the worker's
   * clock), attempt and token. A separate znode, fenced by the holder's registration: it never
   * moves the record's fencing token, and a holder whose session is gone writes nothing. Writes
   * are serialised: lines logged while one is in flight go in the next, in order. Lines of all
   * attempts are kept, at most the Worker's `keepLogs` (default 100) and 512 KiB in all: the
   * oldest are dropped and counted (`dropped`). Calls after the handler returned are ignored;
   * the lines before are stored before the outcome is written.
   * @param line - a string of at most 8 KiB (UTF-8)
   * @returns resolves when the line is stored (or dropped: the claim is gone)
   * @throws JobValidationError on field `log` (as a rejection) for a line that is not a string or
   *   is over 8 KiB: nothing of it is stored
   */
  log(line: string): Promise<void>;
  /** 1-based attempt number. */
  attempt: number;
  /** The worker's znode name (`w-NNNNNNNNNN`). */
  worker: string;
  /** The worker's session id, hex. */
  session: string;
  /** For a task of a gang job: its index (0-based), the gang's size and the parent job's id. */
  gang?: { index: number; size: number; parent: string };
}

/**
 * A job handler. Its return value is stored as the job's result, as JSON, exactly as returned:
 * a result that JSON would store as something else (`NaN`, a `Date`, a `Map`, `undefined` inside
 * it, a cycle, a BigInt, …) or whose JSON is over {@link MAX_RESULT_BYTES} (256 KiB) fails the
 * attempt as an {@link UnrecoverableError} saying why. A throw fails the attempt
 * ({@link UnrecoverableError}: no more attempts).
 * @typeParam D - the payload type
 * @typeParam R - the result type
 */
export type Processor<D = any, R = any> = (job: Job<D>, ctx: ProcessorContext) => Promise<R> | R; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The largest result a handler may return, in bytes of JSON (256 KiB). */
export const MAX_RESULT_BYTES = 262_144;

/**
 * Checks a handler's result for the record: returned as it is when JSON stores it faithfully and
 * within {@link MAX_RESULT_BYTES}.
 * @throws UnrecoverableError naming what JSON would change (`result.at is a Date, …`) or the
 *   result's size over the cap: the attempt fails at once with that reason, and nothing is changed
 *   silently
 */
export function storableResult(result: unknown): unknown {
  if (result === undefined) return undefined;
  const problem = unfaithfulJson(result, 'result');
  if (problem) throw new UnrecoverableError(`the handler's result cannot be stored as it is: ${problem}`);
  const bytes = Buffer.byteLength(JSON.stringify(result));
  if (bytes > MAX_RESULT_BYTES) {
    throw new UnrecoverableError(
      `the handler's result is ${bytes} bytes as JSON, over the cap of ${MAX_RESULT_BYTES} bytes`,
    );
  }
  return result;
}
