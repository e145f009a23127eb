/**
 * Builders for the unit tier: job records, pending entries, markers and ready entries, made by
 * hand (no ZooKeeper). The unit tests import the engine's modules from `packages/worker/src`
 * (they are not exported by `@zkjobs/worker`), so every class they compare with `instanceof`
 * (errors) must come from there too, never from the built package.
 */
import { Transaction, type ZkClient } from '@zkjobs/core';
import type { AttemptRecord, JobRecord, NormalizedJobOptions } from '../../packages/worker/src/job.js';
import type { PendingEntry } from '../../packages/worker/src/layout.js';
import type { Marker, ReadyEntry } from '../../packages/worker/src/scheduler/ready-queue.js';

/** Normalised options with the defaults of `normalizeJobOptions`, overridden by `o`. */
export function opts(o: Partial<NormalizedJobOptions> = {}): NormalizedJobOptions {
  return {
    priority: 0,
    delay: 0,
    attempts: 1,
    removeOnComplete: false,
    removeOnFail: false,
    dependsOn: [],
    parallelism: 1,
    ...o,
  };
}

/** A job record in `waiting` (override anything, `opts` merged with the defaults). */
export function record(o: Omit<Partial<JobRecord>, 'opts'> & { opts?: Partial<NormalizedJobOptions> } = {}): JobRecord {
  const { opts: o2, ...rest } = o;
  return {
    id: 'job-1',
    type: 'email',
    data: { n: 1 },
    state: 'waiting',
    attemptsMade: 0,
    createdAt: 1_000,
    history: [],
    ...rest,
    opts: opts(o2),
  };
}

/** An attempt record (running unless `outcome` says otherwise). */
export function attempt(a: number, token: number, o: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    attempt: a,
    worker: 'w-0000000001',
    process: 'host:1',
    session: 's1',
    token,
    startedAt: 2_000 + a,
    outcome: 'running',
    ...o,
  };
}

/**
 * A record `active` under claim `token` (attempt `attemptsMade`), its running attempt last in
 * its history.
 */
export function active(
  o: Omit<Partial<JobRecord>, 'opts'> & { opts?: Partial<NormalizedJobOptions>; token?: number } = {},
): JobRecord {
  const { token = 5, ...rest } = o;
  const made = rest.attemptsMade ?? 1;
  return record({
    state: 'active',
    attemptsMade: made,
    claim: { worker: 'w-0000000001', session: 's1', token },
    history: [attempt(made, token)],
    ...rest,
  });
}

/** A pending entry. */
export function entry(id: string, o: Partial<PendingEntry> = {}): PendingEntry {
  return { id, type: 'email', priority: 0, attemptsMade: 0, delay: 0, ...o };
}

/** A pending marker as the leader read it. */
export function marker(path: string, entries: PendingEntry[], o: Partial<Marker> = {}): Marker {
  return {
    path,
    version: 0,
    czxid: 100n,
    ctime: 1_000,
    entries,
    order: 0,
    taken: new Set(),
    done: new Set(),
    ...o,
  };
}

/** The ready entries of a marker, one per entry, at their positions. */
export function readyOf(m: Marker): ReadyEntry[] {
  return m.entries.map((e, index) => ({ marker: m, index, entry: e }));
}

/** A client that only builds transactions: committing one rejects (nothing is ever sent). */
export function offlineClient(): ZkClient {
  return { transaction: () => new Transaction(() => Promise.reject(new Error('not sent'))) } as unknown as ZkClient;
}
