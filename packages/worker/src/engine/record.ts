/**
 * The job record's codec: the JSON document at `jobs/<bucket>/<jobId>`, read and written only
 * through here, and its public view {@link Job}.
 */
import type { ReadResult, Stat, ZkClient } from '@zkjobs/core';
import { NoNodeError, ReplyTooLargeError } from '@zkjobs/core';
import { CorruptRecordError } from '../errors.js';
import { JOB_STATES, type Job, type JobRecord, type StoredError } from '../job.js';
import { jobPath } from '../layout.js';

const STATES: ReadonlySet<string> = new Set(JOB_STATES);

/**
 * Parses a record znode's data.
 * @param path - the znode's path, for the error
 * @throws CorruptRecordError when the data is not JSON or lacks a record's fields
 */
export function parseRecord(data: Buffer, path = 'record'): JobRecord {
  let doc: unknown;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new CorruptRecordError(path, `not JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw new CorruptRecordError(path, 'not an object');
  const r = doc as Partial<JobRecord>;
  if (typeof r.id !== 'string') throw new CorruptRecordError(path, 'no id');
  if (typeof r.type !== 'string') throw new CorruptRecordError(path, 'no type');
  if (typeof r.state !== 'string' || !STATES.has(r.state))
    throw new CorruptRecordError(path, `unknown state ${String(r.state)}`);
  if (typeof r.attemptsMade !== 'number') throw new CorruptRecordError(path, 'no attemptsMade');
  if (!Array.isArray(r.history)) throw new CorruptRecordError(path, 'no history');
  if (typeof r.opts !== 'object' || r.opts === null) throw new CorruptRecordError(path, 'no opts');
  return doc as JobRecord;
}

/** Encodes a record as its znode's data (JSON). */
export function encodeRecord(rec: JobRecord): Buffer {
  return Buffer.from(JSON.stringify(rec));
}

/** A record as read, with its znode's version (the fencing token's base) and Stat. */
export interface ReadRecord {
  rec: JobRecord;
  stat: Stat;
}

/**
 * Reads a record.
 * @returns the record and its Stat, or null when it does not exist
 * @throws CorruptRecordError when its data is not a record; ZkError for ZooKeeper errors
 */
export async function readRecord(client: ZkClient, id: string): Promise<ReadRecord | null> {
  const path = jobPath(id);
  try {
    const { data, stat } = await client.getData(path);
    return { rec: parseRecord(data, path), stat };
  } catch (err) {
    if (err instanceof NoNodeError) return null;
    throw err;
  }
}

/**
 * The public view of a record.
 * @param version - the record znode's data version
 * @param zxid - the zxid of the record's last write (decimal), '' when unknown
 */
export function toJob<D = unknown, R = unknown>(rec: JobRecord, version: number, zxid: string): Job<D, R> {
  // Built by assignment, in the order of the fields (optional ones only when set): a job per
  // claim and per completion, so no spread of a temporary object per optional field.
  const job: { -readonly [K in keyof Job<D, R>]?: Job<D, R>[K] } = {
    id: rec.id,
    type: rec.type,
    data: rec.data as D,
    opts: rec.opts,
    state: rec.state,
    attemptsMade: rec.attemptsMade,
  };
  if (rec.attemptsBase !== undefined) job.attemptsBase = rec.attemptsBase;
  job.createdAt = rec.createdAt;
  job.history = rec.history;
  if (rec.result !== undefined) job.result = rec.result as R;
  if (rec.error !== undefined) job.error = rec.error;
  if (rec.finishedAt !== undefined) job.finishedAt = rec.finishedAt;
  if (rec.notes !== undefined && rec.notes.length > 0) job.notes = rec.notes;
  job.version = version;
  job.zxid = zxid;
  return job as Job<D, R>;
}

/** The public view of a record as read from its znode. */
export function jobOf<D = unknown, R = unknown>(found: ReadRecord): Job<D, R> {
  return toJob<D, R>(found.rec, found.stat.version, found.stat.mzxid.toString());
}

/** Serialises an error for the record: its name, message and the first 8 lines of its stack. */
export function storeError(err: unknown): StoredError {
  if (err instanceof Error) {
    const e: StoredError = { name: err.name, message: err.message };
    if (err.stack) e.stack = err.stack.split('\n').slice(0, 8).join('\n');
    return e;
  }
  return { name: 'Error', message: String(err) };
}

/** Records read in one multiRead at most (and fewer when records are big: see {@link readRecords}). */
export const RECORDS_PER_READ = 32;
/** What one multiRead of records may bring back, about: 1 MiB. */
const READ_BUDGET_BYTES = 1 << 20;

/**
 * Reads many records in as few requests as possible (`multiRead`, up to
 * {@link RECORDS_PER_READ} at once, fewer when the records read so far are big, so a reply stays
 * near 1 MiB), in order.
 * @param hint - the largest record size seen recently (bytes), updated here; one per reader
 * @returns per id: the record, null when it does not exist, or the error that read met
 *   (`CorruptRecordError`, a ZkError); a failed request fails every id of its chunk with its error
 */
export async function readRecords(
  client: ZkClient,
  ids: readonly string[],
  hint: { maxBytes: number } = { maxBytes: 0 },
): Promise<(ReadRecord | null | Error)[]> {
  const out: (ReadRecord | null | Error)[] = [];
  for (let i = 0; i < ids.length;) {
    const n = Math.max(1, Math.min(RECORDS_PER_READ, Math.floor(READ_BUDGET_BYTES / Math.max(hint.maxBytes, 1024))));
    const chunk = ids.slice(i, i + n);
    i += chunk.length;
    let res: ReadResult[];
    try {
      res = await client.multiRead(chunk.map((id) => ({ type: 'getData', path: jobPath(id) })));
    } catch (err) {
      if (err instanceof ReplyTooLargeError && chunk.length > 1) {
        // Bigger records than the hint said: read this chunk again in smaller ones.
        // (at most half as many per request from now on, so this ends)
        hint.maxBytes = Math.max(
          hint.maxBytes,
          Math.ceil(err.bytes / chunk.length),
          Math.ceil(READ_BUDGET_BYTES / Math.floor(chunk.length / 2)),
        );
        i -= chunk.length;
        continue;
      }
      const e = err instanceof Error ? err : new Error(String(err));
      for (let k = 0; k < chunk.length; k++) out.push(e);
      continue;
    }
    res.forEach((r, k) => {
      const path = jobPath(chunk[k]!);
      if (r.type === 'error') {
        out.push(r.error instanceof NoNodeError ? null : r.error);
        return;
      }
      if (r.type !== 'getData') {
        out.push(new CorruptRecordError(path, 'not read as data'));
        return;
      }
      hint.maxBytes = Math.max(hint.maxBytes * 0.9, r.data.length);
      try {
        out.push({ rec: parseRecord(r.data, path), stat: r.stat });
      } catch (err) {
        out.push(err as Error);
      }
    });
  }
  return out;
}
