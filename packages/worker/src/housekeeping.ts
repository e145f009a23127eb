/**
 * Housekeeping on the producer side, as BullMQ's `Job.retry`, `Queue.remove`, `Queue.clean` and
 * `Queue.obliterate`: an operator's retry of a failed or dead job, the removal of jobs that are
 * not running, the removal of old finished jobs, and the deletion of a whole namespace. The
 * `Queue` methods of the same names call these.
 *
 * Writes carry no leader fence (the Queue is no worker): each record write is guarded by the
 * version the Queue read (`ops.retryOps`, `ops.removeOps`), so a concurrent change — a claim, a
 * completion, a cancel, another operator — makes the multi fail as a whole; it is then read and
 * decided again.
 */
import { hostname } from 'node:os';
import {
  BadVersionError,
  NoNodeError,
  NodeExistsError,
  NotEmptyError,
  TransactionError,
  type ZkClient,
} from '@zkjobs/core';
import type { Logger } from 'pino';
import { deleteTreeOps, removeOps, retryOps, type RemoveItem } from './engine/ops.js';
import { readRecord, toJob, type ReadRecord } from './engine/record.js';
import { isLegal, isRemovable, operatorRetry, retryEntry } from './engine/transitions.js';
import { JobNotFoundError, JobStateError, JobValidationError, LiveWorkersError } from './errors.js';
import { isFinalState, JOB_STATES, type Job, type JobRecord, type JobState } from './job.js';
import { BUCKET_NAMES, CLOCK, JOBS, WORKERS, gangTaskId, isWorkerNode, logsPath, progressPath } from './layout.js';
import { LOG } from './log-events.js';
import { mapLimit } from './util.js';

/** How often a request is read and tried again after a concurrent change made its multi fail. */
const MAX_TRIES = 20;
/** Records read at a time by {@link clean} (one bucket's listing is read a page at a time). */
const CLEAN_PAGE = 200;
/** Records deleted per multi by {@link clean}. */
const CLEAN_MULTI = 100;
/** Znodes deleted per multi by {@link obliterate}. */
const OBLITERATE_MULTI = 500;

/** True when a multi failed because a record changed or went since it was read. */
function isConflict(err: unknown): boolean {
  return (
    err instanceof TransactionError &&
    (err.code === BadVersionError.CODE || err.code === NoNodeError.CODE || err.code === NodeExistsError.CODE)
  );
}

// ----- retry ----------------------------------------------------------------------------------

/** Why a state cannot be retried. */
function notRetryable(rec: JobRecord): string | null {
  if (rec.gang || rec.opts.parallelism > 1) return 'a gang job runs once (submit it again)';
  if (isLegal(rec.state, 'operatorRetry')) return null;
  switch (rec.state) {
    case 'completed':
      return 'a completion is recorded once (submit a new job to run it again)';
    case 'cancelled':
      return 'a cancel is final (submit the job again)';
    default:
      return 'only failed and dead jobs can be retried (it has not finished)';
  }
}

/**
 * Runs a failed or dead job again with a fresh budget of `opts.attempts` (see
 * `Queue.retryJob`).
 * @throws JobNotFoundError; JobStateError for any other state, or a gang job
 */
export async function retryJob(client: ZkClient, jobId: string, log: Logger): Promise<Job> {
  const by = { process: `${hostname()}:${process.pid}`, session: client.sessionIdHex };
  for (let tries = 0; ; tries++) {
    const found = await readRecord(client, jobId);
    if (!found) throw new JobNotFoundError(jobId);
    const { rec, stat } = found;
    const why = notRetryable(rec);
    if (why) throw new JobStateError(jobId, rec.state, 'retry', why);
    const next = operatorRetry(rec, by, stat.version, Date.now());
    try {
      const res = await retryOps(client, { next, version: stat.version, from: rec.state }, retryEntry(next)).commit();
      log.info({ jobId, previous: rec.state, attemptsMade: rec.attemptsMade }, LOG.retried);
      return toJob(next, stat.version + 1, res[0]?.stat?.mzxid.toString() ?? '');
    } catch (err) {
      if (!isConflict(err) || tries >= MAX_TRIES) throw err;
    }
  }
}

// ----- remove ---------------------------------------------------------------------------------

/**
 * The items that remove `found` (a gang's task records with their parent), each with its stored
 * progress and logs when those znodes exist.
 * @throws JobStateError when the job (or one of its gang's tasks) is active, or `found` is a gang task
 */
async function removeItems(client: ZkClient, found: ReadRecord): Promise<RemoveItem[]> {
  const { rec } = found;
  if (rec.gang) {
    throw new JobStateError(rec.id, rec.state, 'remove', `it is a task of gang job ${rec.gang.parent}: remove that`);
  }
  if (!isRemovable(rec.state)) {
    throw new JobStateError(rec.id, rec.state, 'remove', 'a running job cannot be removed (cancel it first)');
  }
  const records: ReadRecord[] = [found];
  if (rec.opts.parallelism > 1) {
    const tasks = await mapLimit(
      Array.from({ length: rec.opts.parallelism }, (_, i) => gangTaskId(rec.id, i)),
      16,
      (id) => readRecord(client, id),
    );
    for (const t of tasks) {
      if (!t) continue;
      if (!isRemovable(t.rec.state)) {
        throw new JobStateError(rec.id, rec.state, 'remove', `its task ${t.rec.id} is ${t.rec.state}`);
      }
      records.push(t);
    }
  }
  return mapLimit(records, 16, async (r) => ({
    rec: r.rec,
    version: r.stat.version,
    ...((await client.exists(progressPath(r.rec.id))) !== null ? { progress: true } : {}),
    ...((await client.exists(logsPath(r.rec.id))) !== null ? { logs: true } : {}),
  }));
}

/**
 * Removes a job that is not active (see `Queue.remove`).
 * @returns false when there is no such job
 * @throws JobStateError for an active job or a gang task
 */
export async function removeJob(client: ZkClient, jobId: string, log: Logger): Promise<boolean> {
  for (let tries = 0; ; tries++) {
    const found = await readRecord(client, jobId);
    if (!found) return false;
    const items = await removeItems(client, found);
    try {
      await removeOps(client, items).commit();
      log.info({ jobId, state: found.rec.state }, LOG.removed);
      return true;
    } catch (err) {
      if (!isConflict(err) || tries >= MAX_TRIES) throw err;
    }
  }
}

// ----- clean ----------------------------------------------------------------------------------

/** The final states {@link clean} takes. */
export const CLEAN_STATES: readonly JobState[] = JOB_STATES.filter(isFinalState);

/** Validates the arguments of {@link clean}. @throws JobValidationError naming the argument */
export function checkCleanArgs(state: unknown, olderThanMs: unknown, limit: unknown): void {
  if (typeof state !== 'string' || !CLEAN_STATES.includes(state as JobState)) {
    throw new JobValidationError('state', `must be one of ${CLEAN_STATES.join(', ')}; got ${JSON.stringify(state)}`);
  }
  if (typeof olderThanMs !== 'number' || !Number.isSafeInteger(olderThanMs) || olderThanMs < 0) {
    throw new JobValidationError('olderThanMs', `must be an integer ≥ 0 (ms); got ${String(olderThanMs)}`);
  }
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1)) {
    throw new JobValidationError('limit', `must be an integer ≥ 1; got ${String(limit)}`);
  }
}

/** ZooKeeper's clock now: the mtime of a write to `clock` (the leader's clock znode; its data is not read). */
async function serverNow(client: ZkClient): Promise<number> {
  const stat = await client.setData(CLOCK, `${hostname()}:${process.pid}`);
  return stat.mtime;
}

/**
 * Removes up to `limit` jobs in final `state` whose record was last written more than
 * `olderThanMs` ago on ZooKeeper's clock (see `Queue.clean`).
 * @returns the ids removed
 */
export async function clean(
  client: ZkClient,
  state: JobState,
  olderThanMs: number,
  limit: number,
  log: Logger,
): Promise<string[]> {
  const cutoff = (await serverNow(client)) - olderThanMs;
  const removed: string[] = [];
  for (const b of BUCKET_NAMES) {
    if (removed.length >= limit) break;
    let children: string[];
    try {
      ({ children } = await client.getChildren(`${JOBS}/${b}`));
    } catch (err) {
      if (err instanceof NoNodeError) continue;
      throw err;
    }
    for (let i = 0; i < children.length && removed.length < limit; i += CLEAN_PAGE) {
      const page = await mapLimit(children.slice(i, i + CLEAN_PAGE), 32, async (id) => {
        try {
          return await readRecord(client, id);
        } catch {
          return null; // a corrupt record is an operator's to look at, never cleaned
        }
      });
      const due = page.filter(
        (f): f is ReadRecord => f !== null && !f.rec.gang && f.rec.state === state && f.stat.mtime < cutoff,
      );
      const picked = due.slice(0, limit - removed.length);
      for (let k = 0; k < picked.length; k += CLEAN_MULTI) {
        removed.push(...(await removeBatch(client, picked.slice(k, k + CLEAN_MULTI))));
      }
    }
  }
  if (removed.length > 0) log.info({ state, olderThanMs, jobs: removed.length }, LOG.cleaned);
  return removed;
}

/** Removes `batch` in one multi, or one by one when something changed meanwhile; the ids removed. */
async function removeBatch(client: ZkClient, batch: readonly ReadRecord[]): Promise<string[]> {
  const prepared = await mapLimit(batch, 16, async (f) => {
    try {
      return { id: f.rec.id, items: await removeItems(client, f) };
    } catch (err) {
      if (err instanceof JobStateError) return null;
      throw err;
    }
  });
  const ok = prepared.filter((p): p is { id: string; items: RemoveItem[] } => p !== null);
  if (ok.length === 0) return [];
  try {
    await removeOps(
      client,
      ok.flatMap((p) => p.items),
    ).commit();
    return ok.map((p) => p.id);
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  const out: string[] = [];
  for (const p of ok) {
    try {
      await removeOps(client, p.items).commit();
      out.push(p.id);
    } catch (err) {
      if (!isConflict(err)) throw err; // changed meanwhile (a retry, a note): left alone
    }
  }
  return out;
}

// ----- obliterate -----------------------------------------------------------------------------

/**
 * Deletes the namespace `namespace` and everything under it, children before parents, in
 * multis of at most {@link OBLITERATE_MULTI} deletes (see `Queue.obliterate`).
 * @param root - a client whose paths are not under the namespace (`namespace` is absolute to it)
 * @returns how many znodes were deleted
 * @throws LiveWorkersError when `workers/` holds a live worker's znode and `force` is not set
 */
export async function obliterate(root: ZkClient, namespace: string, force: boolean, log: Logger): Promise<number> {
  if (!force) {
    let workers: string[] = [];
    try {
      workers = (await root.getChildren(`${namespace}${WORKERS}`)).children.filter(isWorkerNode).sort();
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
    }
    if (workers.length > 0) throw new LiveWorkersError(namespace, workers);
  }
  if ((await root.exists(namespace)) === null) return 0;
  const batch: string[] = [];
  let deleted = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const paths = batch.splice(0, batch.length);
    try {
      await deleteTreeOps(root, paths).commit();
      deleted += paths.length;
    } catch (err) {
      if (!(err instanceof TransactionError)) throw err;
      // Something changed under a listed znode (a concurrent writer): one by one, again from
      // the listing for a znode that gained children.
      for (const p of paths) deleted += await deleteOne(p);
    }
  };
  const deleteOne = async (p: string): Promise<number> => {
    let n = 0;
    for (let tries = 0; ; tries++) {
      try {
        await root.delete(p);
        return n + 1;
      } catch (err) {
        if (err instanceof NoNodeError) return n;
        if (!(err instanceof NotEmptyError) || tries >= MAX_TRIES) throw err;
        const { children } = await root.getChildren(p).catch(() => ({ children: [] as string[] }));
        for (const c of children) n += await deleteOne(`${p}/${c}`);
      }
    }
  };
  // Depth first, children before their parent; a listing is held only while its subtree is walked.
  const walk = async (p: string): Promise<void> => {
    let children: string[];
    try {
      ({ children } = await root.getChildren(p));
    } catch (err) {
      if (err instanceof NoNodeError) return;
      throw err;
    }
    for (const c of children) await walk(`${p}/${c}`);
    batch.push(p);
    if (batch.length >= OBLITERATE_MULTI) await flush();
  };
  await walk(namespace);
  await flush();
  log.info({ namespace, znodes: deleted, force }, LOG.obliterated);
  return deleted;
}
