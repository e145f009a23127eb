/**
 * Shared by the job commands: opening a {@link Queue} on the CLI's connection, turning the
 * engine's validation errors into messages that name the command-line option, and waiting for
 * many jobs with progress.
 */
import type { Logger } from 'pino';
import type { ZkClient } from '@zkjobs/core';
import {
  JOB_ID_RE,
  JOB_STATES,
  JobFailedError,
  JobNotFoundError,
  JobValidationError,
  Queue,
  WaitTimeoutError,
  type Job,
  type JobState,
  type StoredError,
} from '../index.js';
import { cliLogger, connectZk, jobNamespace, progressBar, requireCluster, type GlobalOptions } from './context.js';
import { UsageError } from './errors.js';

/** A Queue on its own connection; `close()` closes both. */
export interface CliQueue {
  queue: Queue;
  /** The root (un-namespaced) client. */
  client: ZkClient;
  /** The client under `--namespace`. */
  ns: ZkClient;
  namespace: string;
  log: Logger;
  close(): Promise<void>;
}

/** Options of {@link openQueue}. */
export interface OpenQueueOptions {
  /** Job types live workers handle (see `Queue`'s `knownTypes`). */
  knownTypes?: string[];
  /**
   * The command only reads (or changes existing jobs): fail with `no zkjobs cluster at <ns>`
   * unless the namespace holds one, before anything could create its tree.
   * @defaultValue false
   */
  existing?: boolean;
}

/** Connects and opens a Queue under `--namespace`. */
export async function openQueue(g: GlobalOptions, opts: OpenQueueOptions = {}): Promise<CliQueue> {
  const namespace = jobNamespace(g);
  const log = await cliLogger(g, 'warn');
  const client = await connectZk(g, { logger: log });
  if (opts.existing) {
    try {
      await requireCluster(client, namespace);
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    }
  }
  const queue = new Queue(client, {
    namespace,
    logger: log,
    ...(opts.knownTypes ? { knownTypes: opts.knownTypes } : {}),
  });
  return {
    queue,
    client,
    ns: client.usingNamespace(namespace),
    namespace,
    log,
    close: async () => {
      await queue.close().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

/** Runs `fn` with a Queue and closes it whatever happens. */
export async function withQueue<T>(
  g: GlobalOptions,
  fn: (q: CliQueue) => Promise<T>,
  opts: OpenQueueOptions = {},
): Promise<T> {
  const q = await openQueue(g, opts);
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

const OPTION_OF_FIELD: Record<string, string> = {
  data: '--data',
  type: '<type>',
  'opts.jobId': '--id',
  'opts.priority': '--priority',
  'opts.delay': '--delay',
  'opts.attempts': '--attempts',
  'opts.backoff': '--backoff',
  'opts.timeout': '--timeout',
};

/** Rewrites a {@link JobValidationError} of a submit as a UsageError naming the CLI option. */
export function asSubmitUsageError(err: JobValidationError): UsageError {
  const field = err.field.replace(/^jobs\[\d+\]\./, '');
  const opt = Object.entries(OPTION_OF_FIELD).find(([f]) => field === f || field.startsWith(f + '.'))?.[1];
  const detail = err.message.slice(err.message.indexOf(': ') + 2);
  return new UsageError(`${opt ?? field}: ${detail}`, { cause: err });
}

/** Checks a job id given on the command line. @throws UsageError */
export function checkJobId(id: string): string {
  if (id === '.' || id === '..')
    throw new UsageError(`invalid job id ${JSON.stringify(id)}: '.' and '..' are not allowed`);
  if (!JOB_ID_RE.test(id))
    throw new UsageError(`invalid job id ${JSON.stringify(id)}: must be 1-128 characters of [A-Za-z0-9._:@-]`);
  return id;
}

/** How a waited-for job ended. */
export interface WaitOutcome {
  id: string;
  /** The final state; `timeout` when the wait gave up, `not-found` when there is no such job. */
  state: JobState | 'timeout' | 'not-found';
  type?: string;
  attemptsMade?: number;
  result?: unknown;
  error?: StoredError | { name: string; message: string };
}

/** True when every outcome is `completed`. */
export function allCompleted(outcomes: readonly WaitOutcome[]): boolean {
  return outcomes.every((o) => o.state === 'completed');
}

function fromJob(job: Job): WaitOutcome {
  const o: WaitOutcome = { id: job.id, state: job.state, type: job.type, attemptsMade: job.attemptsMade };
  if (job.result !== undefined) o.result = job.result;
  if (job.error !== undefined && job.state !== 'completed')
    o.error = { name: job.error.name, message: job.error.message };
  return o;
}

/**
 * Waits for jobs to reach a final state (a data watch per job, no polling), with a progress bar
 * on a terminal.
 * @param timeoutMs - give up on each job after this many ms (its outcome is then `timeout`)
 */
export async function waitForJobs(
  queue: Queue,
  ids: readonly string[],
  opts: { timeoutMs?: number; json: boolean; onDone?: (o: WaitOutcome) => void },
): Promise<WaitOutcome[]> {
  (await queue.client()).setMaxListeners(0); // one re-arming watch per job
  const bar = await progressBar(ids.length, 'finished', opts.json);
  try {
    return await Promise.all(
      ids.map(async (id): Promise<WaitOutcome> => {
        let outcome: WaitOutcome;
        try {
          const job = await queue.waitUntilFinished(
            id,
            opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {},
          );
          outcome = fromJob(job);
        } catch (err) {
          if (err instanceof JobNotFoundError) outcome = { id, state: 'not-found' };
          else if (err instanceof JobFailedError || err instanceof WaitTimeoutError) {
            const job = await queue.getJob(id);
            outcome = job ? fromJob(job) : { id, state: 'not-found' };
            if (err instanceof WaitTimeoutError) {
              outcome = {
                ...outcome,
                state: 'timeout',
                error: { name: err.name, message: `${err.message} (state ${job?.state ?? 'gone'})` },
              };
            }
          } else throw err;
        }
        bar.increment();
        opts.onDone?.(outcome);
        return outcome;
      }),
    );
  } finally {
    bar.stop();
  }
}

/** Width of the state column of {@link outcomeLine}: the longest state's (`completed`, `cancelled`). */
const STATE_WIDTH = Math.max(...JOB_STATES.map((s) => s.length));

/**
 * One human line for a finished (or given up) job: id, state, attempts, result or error, two
 * spaces apart; the id padded to `idWidth` and the state to the longest state's width, so the
 * lines of one command line up.
 */
export function outcomeLine(o: WaitOutcome, idWidth = 0): string {
  const rest: string[] = [];
  if (o.attemptsMade !== undefined) rest.push(`attempts ${o.attemptsMade}`);
  if (o.state === 'completed') rest.push(`result ${JSON.stringify(o.result ?? null)}`);
  else if (o.error) rest.push(`error ${o.error.message}`);
  // No padding after the last column.
  const state = rest.length > 0 ? o.state.padEnd(STATE_WIDTH) : o.state;
  return [o.id.padEnd(idWidth), state, ...rest].join('  ');
}
