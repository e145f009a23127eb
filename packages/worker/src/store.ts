import type { Stat, ZkClient } from '@zkjobs/core';
import { NodeExistsError, NoNodeError } from '@zkjobs/core';
import type { Job, JobRecord } from './job.js';
import {
  BARRIERS,
  BUCKET_NAMES,
  CLOCK,
  GANGS,
  JOBS,
  LEADER,
  PENDING,
  QUEUE,
  RETENTION,
  WORKERS,
  jobPath,
} from './layout.js';

/** Parses a record znode into a {@link Job}. */
export function toJob<D = unknown, R = unknown>(rec: JobRecord, stat: Stat): Job<D, R> {
  return {
    id: rec.id,
    type: rec.type,
    data: rec.data as D,
    opts: rec.opts,
    state: rec.state,
    attemptsMade: rec.attemptsMade,
    createdAt: rec.createdAt,
    history: rec.history,
    ...(rec.result !== undefined ? { result: rec.result as R } : {}),
    ...(rec.error !== undefined ? { error: rec.error } : {}),
    ...(rec.finishedAt !== undefined ? { finishedAt: rec.finishedAt } : {}),
    ...(rec.notes !== undefined && rec.notes.length > 0 ? { notes: rec.notes } : {}),
    version: stat.version,
    zxid: stat.mzxid.toString(),
  };
}

export function parseRecord(data: Buffer): JobRecord {
  return JSON.parse(data.toString('utf8')) as JobRecord;
}

export function encodeRecord(rec: JobRecord): Buffer {
  return Buffer.from(JSON.stringify(rec));
}

/** Reads a record; null when it does not exist. */
export async function readRecord(client: ZkClient, id: string): Promise<{ rec: JobRecord; stat: Stat } | null> {
  try {
    const { data, stat } = await client.getData(jobPath(id));
    return { rec: parseRecord(data), stat };
  } catch (err) {
    if (err instanceof NoNodeError) return null;
    throw err;
  }
}

const ensured = new WeakMap<ZkClient, Promise<void>>();

/**
 * Creates the namespace's fixed tree (workers, queue, the 64 buckets of jobs/ and pending/) once
 * per client; concurrent and repeated calls share the work.
 */
export function ensureTree(client: ZkClient): Promise<void> {
  let p = ensured.get(client);
  if (!p) {
    p = (async () => {
      if ((await client.exists(`${RETENTION}/${BUCKET_NAMES[BUCKET_NAMES.length - 1]!}`)) !== null) return;
      const dirs = [WORKERS, QUEUE, JOBS, PENDING, LEADER, CLOCK, GANGS, BARRIERS, RETENTION];
      for (const b of BUCKET_NAMES) dirs.push(`${JOBS}/${b}`, `${PENDING}/${b}`, `${RETENTION}/${b}`);
      for (const d of dirs.slice(0, 9)) await createIfMissing(client, d);
      await Promise.all(dirs.slice(9).map((d) => createIfMissing(client, d)));
    })();
    ensured.set(client, p);
    p.catch(() => ensured.delete(client));
  }
  return p;
}

async function createIfMissing(client: ZkClient, path: string): Promise<void> {
  try {
    await client.create(path, { parents: true });
  } catch (err) {
    if (!(err instanceof NodeExistsError)) throw err;
  }
}

/** Runs `fn` over `items` with at most `limit` in flight, preserving result order. */
export async function mapLimit<T, U>(
  items: readonly T[],
  limit: number,
  fn: (t: T, i: number) => Promise<U>,
): Promise<U[]> {
  const out = new Array<U>(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}
