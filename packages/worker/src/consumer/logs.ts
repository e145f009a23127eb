/**
 * Stored job logs: `ctx.log(line)` appends to `logs/<bucket>/<jobId>` — a znode of its own, as
 * progress (`progress.ts`), so the record's version (the fencing token) never moves while the job
 * runs — each write a multi fenced by the holder's znode (`engine/ops.ts`, `logOps`: a holder
 * whose session is gone writes nothing). Writes of one run are serialised and coalesced (lines
 * logged while a write is in flight go in the next one, in order); none is accepted once the
 * handler returned, and the consumer drains the writer before it writes the completion.
 *
 * Bounded: at most `keepLogs` lines per job and {@link MAX_LOGS_BYTES} in all; the oldest lines
 * go first and `dropped` counts them. A line over {@link MAX_LOG_LINE_BYTES} is refused.
 */
import { NoNodeError, TransactionError, type ZkClient } from '@zkjobs/core';
import { JobValidationError } from '../errors.js';
import { isHolderFenceFailure, logOps } from '../engine/ops.js';
import { LOGS, bucketOf, logsPath } from '../layout.js';
import { ensureDirOnce } from '../util.js';
import type { ActiveJob, ConsumerContext } from './context.js';

/** Largest log line, bytes of UTF-8 (8 KiB). */
export const MAX_LOG_LINE_BYTES = 8192;
/** Largest stored logs znode, bytes of JSON (512 KiB): the oldest lines are dropped to stay under it. */
export const MAX_LOGS_BYTES = 524_288;
/** Lines kept per job when the Worker's `keepLogs` is not given. */
export const DEFAULT_KEEP_LOGS = 100;

/** One stored log line. */
export interface StoredLogLine {
  /** When it was logged, ms since the epoch (the worker's clock). */
  at: number;
  /** The attempt that logged it (1-based). */
  attempt: number;
  /** The fencing token of the claim that logged it. */
  token: number;
  /** The line as logged. */
  line: string;
}

/** The stored form of a job's logs: the kept lines, oldest first, and how many older ones were dropped. */
export interface StoredLogs {
  lines: StoredLogLine[];
  /** Lines dropped to stay within `keepLogs` and {@link MAX_LOGS_BYTES}. */
  dropped: number;
}

/**
 * Checks a log line.
 * @throws JobValidationError on field `log` when it is not a string or over {@link MAX_LOG_LINE_BYTES}
 */
export function checkLogLine(line: unknown): string {
  if (typeof line !== 'string') throw new JobValidationError('log', `must be a string, got ${typeof line}`);
  const bytes = Buffer.byteLength(line);
  if (bytes > MAX_LOG_LINE_BYTES) {
    throw new JobValidationError('log', `is ${bytes} bytes, over the cap of ${MAX_LOG_LINE_BYTES} bytes`);
  }
  return line;
}

/**
 * `logs` with `added` appended, then the oldest lines dropped (and counted) until at most `keep`
 * remain and the encoding is at most {@link MAX_LOGS_BYTES}.
 */
export function appendLogs(logs: StoredLogs, added: readonly StoredLogLine[], keep: number): Buffer {
  const all = [...logs.lines, ...added];
  let first = Math.max(0, all.length - keep);
  const sizes = all.map((l) => Buffer.byteLength(JSON.stringify(l)) + 1);
  // `{"lines":[`, `],"dropped":`, the count (≤ 16 digits), `}`; a comma per line is in its size.
  const frame = 48;
  let total = frame + sizes.slice(first).reduce((s, n) => s + n, 0);
  while (first < all.length && total > MAX_LOGS_BYTES) total -= sizes[first++]!;
  const next: StoredLogs = { lines: all.slice(first), dropped: logs.dropped + first };
  return Buffer.from(JSON.stringify(next));
}

/** Reads stored logs from a znode's data. @throws SyntaxError for data that is not stored logs */
export function decodeLogs(data: Buffer): StoredLogs {
  const doc = JSON.parse(data.toString('utf8')) as Partial<StoredLogs>;
  if (!Array.isArray(doc.lines) || typeof doc.dropped !== 'number') throw new SyntaxError('not stored logs');
  return { lines: doc.lines, dropped: doc.dropped };
}

/** The log writer of one run. */
export class LogWriter {
  private pending: StoredLogLine[] = [];
  private running: Promise<void> | null = null;
  /** The stored logs as last read or written, and their version (undefined: no znode). */
  private known: { logs: StoredLogs; version: number | undefined } | null = null;
  /** A line was stored by this run. */
  wrote = false;
  /** No more lines are accepted (the handler returned). */
  closed = false;
  /** The holder's znode is gone: nothing more is written. */
  private fenced = false;

  constructor(
    private readonly ctx: ConsumerContext,
    private readonly a: ActiveJob,
  ) {}

  /** Appends `line` (with the lines in flight); resolves when it is written or dropped. */
  write(line: StoredLogLine): Promise<void> {
    if (this.closed || this.fenced) return Promise.resolve();
    this.pending.push(line);
    this.running ??= this.loop().finally(() => (this.running = null));
    return this.running;
  }

  /** Resolves when no write is in flight (every accepted line written or dropped). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    const { client } = this.ctx;
    while (this.pending.length > 0 && !this.fenced) {
      const batch = this.pending;
      this.pending = [];
      try {
        await ensureDirOnce(client, `${LOGS}/${bucketOf(this.a.id)}`);
        for (let tries = 0; tries < 2; tries++) {
          this.known ??= await this.read();
          const data = appendLogs(this.known.logs, batch, this.ctx.keepLogs);
          try {
            const res = await logOps(client, this.a.worker, this.a.id, data, this.known.version).commit();
            this.known = { logs: decodeLogs(data), version: res[res.length - 1]?.stat?.version ?? 0 };
            this.wrote = true;
            break;
          } catch (err) {
            if (isHolderFenceFailure(err)) {
              this.fenced = true;
              this.pending = [];
              return;
            }
            // Changed, created or deleted since it was read (an earlier attempt, a removal): read it again.
            this.known = null;
            if (err instanceof TransactionError && tries === 0) continue;
            throw err;
          }
        }
      } catch (err) {
        if (!(err instanceof NoNodeError)) this.ctx.reportError(err, 'could not store log lines', { jobId: this.a.id });
      }
    }
  }

  private async read(): Promise<{ logs: StoredLogs; version: number | undefined }> {
    try {
      const { data, stat } = await this.ctx.client.getData(logsPath(this.a.id));
      return { logs: decodeLogs(data), version: stat.version };
    } catch (err) {
      if (err instanceof NoNodeError) return { logs: { lines: [], dropped: 0 }, version: undefined };
      throw err; // SyntaxError too: a znode that is not stored logs is left as it is (reported)
    }
  }
}

/** Reads a job's stored logs (null when none). */
export async function readLogs(client: ZkClient, jobId: string): Promise<StoredLogs | null> {
  try {
    const { data } = await client.getData(logsPath(jobId));
    return decodeLogs(data);
  } catch (err) {
    if (err instanceof NoNodeError || err instanceof SyntaxError) return null;
    throw err;
  }
}

/** Deletes a job's stored logs (best effort: a missing one is fine). */
export function deleteLogs(client: ZkClient, jobId: string): Promise<void> {
  return client.delete(logsPath(jobId)).catch(() => undefined);
}
