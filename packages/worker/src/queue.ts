import {
  ZkClient,
  type ZkClientOptions,
  type Stat,
  BadVersionError,
  NoNodeError,
  TransactionError,
} from '@zkjobs/core';
import type { Logger } from 'pino';
import { z } from 'zod';
import { cancelOps, isCancelSignalFailure, isIdTaken, submitOps, type SubmitItem } from './engine/ops.js';
import { encodeRecord, jobOf, parseRecord, readRecord, toJob, type ReadRecord } from './engine/record.js';
import { readStateIndexPage } from './engine/state-index.js';
import { cancel, gangTasks, newRecord, removedOnCompletion, submitEntry } from './engine/transitions.js';
import { ensureTree, forgetTree } from './engine/tree.js';
import * as housekeeping from './housekeeping.js';
import { JobFailedError, JobNotFoundError, JobValidationError, QueueFullError, WaitTimeoutError } from './errors.js';
import {
  JOB_STATES,
  isFinalState,
  type Job,
  type JobOptions,
  type JobRecord,
  type JobState,
  type SubmittedJob,
} from './job.js';
import { readCounts, type CountsByType } from './engine/counts.js';
import {
  BUCKET_NAMES,
  DEFAULT_NAMESPACE,
  JOBS,
  isTypePaused,
  jobPath,
  type LimitsDoc,
  type PausedDoc,
  type TypeLimits,
} from './layout.js';
import { LOG } from './log-events.js';
import { defaultLogger } from './logger.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  JOB_ID_RE,
  encodePayload,
  generateJobId,
  namespaceSchema,
  normalizeJobOptions,
  validateType,
  zodToValidationError,
} from './options.js';
import { mapLimit } from './util.js';
import { readLogs, type StoredLogLine } from './consumer/logs.js';
import { readProgress } from './consumer/progress.js';
import * as controls from './controls.js';
import * as schedules from './schedules.js';
import type { Schedule, ScheduleSpec } from './schedules.js';

/** Options of {@link Queue}. */
export interface QueueOptions {
  /**
   * Root znode of the zkjobs cluster; everything lives under it.
   * @defaultValue `'/zkjobs/default'`
   */
  namespace?: string;
  /**
   * Largest accepted payload (`data` as JSON), in bytes. Must stay well under ZooKeeper's 1 MB
   * packet limit; the record also holds options and history.
   * @defaultValue 262144 (256 KiB)
   */
  maxPayloadBytes?: number;
  /**
   * When set, `add` rejects types not in this list (error on field `type`).
   * @defaultValue any well-formed type
   */
  knownTypes?: string[];
  /**
   * Most jobs `waiting` or `delayed` in the namespace (all types, all producers): an `add` or
   * `addBulk` whose jobs would pass it rejects with {@link QueueFullError} and writes nothing.
   * Each call reads the namespace's counts once (the summary and the deltas not folded yet, no
   * record). The bound is approximate by the adds in flight at once: calls that read the
   * counts before each other's multis commit all pass, so the backlog can pass the bound by at
   * most the jobs of the other adds running at the same time (by nothing with one producer
   * awaiting its adds). Jobs whose `jobId` exists already are not counted (they write nothing).
   * Integer ≥ 1.
   * @defaultValue no bound
   */
  maxBacklog?: number;
  /** Session timeout when the Queue makes its own connection, ms. @defaultValue 10000 */
  sessionTimeoutMs?: number;
  /**
   * Options of the connection made when given a connect string: credentials (`auth`), the
   * default ACL of created znodes (`defaultAcl`), `tls`, `connectTimeoutMs`, … (see
   * `ZkClientOptions`; checked by `ZkClient.connect`, which throws BadArgumentsError naming a bad
   * one). Ignored when given a ZkClient.
   * @defaultValue none
   */
  zk?: Omit<ZkClientOptions, 'namespace' | 'sessionTimeoutMs'>;
  /** pino logger. @defaultValue {@link defaultLogger} */
  logger?: Logger;
}

/** One job of {@link Queue.addBulk}. */
export interface BulkJob<D = unknown> {
  /** The job type: the name of the handler that runs it. */
  type: string;
  /** The payload (JSON-serialisable). */
  data?: D;
  /** Job options. */
  opts?: JobOptions;
}

const queueOptionsSchema = z.strictObject({
  namespace: namespaceSchema.optional(),
  maxPayloadBytes: z.number().int().min(1).max(900_000).optional(),
  knownTypes: z.array(z.string()).optional(),
  maxBacklog: z.number().int().min(1).optional(),
  sessionTimeoutMs: z.number().int().min(1).optional(),
  zk: z.record(z.string(), z.unknown()).optional(),
  logger: z.any().optional(),
});

/** Bytes per submit `multi`, kept well under ZooKeeper's 1 MB packet limit. */
const MAX_MULTI_BYTES = 600_000;
/** Records per submit `multi`. */
const MAX_MULTI_JOBS = 1000;

/**
 * Submits jobs and reads their state — the producer side, as BullMQ's `Queue`.
 *
 * A submit is one `multi` per batch that creates every job record
 * (`jobs/<bucket>/<id>`) and one pending marker listing them (`pending/<bucket>/m-…`), so a
 * batch is written entirely or not at all; everything is validated before the first write.
 *
 * ```ts
 * const queue = new Queue('127.0.0.1:2181');
 * const job = await queue.add('email', { to: 'a@b.c' }, { attempts: 3, backoff: { type: 'exponential', delay: 200 } });
 * const done = await queue.waitUntilFinished(job.id);
 * ```
 */
export class Queue {
  /** The namespace root. */
  readonly namespace: string;
  private readonly maxPayloadBytes: number;
  private readonly knownTypes: Set<string> | undefined;
  private readonly maxBacklog: number | undefined;
  private readonly log: Logger;
  private readonly clientPromise: Promise<ZkClient>;
  private readonly rootPromise: Promise<ZkClient>;
  private readonly ownsClient: boolean;
  private closed = false;

  /**
   * @param connection - a connected {@link ZkClient} (shared, not closed by the Queue; its own
   *   namespace is ignored — the Queue uses `client.usingNamespace(namespace)`), or a connect
   *   string (the Queue connects, and closes the connection in {@link close})
   * @param opts - options
   * @throws JobValidationError for a bad option
   */
  constructor(connection: ZkClient | string, opts: QueueOptions = {}) {
    const parsed = queueOptionsSchema.safeParse(opts);
    if (!parsed.success) throw zodToValidationError('options', parsed.error);
    this.namespace = opts.namespace ?? DEFAULT_NAMESPACE;
    this.maxPayloadBytes = opts.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.knownTypes = opts.knownTypes ? new Set(opts.knownTypes) : undefined;
    this.maxBacklog = opts.maxBacklog;
    this.log = opts.logger ?? defaultLogger();
    this.ownsClient = typeof connection === 'string';
    this.rootPromise =
      typeof connection === 'string'
        ? ZkClient.connect(connection, { ...opts.zk, sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000 })
        : Promise.resolve(connection);
    this.clientPromise = this.rootPromise.then((c) => c.usingNamespace(this.namespace));
    this.clientPromise.catch(() => undefined);
  }

  /**
   * The namespaced client, with the namespace's tree created (the first call writes it when it
   * is missing).
   * @throws the connection error when the Queue made its own connection and it failed
   */
  async client(): Promise<ZkClient> {
    const c = await this.readClient();
    await ensureTree(c);
    return c;
  }

  /** The namespaced client for reads: a read under a namespace that does not exist writes nothing. */
  private async readClient(): Promise<ZkClient> {
    if (this.closed) throw new Error('Queue is closed');
    return this.clientPromise;
  }

  /**
   * Submits one job. With a `jobId` that already exists nothing is written and the existing job is
   * returned (idempotency key).
   * @param type - the job type (handler name)
   * @param data - the payload, JSON-serialisable, at most `maxPayloadBytes` as JSON
   * @param opts - job options
   * @returns the job as stored; `created` is false when its `jobId` existed already (nothing
   *   was written, the existing job is returned as it is)
   * @throws JobValidationError naming the field (`type`, `data`, `opts.<option>`) — nothing is written
   * @throws ConnectionLossError when the connection broke while the submit multi was in flight: it
   *   may or may not have been written. Retrying with the same `jobId` is safe (the idempotency
   *   key returns the job if the first try landed); without a `jobId` a retry may submit it twice.
   */
  async add<D = unknown>(type: string, data?: D, opts?: JobOptions): Promise<SubmittedJob<D>> {
    const [job] = await this.addBulkInternal([{ type, data, opts }], false);
    return job as SubmittedJob<D>;
  }

  /**
   * Submits many jobs with as few `multi`s as fit under the packet limit (≤ 1,000 jobs and
   * ≤ 600 KB each). Every job is validated before anything is written; jobs whose `jobId`
   * exists already are returned as they are.
   * @param jobs - the jobs
   * @returns the jobs as stored, in the given order; each one's `created` tells whether this
   *   call wrote it
   * @throws JobValidationError naming the field (`jobs[i].opts.delay`, …) — nothing is written
   * @throws ConnectionLossError as {@link Queue.add}: each multi is written entirely or not at all,
   *   and a lost reply leaves it unknown which; retry with `jobId`s to make the retry safe
   */
  async addBulk<D = unknown>(jobs: BulkJob<D>[]): Promise<SubmittedJob<D>[]> {
    return (await this.addBulkInternal(jobs, true)) as SubmittedJob<D>[];
  }

  private async addBulkInternal(jobs: BulkJob[], bulk: boolean): Promise<SubmittedJob[]> {
    if (!Array.isArray(jobs)) throw new JobValidationError('jobs', 'must be an array');
    const now = Date.now();
    const prepared: (SubmitItem & { bytes: Buffer; explicit: boolean })[] = [];
    const ids = new Set<string>();
    jobs.forEach((j, i) => {
      const f = bulk ? `jobs[${i}].` : '';
      const type = validateType(j?.type, `${f}type`);
      if (this.knownTypes && !this.knownTypes.has(type)) {
        throw new JobValidationError(`${f}type`, `unknown job type ${JSON.stringify(type)}`);
      }
      const { jobId, opts } = normalizeJobOptions(j.opts, `${f}opts`);
      const json = encodePayload(j.data, this.maxPayloadBytes, `${f}data`);
      const id = jobId ?? generateJobId();
      if (ids.has(id)) throw new JobValidationError(`${f}opts.jobId`, `duplicate jobId ${id} in the batch`);
      ids.add(id);
      const rec = newRecord({ id, type, data: JSON.parse(json) as unknown, opts, now });
      const p: (typeof prepared)[number] = { rec, bytes: encodeRecord(rec), explicit: jobId !== undefined };
      // A gang job: the parent record plus one task record per member, written together.
      const tasks = gangTasks(rec);
      if (tasks.length > 0) p.tasks = tasks;
      prepared.push(p);
    });
    // Everything is read and checked before the first write (the namespace's tree included).
    const client = await this.readClient();
    // Idempotency keys that exist already: return those jobs, write the rest.
    const existing = new Map<string, Job>();
    const explicit = prepared.filter((p) => p.explicit);
    await mapLimit(explicit, 64, async (p) => {
      const found = await readRecord(client, p.rec.id);
      if (found) existing.set(p.rec.id, jobOf(found));
    });
    // dependsOn must name existing jobs or jobs of this batch.
    const deps = new Set<string>();
    prepared.forEach((p) => p.rec.opts.dependsOn.forEach((d) => deps.add(d)));
    const missing: string[] = [];
    await mapLimit(
      [...deps].filter((d) => !ids.has(d)),
      64,
      async (d) => {
        if ((await client.exists(jobPath(d))) === null) missing.push(d);
      },
    );
    if (missing.length > 0) {
      const i = prepared.findIndex((p) => p.rec.opts.dependsOn.includes(missing[0]!));
      throw new JobValidationError(`${bulk ? `jobs[${i}].` : ''}opts.dependsOn`, `no job ${missing[0]!}`);
    }
    const toWrite = prepared.filter((p) => !existing.has(p.rec.id));
    // Chunk by bytes and count; one multi per chunk (records + one pending marker).
    const chunks: (typeof toWrite)[] = [];
    let cur: typeof toWrite = [];
    let curBytes = 0;
    for (const p of toWrite) {
      const b = (p.bytes.length + 80 + p.rec.id.length * 2) * (1 + (p.tasks?.length ?? 0));
      if (cur.length > 0 && (curBytes + b > MAX_MULTI_BYTES || cur.length >= MAX_MULTI_JOBS)) {
        chunks.push(cur);
        cur = [];
        curBytes = 0;
      }
      cur.push(p);
      curBytes += b;
    }
    if (cur.length > 0) chunks.push(cur);
    if (this.maxBacklog !== undefined && toWrite.length > 0) {
      const backlog = await this.backlog(client);
      if (backlog + toWrite.length > this.maxBacklog)
        throw new QueueFullError(backlog, this.maxBacklog, toWrite.length);
    }
    if (chunks.length > 0) await ensureTree(client);
    const written = new Map<string, Job>();
    await mapLimit(chunks, 4, async (chunk) => {
      try {
        await this.writeChunk(client, chunk, written);
      } catch (err) {
        if (!isIdTaken(err)) throw err;
        // An id was taken meanwhile: write one by one. A given jobId is an idempotency key (the
        // existing job is returned); a generated id that collided gets a new id.
        for (const p of chunk) {
          for (let tries = 0; ; tries++) {
            try {
              await this.writeChunk(client, [p], written);
              break;
            } catch (e) {
              if (!isIdTaken(e)) throw e;
              if (!p.explicit && tries < 5) {
                renameGenerated(p);
                continue;
              }
              const found = await readRecord(client, p.rec.id);
              if (!found || !p.explicit) throw e;
              existing.set(p.rec.id, jobOf(found));
              break;
            }
          }
        }
      }
    });
    return prepared.map((p) => {
      const old = existing.get(p.rec.id);
      return old ? { ...old, created: false } : { ...written.get(p.rec.id)!, created: true };
    });
  }

  private async writeChunk(client: ZkClient, chunk: readonly SubmitItem[], out: Map<string, Job>): Promise<void> {
    await submitOps(
      client,
      chunk,
      chunk.map((p) => submitEntry(p.rec)),
    ).commit();
    for (const p of chunk) {
      out.set(p.rec.id, toJob(p.rec, 0, ''));
      this.log.debug({ jobId: p.rec.id, type: p.rec.type, state: p.rec.state }, LOG.submitted);
    }
  }

  /**
   * Reads a job, with its stored progress (`progress`) when a run reported some.
   * @returns the job, or null when there is no job with this id
   */
  async getJob<D = unknown, R = unknown>(jobId: string): Promise<Job<D, R> | null> {
    const client = await this.readClient();
    const found = await readRecord(client, jobId);
    if (!found) return null;
    const job = jobOf<D, R>(found);
    if (found.rec.state !== 'active' && found.rec.progressed !== true) return job;
    const progress = await readProgress(client, jobId);
    return progress === undefined ? job : { ...job, progress };
  }

  /**
   * Reads a job's stored log lines (BullMQ's `queue.getJobLogs`): those its handlers logged with
   * `ctx.log`, oldest first, across attempts. One read of `logs/<bucket>/<id>`.
   * @param opts.start - index of the first line, 0-based; negative counts from the newest (-1:
   *   the newest line) @defaultValue 0
   * @param opts.end - index of the last line, inclusive; negative counts from the newest
   *   @defaultValue -1 (the newest)
   * @returns `logs`: the lines in the range; `count`: how many are stored in all; `dropped`: how
   *   many older lines were dropped to keep within the Worker's `keepLogs` and 512 KiB. A job that
   *   logged nothing (or does not exist) has `{ logs: [], count: 0, dropped: 0 }`.
   * @throws JobValidationError on `jobId`, `opts.start` or `opts.end` for a bad one; nothing is read
   */
  async getJobLogs(
    jobId: string,
    opts: { start?: number; end?: number } = {},
  ): Promise<{ logs: string[]; count: number; dropped: number }> {
    const { lines, count, dropped } = await this.getJobLogLines(jobId, opts);
    return { logs: lines.map((l) => l.line), count, dropped };
  }

  /**
   * As {@link Queue.getJobLogs}, with each line as stored: `{ at, attempt, token, line }` — `at`
   * when it was logged (ms since the epoch, the worker's clock), the attempt (1-based) and the
   * claim's fencing token that logged it.
   * @throws JobValidationError on `jobId`, `opts.start` or `opts.end` for a bad one; nothing is read
   */
  async getJobLogLines(
    jobId: string,
    opts: { start?: number; end?: number } = {},
  ): Promise<{ lines: StoredLogLine[]; count: number; dropped: number }> {
    if (typeof jobId !== 'string' || !JOB_ID_RE.test(jobId)) {
      throw new JobValidationError('jobId', 'must be 1-128 characters of [A-Za-z0-9._:@-]');
    }
    const start = opts.start ?? 0;
    const end = opts.end ?? -1;
    if (!Number.isSafeInteger(start)) throw new JobValidationError('opts.start', 'must be an integer');
    if (!Number.isSafeInteger(end)) throw new JobValidationError('opts.end', 'must be an integer');
    const stored = await readLogs(await this.readClient(), jobId);
    if (!stored) return { lines: [], count: 0, dropped: 0 };
    const n = stored.lines.length;
    const from = start < 0 ? Math.max(0, n + start) : start;
    const to = end < 0 ? n + end : Math.min(end, n - 1);
    return { lines: stored.lines.slice(from, to + 1), count: n, dropped: stored.dropped };
  }

  /**
   * Lists jobs by reading every record (one getChildren per bucket, one getData per job): an
   * administrative scan, not for hot paths.
   * @param filter.state - only jobs in this state (or these states)
   * @param filter.limit - stop after this many jobs @defaultValue unlimited
   */
  async getJobs(filter: { state?: JobState | JobState[]; limit?: number } = {}): Promise<Job[]> {
    const client = await this.readClient();
    const states =
      filter.state === undefined ? undefined : new Set(Array.isArray(filter.state) ? filter.state : [filter.state]);
    const limit = filter.limit ?? Infinity;
    const out: Job[] = [];
    for (const b of BUCKET_NAMES) {
      if (out.length >= limit) break;
      let children: string[];
      try {
        ({ children } = await client.getChildren(`${JOBS}/${b}`));
      } catch (err) {
        if (err instanceof NoNodeError) break; // no such namespace (or not a zkjobs one): no jobs
        throw err;
      }
      const jobs = await mapLimit(children, 64, (id) => readRecord(client, id));
      for (const j of jobs) {
        if (j && (!states || states.has(j.rec.state)) && out.length < limit) out.push(jobOf(j));
      }
    }
    return out;
  }

  /**
   * One page of the jobs in a state, newest or oldest first by when they entered it, and a
   * cursor for the next page. Reads about one page: the lists by state that the leader keeps
   * with its count fold (`index/<state>`, see docs/architecture.md, "Lists by state"), a few
   * pages of ids in `multiRead`s, then the records of about `limit` ids (plus those that moved
   * on since, skipped); the newest jobs, not folded yet (about a second), come from the count
   * deltas the read of the counts reads anyway. A namespace without the index (made by a
   * version without it, or whose index fell behind) is read by a scan of every record, ordered
   * by each record's last write (`zxid`).
   *
   * A job appears once per listing, at the place it last entered the state. Pages taken one
   * after another with `next` do not repeat a job, unless it left the state and came back
   * between them (then it is on the page of its new place).
   *
   * @param opts.state - the state listed (required)
   * @param opts.limit - jobs per page, integer 1–1000 @defaultValue 50
   * @param opts.order - `'newest'` (last to enter the state first) or `'oldest'` @defaultValue `'newest'`
   * @param opts.cursor - `next` of the previous page (same state and order); absent or null: the first page
   * @returns `jobs` in that order, `next` (null when the list ended), and `source`: `'index'`, or
   *   `'scan'` for a namespace read by a scan
   * @throws JobValidationError on `state`, `limit`, `order` or `cursor` for a bad value (nothing is read)
   */
  async getJobsPage(opts: {
    state: JobState;
    limit?: number;
    order?: 'newest' | 'oldest';
    cursor?: string | null;
  }): Promise<JobsPage> {
    const { state, limit, order, cursor } = parsePageOptions(opts);
    const client = await this.readClient();
    if (cursor === null || cursor.kind === 'i') {
      let listing;
      try {
        listing = await readStateIndexPage(client, state, {
          limit,
          order,
          cursor: cursor === null ? null : cursor.pos,
        });
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
        listing = null; // no such namespace, or no index in it
      }
      if (listing) {
        return {
          jobs: listing.found.map((r) => jobOf(r)),
          next: listing.next === null ? null : `i:${order[0]}:${listing.next}`,
          source: 'index',
        };
      }
      if (cursor !== null) {
        throw new JobValidationError(
          'cursor',
          'made by the lists by state, which this namespace no longer keeps: start again without a cursor',
        );
      }
    }
    // The scan: every record in the state, by its last write.
    const all = (await this.scanRecords(state)).sort((a, b) =>
      a.stat.mzxid === b.stat.mzxid
        ? a.rec.id < b.rec.id
          ? -1
          : a.rec.id > b.rec.id
            ? 1
            : 0
        : a.stat.mzxid < b.stat.mzxid
          ? -1
          : 1,
    );
    if (order === 'newest') all.reverse();
    let from = 0;
    if (cursor?.kind === 's') {
      const after = (r: ReadRecord) => {
        const z = r.stat.mzxid;
        const c = cursor.zxid;
        const cmp = z === c ? (r.rec.id < cursor.id ? -1 : r.rec.id > cursor.id ? 1 : 0) : z < c ? -1 : 1;
        return order === 'newest' ? cmp < 0 : cmp > 0;
      };
      from = all.findIndex(after);
      if (from < 0) from = all.length;
    }
    const page = all.slice(from, from + limit);
    const last = page.at(-1);
    return {
      jobs: page.map((r) => jobOf(r)),
      next: last && from + limit < all.length ? `s:${order[0]}:${last.stat.mzxid}:${last.rec.id}` : null,
      source: 'scan',
    };
  }

  /** Every record in `state` (the scan: one getChildren per bucket, one getData per record). */
  private async scanRecords(state: JobState): Promise<ReadRecord[]> {
    const client = await this.readClient();
    const out: ReadRecord[] = [];
    for (const b of BUCKET_NAMES) {
      let children: string[];
      try {
        ({ children } = await client.getChildren(`${JOBS}/${b}`));
      } catch (err) {
        if (err instanceof NoNodeError) break;
        throw err;
      }
      const recs = await mapLimit(children, 64, (id) => readRecord(client, id));
      for (const r of recs) if (r && r.rec.state === state) out.push(r);
    }
    return out;
  }

  /**
   * Counts jobs by state (BullMQ's `getJobCounts`), without reading the records: the summary
   * that the leader folds from the count deltas every multi writes, plus the deltas not folded
   * yet (see docs/architecture.md, "Counts"). A namespace whose jobs predate the counts is counted
   * by a scan of every record instead.
   * @param states - the states to count @defaultValue every state
   * @returns `{ [state]: n }` for the states asked for
   * @throws JobValidationError on `states[i]` for an unknown state
   */
  async getJobCounts(...states: JobState[]): Promise<Partial<Record<JobState, number>>> {
    const wanted = this.checkStates(states);
    const byType = await this.countsByType();
    const out = Object.fromEntries(wanted.map((s) => [s, 0])) as Partial<Record<JobState, number>>;
    for (const t of Object.values(byType)) for (const s of wanted) out[s]! += t[s] ?? 0;
    return out;
  }

  /**
   * Counts jobs by type and state, as {@link getJobCounts} (types with none in these states are
   * left out).
   * @param states - the states to count @defaultValue every state
   * @returns `{ [type]: { [state]: n } }`
   * @throws JobValidationError on `states[i]` for an unknown state
   */
  async getJobCountsByType(...states: JobState[]): Promise<Record<string, Partial<Record<JobState, number>>>> {
    const wanted = this.checkStates(states);
    const byType = await this.countsByType();
    const out: Record<string, Partial<Record<JobState, number>>> = {};
    for (const type of Object.keys(byType).sort()) {
      const row = Object.fromEntries(wanted.map((s) => [s, byType[type]![s] ?? 0])) as Partial<
        Record<JobState, number>
      >;
      if (Object.values(row).some((n) => n !== 0)) out[type] = row;
    }
    return out;
  }

  private checkStates(states: JobState[]): JobState[] {
    states.forEach((s, i) => {
      if (!(JOB_STATES as readonly string[]).includes(s)) {
        throw new JobValidationError(
          `states[${i}]`,
          `unknown state ${JSON.stringify(s)} (one of ${JOB_STATES.join(', ')})`,
        );
      }
    });
    return states.length > 0 ? [...new Set(states)] : [...JOB_STATES];
  }

  /** Jobs waiting or delayed in the namespace (one read of the counts; 0 before its tree exists). */
  private async backlog(client: ZkClient): Promise<number> {
    let counts: CountsByType | null;
    try {
      counts = await readCounts(client);
    } catch (err) {
      if (err instanceof NoNodeError) return 0;
      throw err;
    }
    // A namespace older than the counts is counted by a scan (see countsByType).
    counts ??= await this.countsByType();
    let n = 0;
    for (const t of Object.values(counts)) n += (t.waiting ?? 0) + (t.delayed ?? 0);
    return n;
  }

  private async countsByType(): Promise<CountsByType> {
    const client = await this.client();
    const counted = await readCounts(client);
    if (counted) return counted;
    const scanned: CountsByType = {};
    for (const j of await this.getJobs()) {
      const t = (scanned[j.type] ??= {});
      t[j.state] = (t[j.state] ?? 0) + 1;
    }
    return scanned;
  }

  /**
   * Cancels a job that has not finished. A waiting or delayed job will not run; a running job's
   * handler gets its signal aborted ({@link JobCancelledError}) and its completion is refused.
   * @returns true if the job was cancelled, false if it had already finished
   * @throws JobNotFoundError when there is no such job
   */
  async cancel(jobId: string): Promise<boolean> {
    const client = await this.readClient();
    for (;;) {
      const found = await readRecord(client, jobId);
      if (!found) throw new JobNotFoundError(jobId);
      const { rec, stat } = found;
      if (isFinalState(rec.state)) return false;
      const write = { next: cancel(rec, Date.now()), version: stat.version, from: rec.state };
      const holder = rec.state === 'active' && rec.claim ? rec.claim.worker : undefined;
      try {
        await cancelOps(client, write, holder).commit();
        this.log.info({ jobId, state: write.next.state, previous: rec.state }, LOG.cancelled);
        return true;
      } catch (err) {
        if (err instanceof TransactionError && err.code === BadVersionError.CODE) continue;
        if (isCancelSignalFailure(err)) {
          // The holder's queue is gone (worker dead) or already signalled: cancel the record alone.
          try {
            await cancelOps(client, write, undefined).commit();
            return true;
          } catch (e) {
            if (e instanceof TransactionError && e.code === BadVersionError.CODE) continue;
            throw e;
          }
        }
        throw err;
      }
    }
  }

  /**
   * Runs a `failed` or `dead` job again (BullMQ's `job.retry()` of a failed job): back to
   * `waiting` with a fresh budget of `opts.attempts` — the attempts are counted from here
   * (`attemptsBase`), its backoff starts again from the first retry — and a pending entry due at
   * once (without its `dependsOn`: the operator asked for it to run). The history keeps its
   * attempts and gains a `retried` entry naming the operator; `error` and `finishedAt` are
   * cleared. One multi: the record over the version read, the entry, the count delta; a
   * concurrent change makes it fail as a whole, and the record is read and decided again.
   *
   * Refused, with nothing written: `completed` (its completion is recorded once; submit a new
   * job — BullMQ retries completed jobs only when asked, and zkjobs not at all), `cancelled` (a
   * cancel is final), a job that has not finished, and gang jobs (they run once).
   * @returns the job as written
   * @throws JobNotFoundError when there is no such job; JobStateError for any other state
   */
  async retryJob(jobId: string): Promise<Job> {
    return housekeeping.retryJob(await this.client(), jobId, this.log);
  }

  /**
   * Removes a job that is not running (BullMQ's `queue.remove`): its record, its stored progress
   * and logs, and its count, in one multi over the version read. A waiting or delayed job never runs: the
   * pending entries and assignments that name it become stale and are skipped (the engine checks
   * every entry against the record). A gang job's task records go with it. Jobs that depend on
   * a removed job see it gone, as after retention, and are scheduled (as if it completed).
   * @returns true when removed, false when there was no such job
   * @throws JobStateError for an active (running) job — cancel it first — or a gang task (remove
   *   its gang job); nothing is written
   */
  async remove(jobId: string): Promise<boolean> {
    return housekeeping.removeJob(await this.client(), jobId, this.log);
  }

  /**
   * Removes up to `limit` jobs in a final `state` that finished more than `olderThanMs` ago,
   * by ZooKeeper's clock: the record's mtime (its last write — the finishing one, or a stale
   * holder's note after it) against the mtime of a write to the namespace's `clock` znode
   * (BullMQ's `queue.clean(grace, limit, type)`). Gang tasks go with their gang job.
   *
   * Cost: a scan — one `getChildren` per job bucket (64) and one `getData` per record, read a
   * page of 200 at a time — plus one multi per 100 records removed. Meant for operators, not a
   * hot path; retention (`removeOnComplete`/`removeOnFail`) costs no scan.
   * @param state - `completed`, `failed`, `dead` or `cancelled`
   * @param olderThanMs - only jobs finished more than this many ms ago (0: all of them)
   * @param limit - remove at most this many @defaultValue no limit
   * @returns the ids removed
   * @throws JobValidationError naming `state`, `olderThanMs` or `limit` — nothing is written
   */
  async clean(state: JobState, olderThanMs: number, limit?: number): Promise<string[]> {
    housekeeping.checkCleanArgs(state, olderThanMs, limit);
    return housekeeping.clean(await this.client(), state, olderThanMs, limit ?? Infinity, this.log);
  }

  /**
   * Deletes the whole namespace — every job, marker, queue, schedule, control and count, and
   * the namespace znode itself (BullMQ's `queue.obliterate`). Refused while a worker is
   * registered (`workers/w-…` live), unless `force`. Children are deleted before their parents,
   * up to 500 per multi, walking the tree depth first (a listing is held only while its subtree
   * is walked), so a namespace of any size is deleted.
   *
   * Not atomic: a concurrent writer can leave znodes behind or make new ones — a submit landing
   * meanwhile re-creates what it writes (its record and marker, under re-created parents), and
   * with `force` a live worker re-creates its registration and queue and may go on writing
   * records it holds. Stop the workers and producers first. Other `Queue`s on the namespace
   * re-create its tree on their next write.
   * @param opts.force - delete even while workers are live @defaultValue false
   * @returns how many znodes were deleted (0: there was no such namespace)
   * @throws LiveWorkersError naming the live workers (nothing is deleted)
   */
  async obliterate(opts: { force?: boolean } = {}): Promise<number> {
    if (opts.force !== undefined && typeof opts.force !== 'boolean') {
      throw new JobValidationError('opts.force', 'must be a boolean');
    }
    const client = await this.readClient();
    const root = (await this.rootPromise).usingNamespace('/');
    try {
      return await housekeeping.obliterate(root, this.namespace, opts.force === true, this.log);
    } finally {
      forgetTree(client);
    }
  }

  /**
   * Waits until a job reaches a final state: woken by a data watch on its record, and re-reading it every `pollMs` as a guard.
   * @param opts.timeoutMs - give up after this many ms @defaultValue no timeout
   * @param opts.signal - give up when aborted
   * @param opts.pollMs - also re-read the record this often, ms (a guard against a lost watch notification) @defaultValue 1000
   * @returns the completed job (its `result` holds the handler's return value). A job with
   *   `removeOnComplete: true` (and not `removeOnFail: true`) seen before its record was deleted
   *   resolves too, as `completed`, without its result (deleted with the record)
   * @throws JobFailedError when it ends failed, dead or cancelled (or, with `removeOnFail: true`
   *   and not `removeOnComplete: true`, its record is deleted once seen); JobNotFoundError when there is
   *   no such job, or it was removed before it was seen, or removed when both `removeOnComplete`
   *   and `removeOnFail` are true (the outcome is not kept); WaitTimeoutError; the signal's
   *   reason when aborted
   */
  async waitUntilFinished<D = unknown, R = unknown>(
    jobId: string,
    opts: { timeoutMs?: number; signal?: AbortSignal; pollMs?: number } = {},
  ): Promise<Job<D, R>> {
    const client = await this.readClient();
    return new Promise<Job<D, R>>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (fn: () => void) => {
        if (done) return;
        done = true;
        clearInterval(poll);
        handle.close();
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => finish(() => reject(opts.signal!.reason));
      let done = false;
      let seen: { rec: JobRecord; version: number; zxid: string } | undefined;
      const onData = (data: Buffer | null, stat: Stat | null) => {
        if (done) return;
        if (!data || !stat) {
          // Deleted with its finishing write: with removeOnComplete and not removeOnFail, only a
          // completion deletes it (its result went with it).
          const o = seen?.rec.opts;
          if (seen && o?.removeOnComplete === true && o.removeOnFail !== true) {
            const job = toJob<D, R>(removedOnCompletion(seen.rec), seen.version + 1, '');
            return finish(() => resolve(job));
          }
          if (seen && o?.removeOnFail === true && o.removeOnComplete !== true) {
            return finish(() =>
              reject(
                new JobFailedError(jobId, 'failed or dead', 'its record was removed when it ended (removeOnFail)'),
              ),
            );
          }
          return finish(() => reject(new JobNotFoundError(jobId)));
        }
        const rec = parseRecord(data, jobPath(jobId));
        seen = { rec, version: stat.version, zxid: stat.mzxid.toString() };
        if (!isFinalState(rec.state)) return;
        const job = toJob<D, R>(rec, stat.version, stat.mzxid.toString());
        if (rec.state === 'completed') finish(() => resolve(job));
        else finish(() => reject(new JobFailedError(jobId, rec.state, rec.error?.message ?? rec.state)));
      };
      const handle = client.watchData(jobPath(jobId), onData, { onError: (e) => finish(() => reject(e)) });
      // Safety net against a lost watch notification: re-read now and then.
      const poll = setInterval(() => {
        client.getData(jobPath(jobId)).then(
          ({ data, stat }) => onData(data, stat),
          (err: unknown) => {
            if (err instanceof NoNodeError) onData(null, null);
          },
        );
      }, opts.pollMs ?? 1000);
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => finish(() => reject(new WaitTimeoutError(jobId, opts.timeoutMs!))), opts.timeoutMs);
      }
      if (opts.signal) {
        if (opts.signal.aborted) onAbort();
        else opts.signal.addEventListener('abort', onAbort, { once: true });
      }
    });
  }

  /**
   * Pauses a job type, or every type when `type` is omitted: the leader assigns none of its jobs
   * and workers claim none (a worker learns of it through a watch, within milliseconds); jobs
   * already running finish, and nothing is lost — waiting jobs stay waiting until
   * {@link resume}. Stored in ZooKeeper (`control/paused`), so it holds across leader changes
   * and restarts. Idempotent.
   * @param type - a job type, or undefined for the whole namespace
   * @returns what is paused after the change
   * @throws JobValidationError on field `type` for a malformed type — nothing is written
   */
  async pause(type?: string): Promise<PausedDoc> {
    if (type !== undefined) validateType(type, 'type');
    const client = await this.client();
    const p = await controls.pause(client, type);
    this.log.info({ type: type ?? '*', paused: p }, 'paused');
    return p;
  }

  /**
   * Resumes a job type paused by name, or — when `type` is omitted — everything (the
   * namespace-wide pause and every type's); the backlog is scheduled at once. A type stays
   * paused while the whole namespace is. Idempotent.
   * @param type - a job type, or undefined for everything
   * @returns what is still paused after the change
   * @throws JobValidationError on field `type` for a malformed type — nothing is written
   */
  async resume(type?: string): Promise<PausedDoc> {
    if (type !== undefined) validateType(type, 'type');
    const client = await this.client();
    const p = await controls.resume(client, type);
    this.log.info({ type: type ?? '*', paused: p }, 'resumed');
    return p;
  }

  /**
   * True when jobs of `type` may not start now (the type or the whole namespace is paused);
   * without `type`, true when the whole namespace is paused.
   * @throws JobValidationError on field `type` for a malformed type
   */
  async isPaused(type?: string): Promise<boolean> {
    if (type !== undefined) validateType(type, 'type');
    const p = await controls.readPaused(await this.client());
    return type === undefined ? p.all : isTypePaused(p, type);
  }

  /** What is paused: the whole namespace (`all`) and the types paused by name. */
  async getPaused(): Promise<PausedDoc> {
    return controls.readPaused(await this.client());
  }

  /**
   * Sets the limits of a job type, applied cluster-wide by whichever worker leads (stored in
   * `control/limits`): `{ max, duration }` — at most `max` jobs of the type start (are claimed)
   * per `duration` ms; `{ concurrency }` — at most that many are active (assigned to a worker or
   * running) at once across all workers; or both. Replaces the type's earlier limits; `null`
   * removes them. Jobs of a limited type are assigned one at a time, only as the limit frees a
   * slot (see docs/architecture.md, "Limits").
   * @param type - the job type
   * @param limits - `max` 1–1,000,000 jobs with `duration` 1–86,400,000 ms, and/or `concurrency`
   *   1–1,000,000; or null
   * @returns every type's limits after the change
   * @throws JobValidationError naming the field (`type`, `limits.max`, `limits.duration`,
   *   `limits.concurrency`) — nothing is written
   */
  async setLimits(type: string, limits: TypeLimits | null): Promise<LimitsDoc> {
    validateType(type, 'type');
    const l = limits === null ? null : controls.validateLimits(limits);
    const client = await this.client();
    const all = await controls.setLimits(client, type, l);
    this.log.info({ type, limits: l }, l === null ? 'limits removed' : 'limits set');
    return all;
  }

  /** Every job type's limits (see {@link setLimits}). */
  async getLimits(): Promise<LimitsDoc> {
    return controls.readLimits(await this.client());
  }

  /**
   * Creates or updates a schedule: the leader creates the job `spec.job` at every slot of
   * `spec.cron` (in `spec.tz`) or `spec.every`, on ZooKeeper's clock, with job id
   * `<id>@<slot ms>` — a slot fires exactly once, whichever leader gets to it. Updating a schedule
   * whose timing (`cron`, `every`, `tz`, `startAt`, `endAt`) is unchanged keeps its next slot,
   * counts and paused state (so re-upserting at every start of an application fires nothing
   * twice); a changed timing starts again from the first slot at or after now.
   * @param id - 1–100 characters of `[A-Za-z0-9._:-]`
   * @param spec - see {@link ScheduleSpec}
   * @returns the schedule as stored (`next`: its next slot, ms since the epoch)
   * @throws JobValidationError naming the field (`id`, `schedule.cron`, `schedule.tz`,
   *   `schedule.job.type`, `schedule.job.opts.attempts`, …) — nothing is written
   */
  async upsertSchedule(id: string, spec: ScheduleSpec): Promise<Schedule> {
    schedules.validateSchedule(id, spec, Date.now());
    const client = await this.client();
    const s = await schedules.upsertSchedule(client, id, spec);
    this.log.info({ schedule: id, next: s.next }, 'schedule upserted');
    return s;
  }

  /** Every schedule, by id. */
  async getSchedules(): Promise<Schedule[]> {
    return schedules.getSchedules(await this.client());
  }

  /** One schedule, or null when there is none with this id. @throws JobValidationError for a malformed id */
  async getSchedule(id: string): Promise<Schedule | null> {
    return schedules.getSchedule(await this.client(), id);
  }

  /**
   * Removes a schedule; the jobs it created stay.
   * @returns false when there was no such schedule
   * @throws JobValidationError for a malformed id
   */
  async removeSchedule(id: string): Promise<boolean> {
    return schedules.removeSchedule(await this.client(), id);
  }

  /**
   * Pauses a schedule: it fires nothing until resumed. Idempotent.
   * @throws ScheduleNotFoundError; JobValidationError for a malformed id
   */
  async pauseSchedule(id: string): Promise<Schedule> {
    return schedules.setSchedulePaused(await this.client(), id, true);
  }

  /**
   * Resumes a paused schedule from its first slot at or after now (the slots of the pause are
   * not fired). Idempotent.
   * @throws ScheduleNotFoundError; JobValidationError for a malformed id
   */
  async resumeSchedule(id: string): Promise<Schedule> {
    return schedules.setSchedulePaused(await this.client(), id, false);
  }

  /** Closes the connection if the Queue made it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsClient) {
      const c = await this.rootPromise.catch(() => null);
      await c?.close();
    }
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Gives a job whose generated id collided with an existing job a new generated id (its gang tasks too). */
function renameGenerated(p: SubmitItem & { bytes: Buffer }): void {
  const rec = { ...p.rec, id: generateJobId() };
  p.rec = rec;
  p.bytes = encodeRecord(rec);
  const tasks = gangTasks(rec);
  if (tasks.length > 0) p.tasks = tasks;
}

/** A page of {@link Queue.getJobsPage}. */
export interface JobsPage {
  /** The jobs, in the order asked for. */
  jobs: Job[];
  /** The cursor of the next page (opaque), or null when the list ended. */
  next: string | null;
  /** `'index'`: read from the lists by state; `'scan'`: every record was read. */
  source: 'index' | 'scan';
}

type PageCursor = { kind: 'i'; pos: number } | { kind: 's'; zxid: bigint; id: string };

/** Checks {@link Queue.getJobsPage}'s options. */
function parsePageOptions(opts: {
  state: JobState;
  limit?: number;
  order?: 'newest' | 'oldest';
  cursor?: string | null;
}): { state: JobState; limit: number; order: 'newest' | 'oldest'; cursor: PageCursor | null } {
  if (typeof opts !== 'object' || opts === null) throw new JobValidationError('options', 'expected an object');
  const { state, limit = 50, order = 'newest', cursor = null } = opts;
  if (!(JOB_STATES as readonly unknown[]).includes(state)) {
    throw new JobValidationError('state', `unknown state ${JSON.stringify(state)} (one of ${JOB_STATES.join(', ')})`);
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new JobValidationError('limit', `expected an integer from 1 to 1000, got ${JSON.stringify(limit)}`);
  }
  if (order !== 'newest' && order !== 'oldest') {
    throw new JobValidationError('order', `expected 'newest' or 'oldest', got ${JSON.stringify(order)}`);
  }
  if (cursor === null) return { state, limit, order, cursor: null };
  const bad = () =>
    new JobValidationError('cursor', `not a cursor of a page in order ${order}: ${JSON.stringify(cursor)}`);
  if (typeof cursor !== 'string') throw bad();
  const m = /^i:([no]):(\d{1,15})$/.exec(cursor) ?? /^s:([no]):(\d{1,20}):(.+)$/s.exec(cursor);
  if (!m || m[1] !== order[0]) throw bad();
  if (cursor.startsWith('i:')) return { state, limit, order, cursor: { kind: 'i', pos: Number(m[2]) } };
  return { state, limit, order, cursor: { kind: 's', zxid: BigInt(m[2]!), id: m[3]! } };
}
