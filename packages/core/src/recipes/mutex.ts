/**
 * A distributed mutual-exclusion lock, re-entrant for its holder — Apache Curator's
 * `InterProcessMutex`, ZooKeeper's *Recipes and Solutions* "Locks", Kazoo's `Lock`.
 *
 * Status: **beta**.
 *
 * Contenders create `EPHEMERAL_SEQUENTIAL` nodes `<path>/<prefix>NNNNNNNNNN`; the lowest holds
 * the lock, every other watches only the node just before it (see {@link LockInternals}).
 * Re-entrancy is per `Mutex` object: the holder's second `acquire()` counts up and needs a
 * matching `release()`. Two tasks of one process that must exclude each other use two `Mutex`
 * objects (they then contend through ZooKeeper like two processes).
 *
 * If the holder's session may be gone — the client goes `lost`, or stays `suspended` for a
 * sixth of the session timeout (the client notices silence 2/3 of a timeout late, so the server
 * may expire the session a quarter of a timeout after `suspended`) — the mutex emits `lost` and aborts
 * {@link Mutex.signal}: stop the guarded work then, as another client may acquire the lock
 * once the server expires the session. Call `release()` afterwards in every case.
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { LockInternals, SequentialLock, standardLockDriver } from './lock-internals.js';

/** Options of {@link Mutex}. */
export interface MutexOptions {
  /** Name prefix of the contender nodes. @defaultValue `'lock-'` */
  prefix?: string;
  /** Payload of this contender's node (e.g. who holds it). @defaultValue empty */
  data?: Buffer | string;
}

/** A re-entrant distributed mutex on a znode path. Events: see {@link SequentialLockEvents}. */
export class Mutex extends SequentialLock {
  /**
   * @param client - a connected ZkClient
   * @param path - the lock's znode (created with parents on first use)
   * @param opts - node prefix and payload
   * @throws InvalidPathError for a bad path
   */
  constructor(client: ZkClient, path: string, opts: MutexOptions = {}) {
    const prefix = opts.prefix ?? 'lock-';
    const data = typeof opts.data === 'string' ? Buffer.from(opts.data) : opts.data;
    super(new LockInternals(client, path, prefix, standardLockDriver([prefix], 1), data), true);
  }
}
