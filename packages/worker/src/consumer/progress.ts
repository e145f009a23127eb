/**
 * Stored progress: `ctx.progress(value)` writes `progress/<bucket>/<jobId>` — a znode of its own,
 * so the record's version (the fencing token) never moves while the job runs — fenced by the
 * holder's znode (a holder whose session is gone writes nothing), with a `progress` event in the
 * same multi (`engine/event-log.ts`). Writes of one run are
 * serialised and coalesced (the latest value wins); none is made once the handler returned.
 */
import { NoNodeError, TransactionError, type ZkClient } from '@zkjobs/core';
import { JobValidationError } from '../errors.js';
import { isHolderFenceFailure, progressOps } from '../engine/ops.js';
import { PROGRESS, bucketOf, progressPath } from '../layout.js';
import { ensureDirOnce } from '../util.js';
import type { ActiveJob, ConsumerContext } from './context.js';

/** Largest stored progress value, bytes of JSON. */
export const MAX_PROGRESS_BYTES = 65_536;

/** The stored form of a progress value: `{ value, token, attempt, at }`. */
export interface StoredProgress {
  value: unknown;
  /** The fencing token of the claim that reported it. */
  token: number;
  attempt: number;
  /** When it was reported, ms since the epoch (the worker's clock). */
  at: number;
}

/**
 * Checks a progress value.
 * @throws JobValidationError on field `progress` when it is not JSON or over {@link MAX_PROGRESS_BYTES}
 */
export function encodeProgress(p: StoredProgress): Buffer {
  let json: string | undefined;
  try {
    json = JSON.stringify(p);
  } catch (err) {
    throw new JobValidationError('progress', 'is not JSON-serialisable', { cause: err });
  }
  if (json === undefined || p.value === undefined) throw new JobValidationError('progress', 'is not JSON-serialisable');
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_PROGRESS_BYTES) {
    throw new JobValidationError('progress', `is ${bytes} bytes, over the cap of ${MAX_PROGRESS_BYTES} bytes`);
  }
  return Buffer.from(json);
}

/** The progress writer of one run. */
export class ProgressWriter {
  private pending: Buffer | null = null;
  private running: Promise<void> | null = null;
  private exists = false;
  /** A value was stored by this run. */
  wrote = false;
  /** No more writes (the handler returned, or the claim is gone). */
  closed = false;

  constructor(
    private readonly ctx: ConsumerContext,
    private readonly a: ActiveJob,
  ) {}

  /** Stores `data` (coalesced with writes in flight); resolves when it is written or dropped. */
  write(data: Buffer): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.pending = data;
    this.running ??= this.loop().finally(() => (this.running = null));
    return this.running;
  }

  /** Resolves when no write is in flight. */
  async drain(): Promise<void> {
    while (this.running) await this.running;
  }

  private async loop(): Promise<void> {
    const { client } = this.ctx;
    const path = progressPath(this.a.id);
    while (this.pending && !this.closed) {
      const data = this.pending;
      this.pending = null;
      try {
        await ensureDirOnce(client, `${PROGRESS}/${bucketOf(this.a.id)}`);
        for (let tries = 0; tries < 2; tries++) {
          const tx = progressOps(client, this.a.worker, path, data, this.exists, {
            id: this.a.id,
            type: this.a.rec.type,
            attemptsMade: this.a.rec.attemptsMade,
            value: (JSON.parse(data.toString('utf8')) as StoredProgress).value,
          });
          try {
            await tx.commit();
            this.exists = true;
            this.wrote = true;
            break;
          } catch (err) {
            if (isHolderFenceFailure(err)) {
              this.closed = true;
              return;
            }
            // Created by an earlier attempt (exists), or deleted meanwhile (no node): the other op.
            if (err instanceof TransactionError && tries === 0) {
              this.exists = !this.exists;
              continue;
            }
            throw err;
          }
        }
      } catch (err) {
        if (!(err instanceof NoNodeError)) this.ctx.reportError(err, 'could not store progress', { jobId: this.a.id });
      }
    }
  }
}

/** Reads a job's stored progress value (undefined when none). */
export async function readProgress(client: ZkClient, jobId: string): Promise<unknown> {
  try {
    const { data } = await client.getData(progressPath(jobId));
    return (JSON.parse(data.toString('utf8')) as StoredProgress).value;
  } catch (err) {
    if (err instanceof NoNodeError || err instanceof SyntaxError) return undefined;
    throw err;
  }
}

/** Deletes a job's stored progress (best effort: a missing one is fine). */
export function deleteProgress(client: ZkClient, jobId: string): Promise<void> {
  return client.delete(progressPath(jobId)).catch(() => undefined);
}
