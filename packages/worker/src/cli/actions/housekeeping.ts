/** `zkjobs job retry|rm|clean` and `zkjobs queue obliterate`: the Queue's housekeeping from the command line. */
import { JobNotFoundError, JobStateError, JobValidationError, LiveWorkersError, type JobState } from '../../index.js';
import { Output, type GlobalOptions } from '../context.js';
import { OperationError, UsageError } from '../errors.js';
import { checkJobId, withQueue } from '../jobs-common.js';

/** A refusal of the engine, said as a failed operation (exit 1) without its class name. */
function refused(err: unknown, namespace: string, id?: string): unknown {
  if (err instanceof JobNotFoundError)
    return new OperationError(`no job ${id ?? err.jobId} in ${namespace}`, { cause: err });
  if (err instanceof JobStateError || err instanceof LiveWorkersError)
    return new OperationError(err.message, { cause: err });
  return err;
}

/** `zkjobs job retry <id>`. */
export async function retryJob(g: GlobalOptions, id: string): Promise<void> {
  checkJobId(id);
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const before = await queue.getJob(id);
      if (!before) throw new OperationError(`no job ${id} in ${namespace}`);
      const job = await queue.retryJob(id).catch((e: unknown) => Promise.reject(refused(e, namespace, id)));
      new Output(g.json).result(
        { id, retried: true, previousState: before.state, state: job.state, attemptsBase: job.attemptsBase ?? 0 },
        `retried job ${id} (was ${before.state}; a fresh budget of ${job.opts.attempts} attempt(s))`,
      );
    },
    { existing: true },
  );
}

/** `zkjobs job rm <id>`. */
export async function removeJob(g: GlobalOptions, id: string): Promise<void> {
  checkJobId(id);
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const before = await queue.getJob(id);
      if (!before) throw new OperationError(`no job ${id} in ${namespace}`);
      const removed = await queue.remove(id).catch((e: unknown) => Promise.reject(refused(e, namespace, id)));
      if (!removed) throw new OperationError(`no job ${id} in ${namespace}`);
      new Output(g.json).result(
        { id, removed: true, previousState: before.state },
        `removed job ${id} (was ${before.state})`,
      );
    },
    { existing: true },
  );
}

/** `zkjobs job clean <state> --older-than <ms> [--limit N]`. */
export async function cleanJobs(
  g: GlobalOptions,
  state: JobState,
  opts: { olderThan: number; limit?: number },
): Promise<void> {
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const ids = await queue.clean(state, opts.olderThan, opts.limit).catch((e: unknown) => {
        if (e instanceof JobValidationError) {
          const opt = e.field === 'olderThanMs' ? '--older-than' : e.field === 'limit' ? '--limit' : '<state>';
          return Promise.reject(new UsageError(`${opt}: ${e.message.slice(e.field.length + 2)}`, { cause: e }));
        }
        return Promise.reject(e);
      });
      new Output(g.json).result(
        { namespace, state, olderThanMs: opts.olderThan, removed: ids.length, ids },
        `removed ${ids.length} ${state} job(s) finished more than ${opts.olderThan} ms ago from ${namespace}` +
          (ids.length > 0 ? `:\n${ids.join('\n')}` : ''),
      );
    },
    { existing: true },
  );
}

/** `zkjobs queue obliterate [--force] --yes`. */
export async function obliterateQueue(g: GlobalOptions, opts: { force: boolean; yes: boolean }): Promise<void> {
  if (!opts.yes) {
    throw new UsageError('obliterate deletes every job, schedule and control of the namespace: pass --yes to confirm');
  }
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const deleted = await queue
        .obliterate({ force: opts.force })
        .catch((e: unknown) => Promise.reject(refused(e, namespace)));
      new Output(g.json).result(
        { namespace, obliterated: true, znodes: deleted, force: opts.force },
        `obliterated ${namespace} (${deleted} znodes deleted)`,
      );
    },
    { existing: true },
  );
}
