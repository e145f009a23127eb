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
 * **Other libraries.** Every lock node that Curator or Kazoo writes on the path counts as a
 * contender, ordered with ours by its sequence suffix: Curator's `lock-` (`InterProcessMutex`,
 * `_c_<uuid>-lock-NNNNNNNNNN`) and `__READ__`/`__WRIT__`, Kazoo's `__lock__`
 * (`<uuid>__lock__NNNNNNNNNN`: `Lock`, `WriteLock`, `Election`) and `__rlock__`, zkjobs's
 * `read-`/`write-`, and the {@link MutexOptions.extraPatterns}. So a `Mutex` never holds
 * beside a Curator or Kazoo holder. For the other libraries to wait for a `Mutex`:
 * Curator's `InterProcessMutex` sees the default `lock-` nodes as they are; Kazoo's `Lock`
 * sees them with `extra_lock_patterns=["lock-"]`, or sees a `Mutex` made with
 * `prefix: '__lock__'` ({@link KAZOO_NODE_NAMES}) unchanged. Curator and Kazoo do not see
 * each other's nodes without more set-up: see `docs/interop.md`.
 *
 * If the holder's session may be gone — the client goes `lost`, or stays `suspended` for a
 * sixth of the session timeout (the client notices silence 2/3 of a timeout late, so the server
 * may expire the session a quarter of a timeout after `suspended`) — the mutex emits `lost` and aborts
 * {@link Mutex.signal}: stop the guarded work then, as another client may acquire the lock
 * once the server expires the session. Call `release()` afterwards in every case.
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { validatePath } from '../client/paths.js';
import { ALL_LOCK_NAMES, checkPatterns, checkPrefix } from './contenders.js';
import { LockInternals, SequentialLock, standardLockDriver } from './lock-internals.js';
import { checkRecheckMs } from './sequential-nodes.js';

/** Options of {@link Mutex}. */
export interface MutexOptions {
  /**
   * Name prefix of this contender's nodes: `'lock-'` (zkjobs's and Curator's
   * `InterProcessMutex`'s name) or `'__lock__'` (Kazoo's `Lock`, which then sees this contender
   * without `extra_lock_patterns`). Whatever it is, the nodes of every library count.
   * @defaultValue `'lock-'`
   */
  prefix?: string;
  /** Payload of this contender's node (e.g. who holds it). @defaultValue empty */
  data?: Buffer | string;
  /**
   * More node names that count as contenders (as Kazoo's `extra_lock_patterns`, but literal
   * text): any child whose name ends with `<pattern>NNNNNNNNNN`. @defaultValue none
   */
  extraPatterns?: readonly string[];
  /**
   * A waiter that heard nothing for this long lists the contenders again: a safety net, since
   * the watch on its predecessor wakes it. Integer ms, 1 to 2^31 - 1. @defaultValue `2000`
   */
  recheckMs?: number;
}

/** A re-entrant distributed mutex on a znode path. Events: see {@link SequentialLockEvents}. */
export class Mutex extends SequentialLock {
  /**
   * @param client - a connected ZkClient
   * @param path - the lock's znode (created with parents on first use)
   * @param opts - node prefix, payload, extra contender names, re-check period
   * @throws InvalidPathError for a bad path; RangeError for a prefix or an extra pattern that is
   *   empty or contains `/`, or a bad `recheckMs`
   */
  constructor(client: ZkClient, path: string, opts: MutexOptions = {}) {
    validatePath(path);
    const prefix = checkPrefix(`Mutex ${path}`, opts.prefix ?? 'lock-');
    const patterns = [...ALL_LOCK_NAMES, ...checkPatterns(`Mutex ${path}`, opts.extraPatterns)];
    const data = typeof opts.data === 'string' ? Buffer.from(opts.data) : opts.data;
    const recheckMs = checkRecheckMs(`Mutex ${path}`, opts.recheckMs);
    const driver = standardLockDriver([prefix], 1, patterns);
    super(new LockInternals(client, path, prefix, driver, data, recheckMs), true);
  }
}
