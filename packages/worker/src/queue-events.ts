/**
 * `QueueEvents`: the job events of a namespace, followed from any process (BullMQ's
 * `QueueEvents`). The events are those the multis write into their count deltas
 * (`engine/event-log.ts`), read in sequence (= commit) order through one re-arming child watch
 * on `counts/` and one read per delta.
 *
 * Guarantee: every event in commit order, each once, or a `gap` event that names the range
 * lost. Deltas are deleted by the leader's fold once more than the Worker's `maxEventDeltas`
 * are kept; the summary records the highest sequence deleted (`pruned`), so a listener that
 * was cut off, fell behind or starts from an old cursor sees that deltas after its cursor are
 * gone, emits `gap`, and goes on from the oldest delta present.
 */
import { NoNodeError, ZkClient, type WatchHandle, type ZkClientOptions } from '@zkjobs/core';
import type { Logger } from 'pino';
import { z } from 'zod';
import { decodeDelta, decodeSummary, deltasOf } from './engine/counts.js';
import type { JobEvent, JobEventName } from './engine/event-log.js';
import { EVENT_VALUE_MAX_BYTES } from './engine/event-log.js';
import { TypedEmitter } from './events.js';
import type { JobState } from './job.js';
import { COUNTS, DEFAULT_NAMESPACE } from './layout.js';
import { defaultLogger } from './logger.js';
import { namespaceSchema, zodToValidationError } from './options.js';
import { backoffStep } from './util.js';

export { EVENT_VALUE_MAX_BYTES };

/** Where a {@link QueueEvents} starts: `'now'`, `'earliest'` (the oldest delta kept), or a cursor. */
export type QueueEventsFrom = 'now' | 'earliest' | number;

/** Options of {@link QueueEvents}. */
export interface QueueEventsOptions {
  /** Root znode of the zkjobs cluster. @defaultValue `'/zkjobs/default'` */
  namespace?: string;
  /**
   * Where to start: `'now'` — the events committed after the start; `'earliest'` — from the
   * oldest delta still kept (no `gap` for what was pruned before); a cursor (an integer ≥ -1, a
   * {@link QueueEvents.cursor} saved earlier) — the events after it, or `gap` first if some of
   * them were pruned.
   * @defaultValue `'now'`
   */
  from?: QueueEventsFrom;
  /** Session timeout when QueueEvents makes its own connection, ms. @defaultValue 10000 */
  sessionTimeoutMs?: number;
  /**
   * Options of the connection made when given a connect string (`auth`, `defaultAcl`, `tls`,
   * `connectTimeoutMs`, …; see `ZkClientOptions`). Ignored when given a ZkClient.
   * @defaultValue none
   */
  zk?: Omit<ZkClientOptions, 'namespace' | 'sessionTimeoutMs'>;
  /** pino logger. @defaultValue {@link defaultLogger} */
  logger?: Logger;
}

/** What every job event says. */
export interface QueueEvent {
  jobId: string;
  /** The job type. */
  type: string;
  /** Attempts started when it happened. */
  attemptsMade: number;
  /** The state before (absent for a submit). */
  prev?: JobState;
}

/** `completed`: the record completed. */
export interface CompletedEvent extends QueueEvent {
  /** The handler's result, when its JSON is at most {@link EVENT_VALUE_MAX_BYTES} bytes. */
  returnvalue?: unknown;
  /** The result was larger and is not in the event: read `queue.getJob(jobId)`. */
  returnvalueOmitted?: true;
}

/** `failed`, `dead`, `retrying`: an attempt failed. */
export interface FailedEvent extends QueueEvent {
  /** The error message, when at most {@link EVENT_VALUE_MAX_BYTES} bytes of JSON. */
  failedReason?: string;
  /** The message was larger and is not in the event: read `queue.getJob(jobId)`. */
  failedReasonOmitted?: true;
}

/** `retrying`: an attempt failed with attempts left. */
export interface RetryingEvent extends FailedEvent {
  /** Its wait before the next attempt, ms (ZooKeeper's clock). */
  delay?: number;
}

/** `delayed`: submitted with a delay. */
export interface DelayedEvent extends QueueEvent {
  /** ms. */
  delay?: number;
}

/** `progress`: the handler reported progress. */
export interface ProgressEvent extends QueueEvent {
  /** The value reported, when at most {@link EVENT_VALUE_MAX_BYTES} bytes of JSON. */
  data?: unknown;
  /** The value was larger and is not in the event: read `queue.getJob(jobId)`. */
  dataOmitted?: true;
}

/** `removed`: the record was deleted (retention). */
export interface RemovedEvent extends Omit<QueueEvent, 'attemptsMade'> {
  /** Absent when the deleting writer did not know it (a prune by age). */
  attemptsMade?: number;
  /** Set when the job's own last write deleted it (`removeOnComplete`/`removeOnFail: true`). */
  withOutcome?: true;
}

/**
 * Events lost: the deltas with a sequence in `(from, to]` were deleted before this listener read
 * them. Re-read what you follow: `queue.getJobCounts()`, `queue.getJob(id)`.
 */
export interface GapEvent {
  /** The cursor before the gap (the last sequence delivered; -1: none). */
  from: number;
  /** The highest sequence lost: the cursor after the gap. */
  to: number;
  /** Why, in words. */
  reason: string;
}

/**
 * Events of a {@link QueueEvents}, with their listener arguments. The second argument of a job
 * event is its id, `<sequence>-<index>`: the delta's sequence and the event's place in it.
 */
export interface QueueEventsEvents {
  waiting: [event: QueueEvent, id: string];
  delayed: [event: DelayedEvent, id: string];
  active: [event: QueueEvent, id: string];
  progress: [event: ProgressEvent, id: string];
  completed: [event: CompletedEvent, id: string];
  failed: [event: FailedEvent, id: string];
  retrying: [event: RetryingEvent, id: string];
  dead: [event: FailedEvent, id: string];
  /** A running job was requeued because its worker was lost. */
  stalled: [event: QueueEvent, id: string];
  cancelled: [event: QueueEvent, id: string];
  removed: [event: RemovedEvent, id: string];
  gap: [gap: GapEvent];
  /** A read failed (retried), or a listener threw (the event is not delivered again). */
  error: [error: Error];
}

/** The job events, in the order a multi can make them. */
export const QUEUE_EVENT_NAMES: readonly JobEventName[] = [
  'waiting',
  'delayed',
  'active',
  'progress',
  'completed',
  'failed',
  'retrying',
  'dead',
  'stalled',
  'cancelled',
  'removed',
];

const optionsSchema = z.strictObject({
  namespace: namespaceSchema.optional(),
  from: z.union([z.literal('now'), z.literal('earliest'), z.number().int().min(-1)]).optional(),
  sessionTimeoutMs: z.number().int().min(1).optional(),
  zk: z.record(z.string(), z.unknown()).optional(),
  logger: z.any().optional(),
});

/** Deltas read at once. */
const READ_AHEAD = 32;

/** The listener payload of a decoded event. */
function payloadOf(e: JobEvent): Record<string, unknown> {
  const p: Record<string, unknown> = { jobId: e.jobId, type: e.type };
  if (e.attemptsMade !== null) p['attemptsMade'] = e.attemptsMade;
  if (e.prev) p['prev'] = e.prev;
  const key =
    e.event === 'completed'
      ? 'returnvalue'
      : e.event === 'progress'
        ? 'data'
        : e.event === 'failed' || e.event === 'dead' || e.event === 'retrying'
          ? 'failedReason'
          : undefined;
  if (key !== undefined) {
    if (e.value !== undefined) p[key] = e.value;
    if (e.omitted) p[`${key}Omitted`] = true;
  }
  if (e.delay !== undefined) p['delay'] = e.delay;
  return p;
}

/**
 * Follows the job events of a namespace. Starts at once; {@link waitUntilReady} resolves when
 * its starting point is set and its watch is armed.
 *
 * ```ts
 * const events = new QueueEvents('127.0.0.1:2181', { namespace: '/zkjobs/default' });
 * events.on('completed', ({ jobId, returnvalue }) => console.log(jobId, returnvalue));
 * events.on('gap', ({ from, to }) => console.warn(`events ${from}–${to} lost: re-read the jobs`));
 * await events.waitUntilReady();
 * ```
 *
 * Cost: one child watch on `counts/` (each change re-lists it: at most `maxEventDeltas` + about
 * one second of deltas, ~13 bytes a name) and one read per delta (one multi's events), plus a
 * read of the summary when no delta at or before its cursor is left.
 */
export class QueueEvents extends TypedEmitter<QueueEventsEvents> {
  /** The namespace root. */
  readonly namespace: string;
  private readonly log: Logger;
  private readonly rootPromise: Promise<ZkClient>;
  private readonly ownsClient: boolean;
  private readonly from: QueueEventsFrom;
  private client: ZkClient | null = null;
  private watch: WatchHandle | null = null;
  private seq: number | null = null;
  private latest: string[] | null = null;
  private draining: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private closed = false;
  private readonly ready: Promise<void>;
  private markReady!: () => void;

  /**
   * @param connection - a {@link ZkClient} (shared, not closed by QueueEvents) or a connect
   *   string (QueueEvents connects, and closes the connection in {@link close})
   * @param opts - options
   * @throws JobValidationError for a bad option (nothing is read or written)
   */
  constructor(connection: ZkClient | string, opts: QueueEventsOptions = {}) {
    super();
    const parsed = optionsSchema.safeParse(opts);
    if (!parsed.success) throw zodToValidationError('options', parsed.error);
    this.namespace = opts.namespace ?? DEFAULT_NAMESPACE;
    this.from = opts.from ?? 'now';
    this.log = opts.logger ?? defaultLogger();
    this.ownsClient = typeof connection === 'string';
    this.rootPromise =
      typeof connection === 'string'
        ? ZkClient.connect(connection, { ...opts.zk, sessionTimeoutMs: opts.sessionTimeoutMs ?? 10_000 })
        : Promise.resolve(connection);
    const armed = new Promise<void>((r) => (this.markReady = r));
    this.ready = this.start().then(() => armed);
    this.ready.catch(() => undefined);
  }

  /**
   * The cursor: the sequence of the last delta whose events have all been emitted (-1: none
   * yet; null before the start). Pass it as `from` to resume after it.
   */
  get cursor(): number | null {
    return this.seq;
  }

  /**
   * Resolves when the starting point is set and the events after it are being delivered.
   * @throws the connection error when QueueEvents made its own connection and it failed
   */
  waitUntilReady(): Promise<void> {
    return this.ready;
  }

  /** Stops: removes the watch, and ends the connection QueueEvents made. No event is emitted after. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.watch?.close();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.markReady();
    await this.draining?.catch(() => undefined);
    const root = await this.rootPromise.catch(() => null);
    if (this.ownsClient) await root?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private async start(): Promise<void> {
    const root = await this.rootPromise;
    if (this.closed) return;
    const client = root.usingNamespace(this.namespace);
    this.client = client;
    if (this.from === 'now') {
      const listed = deltasOf(await this.children());
      this.seq = listed.at(-1)?.seq ?? (await this.prunedMark());
    } else if (this.from === 'earliest') {
      this.seq = await this.prunedMark();
    } else {
      this.seq = this.from;
    }
    if (this.closed) return;
    this.watch = client.watchChildren(COUNTS, (children) => this.offer(children), {
      onError: (e) => this.report(e, 'events watch failed'),
    });
  }

  private async children(): Promise<string[]> {
    try {
      return (await this.client!.getChildren(COUNTS)).children;
    } catch (err) {
      if (err instanceof NoNodeError) return [];
      throw err;
    }
  }

  /** The highest delta sequence deleted, from the summary (-1 when none is recorded). */
  private async prunedMark(): Promise<number> {
    try {
      const { data, stat } = await this.client!.getData(COUNTS);
      return decodeSummary(data, stat.version).pruned;
    } catch (err) {
      if (err instanceof NoNodeError || err instanceof SyntaxError) return -1;
      throw err;
    }
  }

  private offer(children: string[]): void {
    if (this.closed) return;
    this.latest = children;
    this.draining ??= this.drain().finally(() => (this.draining = null));
  }

  private async drain(): Promise<void> {
    while (this.latest && !this.closed) {
      const children = this.latest;
      this.latest = null;
      try {
        await this.pass(children);
        this.failures = 0;
        this.markReady();
      } catch (err) {
        if (this.closed) return;
        this.report(err, 'reading events failed (retrying)');
        this.retryLater();
        return;
      }
    }
  }

  /** After a failed pass: lists again after a backoff (the watch may not fire again by itself). */
  private retryLater(): void {
    if (this.retryTimer || this.closed) return;
    this.retryTimer = setTimeout(
      () => {
        this.retryTimer = null;
        this.children().then(
          (c) => this.offer(c),
          (e: unknown) => {
            this.failures++;
            this.report(e, 'listing events failed (retrying)');
            this.retryLater();
          },
        );
      },
      backoffStep(this.failures++, 100, 2000),
    );
    this.retryTimer.unref();
  }

  /** Emits the events of the deltas in `children` after the cursor, in order. */
  private async pass(children: readonly string[]): Promise<void> {
    const listed = deltasOf(children);
    // Deltas are deleted oldest first: while one at or before the cursor is left, none after it is gone.
    if (listed.length === 0 || listed[0]!.seq > this.seq!) await this.checkGap();
    let todo = listed.filter((d) => d.seq > this.seq!);
    while (todo.length > 0 && !this.closed) {
      const chunk = todo.slice(0, READ_AHEAD);
      todo = todo.slice(READ_AHEAD);
      const read = await Promise.all(
        chunk.map(({ name }) =>
          this.client!.getData(`${COUNTS}/${name}`).then(
            (r) => r.data,
            (err: unknown) => {
              if (err instanceof NoNodeError) return null;
              throw err;
            },
          ),
        ),
      );
      for (let i = 0; i < chunk.length && !this.closed; i++) {
        const { seq } = chunk[i]!;
        if (seq <= this.seq!) continue;
        const data = read[i];
        if (data === null || data === undefined) {
          // Deleted since the listing: pruned (the summary says through where), or by hand.
          await this.checkGap();
          if (seq > this.seq!) this.gap(seq, `count delta ${seq} was deleted before it was read`);
          continue;
        }
        let events: JobEvent[];
        try {
          events = decodeDelta(data).events;
        } catch (err) {
          this.report(err, `count delta ${seq} is not JSON (its events are skipped)`);
          this.gap(seq, `count delta ${seq} could not be decoded`);
          continue;
        }
        events.forEach((e, idx) => this.deliver(e, `${seq}-${idx}`));
        this.seq = seq;
      }
      if (this.closed) return;
      todo = todo.filter((d) => d.seq > this.seq!);
    }
  }

  /** Emits `gap` when deltas after the cursor were pruned (the summary's mark is past it). */
  private async checkGap(): Promise<void> {
    const pruned = await this.prunedMark();
    if (pruned > this.seq!) {
      this.gap(
        pruned,
        `count deltas after ${this.seq} through ${pruned} were pruned by the event retention (the Worker's ` +
          'maxEventDeltas) before they were read; re-read what you follow: queue.getJobCounts(), queue.getJob(id)',
      );
    }
  }

  private gap(to: number, reason: string): void {
    const from = this.seq!;
    this.seq = to;
    this.log.warn({ from, to, namespace: this.namespace }, 'events lost: gap');
    this.safeEmit(() => this.emit('gap', { from, to, reason }));
  }

  private deliver(e: JobEvent, id: string): void {
    const p = payloadOf(e);
    this.safeEmit(() => (this.emit as (n: string, ...a: unknown[]) => boolean)(e.event, p, id));
    if (e.removed && e.event !== 'removed') {
      const r: Record<string, unknown> = { jobId: e.jobId, type: e.type, withOutcome: true };
      if (e.attemptsMade !== null) r['attemptsMade'] = e.attemptsMade;
      r['prev'] = e.event === 'completed' || e.event === 'failed' || e.event === 'dead' ? e.event : e.prev;
      this.safeEmit(() => this.emit('removed', r as unknown as RemovedEvent, id));
    }
  }

  /** A listener that throws does not stop the stream (nor get the event again): it is reported. */
  private safeEmit(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report(err, 'an events listener threw');
    }
  }

  private report(err: unknown, msg: string): void {
    if (this.closed) return;
    this.log.warn({ err, namespace: this.namespace }, msg);
    if (this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }
}
