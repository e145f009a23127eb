/**
 * What the parts of the leader's scheduler share: the client, the fence (its znode and epoch),
 * the round's triggers and ZooKeeper's clock. The scheduler (`scheduler.ts`) owns the
 * lifecycle; its parts — the ready queue, the worker pool, gangs, retention — take this context.
 */
import type { ZkClient } from '@zkjobs/core';
import type { Logger } from 'pino';
import type { LeaderFence } from '../engine/ops.js';
import { readRecord, type ReadRecord } from '../engine/record.js';
import { CorruptRecordError } from '../errors.js';

/** Counts of one leader, for tests and metrics (`Worker.stats()`). */
export interface SchedulerCounters {
  /** Jobs assigned. */
  assigned: number;
  /** Jobs requeued from dead workers. */
  requeued: number;
  /** Jobs of dead workers that had used their last attempt, ended dead. */
  lost: number;
  /** Scheduling multis committed. */
  multis: number;
  /** Jobs claimed for this worker's own idle consumer inside an assignment multi. */
  localClaims: number;
  /** Of those, jobs whose records were read with their markers (no read of their own). */
  prefetchedClaims: number;
}

/** Shared by the scheduler's parts. */
export interface LeaderContext {
  readonly client: ZkClient;
  readonly log: Logger;
  /** This leader's znode name (`w-…`). */
  readonly self: string;
  /** The fence of every leader write (valid once the epoch is taken). */
  readonly fence: LeaderFence;
  readonly counters: SchedulerCounters;
  /** True once the scheduler stopped (deposed or closing): parts write nothing more. */
  stopped(): boolean;
  /** Runs a round soon (coalesced with one in progress). */
  kick(): void;
  /** Runs a round in `ms` ms. */
  later(ms: number): void;
  /** ZooKeeper's clock now, ms since the epoch (learnt from the mtime of the leader's own write). */
  serverNow(): number;
  /** Stops scheduling: a fence check failed. */
  deposed(reason: string): void;
  /**
   * A background failure the scheduler retries (a round, a requeue): logged at warn and emitted
   * as the worker's `error` event when the worker has an `error` listener.
   */
  reportError(err: unknown, msg: string): void;
}

/** Why the leader stopped scheduling. */
export class DeposedError extends Error {}

/**
 * Reads a record for a leader's decision. A record that is not a job record is reported (the
 * worker's `error` event) and read as missing: the leader never rewrites it, and never retries it.
 * @returns the record, or null when it is missing or corrupt
 */
export async function readForLeader(ctx: LeaderContext, id: string): Promise<ReadRecord | null> {
  try {
    return await readRecord(ctx.client, id);
  } catch (err) {
    if (!(err instanceof CorruptRecordError)) throw err;
    ctx.reportError(err, 'job record is not a record (left alone)');
    return null;
  }
}
