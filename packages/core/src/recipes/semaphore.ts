/**
 * A distributed counting semaphore: at most `maxLeases` holders at once — the lease rule of
 * Apache Curator's `InterProcessSemaphore` (the `maxLeases` lowest nodes hold) on the shared
 * engine, with Kazoo's `Semaphore` surface (one lease per object).
 *
 * Status: **beta**.
 *
 * Contenders create `EPHEMERAL_SEQUENTIAL` nodes `<path>/<prefix>NNNNNNNNNN`; the `maxLeases`
 * lowest hold a lease, and a waiter at place `i` watches only the node at place `i - maxLeases`
 * (one watcher per node: no herd). Every participant of one path must use the same
 * `maxLeases`. A lease whose session is lost is reported by a `lost` event and an aborted
 * {@link Semaphore.signal}, as for {@link Mutex}.
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { LockInternals, SequentialLock, standardLockDriver } from './lock-internals.js';

/** Options of {@link Semaphore}. */
export interface SemaphoreOptions {
  /** Name prefix of the lease nodes. @defaultValue `'lease-'` */
  prefix?: string;
  /** Payload of this holder's node (e.g. who holds the lease). @defaultValue empty */
  data?: Buffer | string;
}

/**
 * A semaphore with `maxLeases` leases. One `Semaphore` object holds at most one lease:
 * `acquire()` while holding returns `true` without taking another. Events: see
 * {@link SequentialLockEvents}.
 */
export class Semaphore extends SequentialLock {
  /** The number of leases (the same for every participant of the path). */
  readonly maxLeases: number;

  /**
   * @param client - a connected ZkClient
   * @param path - the semaphore's znode (created with parents on first use)
   * @param maxLeases - how many holders at once (integer ≥ 1)
   * @param opts - node prefix and payload
   * @throws RangeError for a bad `maxLeases`; InvalidPathError for a bad path
   */
  constructor(client: ZkClient, path: string, maxLeases: number, opts: SemaphoreOptions = {}) {
    const prefix = opts.prefix ?? 'lease-';
    const data = typeof opts.data === 'string' ? Buffer.from(opts.data) : opts.data;
    super(new LockInternals(client, path, prefix, standardLockDriver([prefix], maxLeases), data), false);
    this.maxLeases = maxLeases;
  }

  /** The nodes that hold a lease now (at most `maxLeases`), lowest sequence first. */
  async getLeaseHolders(): Promise<string[]> {
    return (await this.getParticipantNodes()).slice(0, this.maxLeases);
  }
}
