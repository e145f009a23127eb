/**
 * The shared engine of the sequential-node lock recipes ({@link Mutex}, {@link ReadWriteLock},
 * {@link Semaphore}), after Apache Curator's `LockInternals` / `StandardLockInternalsDriver`
 * and the "Locks" section of ZooKeeper's *Recipes and Solutions* page.
 *
 * Status: **beta**.
 *
 * Every contender creates an `EPHEMERAL_SEQUENTIAL` node `<base>/<prefix>NNNNNNNNNN` (after a
 * connection loss the client's create finds its own node by `ephemeralOwner`), lists the children,
 * sorts the recipe's nodes — its own and, through {@link LockDriver.patterns}, those that
 * Curator and Kazoo write for the same recipe — by the 10-digit suffix read as a signed 32-bit
 * integer (other children are ignored), and asks a {@link LockDriver} whether it holds the lock and, if not,
 * which single node to watch (no herd). Every wake-up re-lists and re-checks. A contender that
 * times out, is aborted or fails deletes its own node, retrying connection losses; an error of
 * that clean-up is thrown, never swallowed.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import type { ZkClient } from '../client/zk-client.js';
import { basename, joinPath, validatePath } from '../client/paths.js';
import type { WatchEvent } from '../client/watch.js';
import { NoNodeError } from '../errors.js';
import {
  abortReason,
  DEFAULT_RECHECK_MS,
  deleteOwnNode,
  ensureOwnNode,
  isRetryable,
  isSessionGone,
  sortOwn,
  sessionAwareWait,
  timerMs,
  untilConnected,
} from './sequential-nodes.js';

/** A {@link LockDriver}'s verdict for one contender. */
export interface LockVerdict {
  /** True when the contender holds the lock (or one of its leases). */
  acquired: boolean;
  /** When not acquired: the name (not path) of the one sibling to watch for deletion. */
  watch: string | null;
}

/**
 * Decides, from the sorted children, whether a contender holds the lock (Curator's
 * `LockInternalsDriver`).
 */
export interface LockDriver {
  /** Name prefixes of every node that takes part (own names; `_c_<uuid>-` protected forms too). */
  readonly prefixes: readonly string[];
  /**
   * Names written by other libraries that take part as well: any child whose name ends with
   * `<pattern>NNNNNNNNNN` (Kazoo's `extra_lock_patterns` rule, as literal text). Children that
   * match neither `prefixes` nor `patterns` are ignored. @defaultValue none
   */
  readonly patterns?: readonly string[];
  /**
   * @param sorted - the recipe's own children (names), lowest sequence first
   * @param ourName - the contender's node name; always an element of `sorted`
   */
  verdict(sorted: readonly string[], ourName: string): LockVerdict;
}

/**
 * Curator's standard driver: the `maxLeases` lowest nodes hold; any other node watches the
 * node `maxLeases` places before it. With `maxLeases` 1 this is the classic exclusive lock.
 * @param prefixes - the recipe's own name prefixes
 * @param maxLeases - how many hold at once @defaultValue 1
 * @param patterns - other libraries' names that take part too (see {@link LockDriver.patterns}) @defaultValue none
 * @throws RangeError for a `maxLeases` that is not an integer >= 1
 */
export function standardLockDriver(
  prefixes: readonly string[],
  maxLeases = 1,
  patterns: readonly string[] = [],
): LockDriver {
  if (!Number.isInteger(maxLeases) || maxLeases < 1) throw new RangeError(`maxLeases must be an integer >= 1`);
  return {
    prefixes,
    patterns,
    verdict(sorted, ourName) {
      const i = sorted.indexOf(ourName);
      if (i < 0) throw new Error(`lock node ${ourName} is not among the children`);
      if (i < maxLeases) return { acquired: true, watch: null };
      return { acquired: false, watch: sorted[i - maxLeases]! };
    },
  };
}

/** Options of one acquisition attempt. */
export interface AcquireOptions {
  /**
   * Give up after this many ms (counted from the call) and return `false`. Omit to wait
   * without limit; `0` tries once and returns at once if the lock is taken.
   */
  timeoutMs?: number;
  /** Aborting it stops waiting: the call removes its node and rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A node that holds the lock, as returned by {@link LockInternals.attempt}. */
export interface HeldNode {
  /** The contender's node path (relative to the client's namespace). */
  path: string;
  /** The session that created it. */
  sessionId: bigint;
}

/**
 * What {@link SequentialLock} needs from an engine: {@link LockInternals} for the locks, a
 * two-level engine for {@link Semaphore}.
 */
export interface LockEngine {
  /** The client the nodes are made with. */
  readonly client: ZkClient;
  /** The lock's znode. */
  readonly basePath: string;
  /** Watch notifications that woke a waiter so far (diagnostics). */
  readonly watchDeliveries: number;
  /** Waits for the lock; `null` on timeout (nothing left behind). See {@link LockInternals.attempt}. */
  attempt(opts: AcquireOptions): Promise<HeldNode | null>;
  /** Deletes a held node, retrying connection losses. */
  release(path: string): Promise<void>;
  /** Paths of the contender (or holder) nodes, lowest sequence first. */
  participantNodes(): Promise<string[]>;
}

/**
 * The sequential-node engine. One instance per lock base path and driver; it keeps no state
 * of its own between attempts, so several attempts may run at once (each has its own node).
 */
export class LockInternals implements LockEngine {
  private watchDeliveryCount = 0;
  /** The wake-ups of the waits in progress, by the path each watches. */
  private readonly waiting = new Map<string, Set<() => void>>();

  /**
   * @param client - a connected {@link ZkClient}
   * @param basePath - the lock's parent znode (created with parents when missing)
   * @param prefix - the name prefix of this contender's nodes (one of the driver's prefixes)
   * @param driver - decides who holds the lock
   * @param data - payload of each contender node @defaultValue empty
   * @param recheckMs - a waiter that heard nothing for this long lists again (a safety net: the
   *   predecessor's watch wakes it) @defaultValue {@link DEFAULT_RECHECK_MS}
   */
  constructor(
    readonly client: ZkClient,
    readonly basePath: string,
    readonly prefix: string,
    readonly driver: LockDriver,
    private readonly data: Buffer = Buffer.alloc(0),
    readonly recheckMs: number = DEFAULT_RECHECK_MS,
  ) {
    validatePath(basePath);
    if (prefix.includes('/') || prefix.length === 0)
      throw new RangeError(`invalid node prefix ${JSON.stringify(prefix)}`);
  }

  /** Watch notifications received on predecessor nodes so far (diagnostics: shows the absence of a herd). */
  get watchDeliveries(): number {
    return this.watchDeliveryCount;
  }

  /**
   * The recipe's own children of {@link basePath}, sorted by sequence (names, not paths); `[]`
   * when the base node does not exist.
   */
  async sortedChildren(): Promise<string[]> {
    try {
      const { children } = await this.client.getChildren(this.basePath);
      return sortOwn(children, this.driver.prefixes, this.driver.patterns ?? []);
    } catch (err) {
      if (err instanceof NoNodeError) return [];
      throw err;
    }
  }

  /** Paths of the recipe's own children, lowest sequence first. */
  async participantNodes(): Promise<string[]> {
    return (await this.sortedChildren()).map((n) => joinPath(this.basePath, n));
  }

  /**
   * Creates a contender node and waits until the driver says it holds the lock.
   * Connection losses are waited out; if the session is lost while waiting, the node of the
   * old session is deleted and a new one is made (it goes to the back of the line).
   * @returns the held node, or `null` when `timeoutMs` passed first (its node is then deleted)
   * @throws the signal's reason when aborted (its node deleted first); a non-retryable ZkError;
   *   the clean-up's error when the node could not be deleted
   */
  async attempt(opts: AcquireOptions = {}): Promise<HeldNode | null> {
    const { signal } = opts;
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + Math.max(0, opts.timeoutMs);
    if (signal?.aborted) throw abortReason(signal);
    let ours: HeldNode | null = null;
    let ok = false;
    try {
      for (;;) {
        if (signal?.aborted) throw abortReason(signal);
        try {
          // A node of a session that is gone is deleted and replaced (it goes to the back).
          ours = await ensureOwnNode(this.client, ours, this.basePath, this.prefix, this.data);
          const sorted = await this.sortedChildren();
          const ourName = basename(ours.path);
          if (!sorted.includes(ourName)) {
            // Deleted under us (session expired, or removed by hand): start over with a new node.
            ours = { ...ours, sessionId: -1n };
            continue;
          }
          const v = this.driver.verdict(sorted, ourName);
          if (v.acquired) {
            if (ours.sessionId !== this.client.sessionId) continue;
            ok = true;
            return ours;
          }
          const remaining = deadline - Date.now();
          if (remaining <= 0) return null;
          await this.waitForDeletion(joinPath(this.basePath, v.watch!), remaining, signal);
        } catch (err) {
          if (!isRetryable(err) && !isSessionGone(err)) throw err;
          const remaining = deadline - Date.now();
          if (remaining <= 0) return null;
          await untilConnected(this.client, Math.min(remaining, 1000), signal);
        }
        if (Date.now() >= deadline) {
          // One last look: the wake-up may have been the lock coming free just at the deadline.
          if (ours !== null && ours.sessionId === this.client.sessionId) {
            const sorted = await this.sortedChildren().catch(() => [] as string[]);
            const ourName = basename(ours.path);
            if (sorted.includes(ourName) && this.driver.verdict(sorted, ourName).acquired) {
              ok = true;
              return ours;
            }
          }
          return null;
        }
      }
    } finally {
      if (!ok && ours !== null) await deleteOwnNode(this.client, ours.path);
    }
  }

  /**
   * Deletes a held node, retrying connection losses; a node already gone counts as deleted.
   * @throws the last connection-loss error when it could not be deleted, or another ZkError
   */
  async release(path: string): Promise<void> {
    await deleteOwnNode(this.client, path);
  }

  /**
   * Wakes this engine's waiters that watch `path`, so that they list again: for a change that
   * the driver sees and ZooKeeper does not (a read lock's own write lock becoming held).
   */
  wakeWaitersOn(path: string): void {
    for (const wake of [...(this.waiting.get(path) ?? [])]) wake();
  }

  /**
   * Resolves when `path` is deleted (or any other event on it, the session ends, the client
   * loses its session or reconnects), when it is already gone, or after `maxWaitMs`; rejects on
   * abort. The caller re-checks in every case.
   */
  private waitForDeletion(path: string, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
    let wakes = this.waiting.get(path);
    if (!wakes) this.waiting.set(path, (wakes = new Set()));
    const onSettle = () => {
      wakes.delete(wait.wake);
      if (wakes.size === 0 && this.waiting.get(path) === wakes) this.waiting.delete(path);
    };
    const wait = sessionAwareWait(this.client, maxWaitMs, signal, onSettle, this.recheckMs);
    wakes.add(wait.wake);
    const watcher = (event: WatchEvent) => {
      // Count only notifications that wake a waiter (not those of watches left by earlier, finished waits).
      if (!wait.settled && event.type !== 'session-expired') this.watchDeliveryCount++;
      wait.wake();
    };
    this.client.getData(path, { watch: watcher }).then(
      () => undefined,
      (err: unknown) => {
        if (err instanceof NoNodeError) wait.wake();
        else wait.fail(err instanceof Error ? err : new Error(String(err)));
      },
    );
    return wait.promise;
  }
}

/** The lock's session was lost while it was held: another client may hold it now. */
export class LockLostError extends Error {
  /** The lock node that was held. */
  readonly path: string;

  constructor(path: string, message = `lock lost: the session that held ${path} is gone`) {
    super(message);
    this.name = 'LockLostError';
    this.path = path;
  }
}

/** Events of every sequential-node lock ({@link Mutex}, read/write locks, {@link Semaphore}). */
export interface SequentialLockEvents {
  /** The lock (or a lease) was acquired; `path` is the held node. Not emitted for re-entrant acquisitions. */
  acquired: [path: string];
  /** The lock was released (the node deleted). */
  released: [path: string];
  /**
   * The lock can no longer be trusted: the client went `lost` while it was held, or stayed
   * `suspended` for a sixth of the negotiated session timeout (by then the server may be about
   * to expire the session), so another client may hold it soon. The lock node may still exist
   * if the client reconnects in time: `release()` deletes it. The acquisition's {@link SequentialLock.signal} is aborted
   * with the same {@link LockLostError} just before. Still call `release()` to reset.
   */
  lost: [err: LockLostError];
}

interface Holding {
  node: HeldNode;
  count: number;
  controller: AbortController;
}

const NOT_HELD: AbortSignal = AbortSignal.abort(new Error('lock not held'));

/**
 * The common surface of the lock recipes: `acquire` / `release`, re-entrancy (optional), and a
 * per-acquisition `AbortSignal` that is aborted when the holding session is lost.
 * @typeParam E - the events (at least {@link SequentialLockEvents})
 */
export class SequentialLock extends EventEmitter<SequentialLockEvents> {
  /** The shared engine. */
  protected readonly internals: LockEngine;
  private holding: Holding | null = null;
  private lastSignal: AbortSignal = NOT_HELD;
  private pending: Promise<unknown> | null = null;
  private suspendTimer: NodeJS.Timeout | null = null;
  private readonly onLost = () => this.markLost();
  private readonly onConnected = () => {
    this.clearSuspendTimer();
    if (this.holding && this.holding.node.sessionId !== this.internals.client.sessionId) this.markLost();
  };
  private readonly onReconnected = () => this.clearSuspendTimer();
  private readonly onSuspended = () => {
    // The client notices a silent connection 2/3 of the session timeout T after the last reply
    // (checked every T/12), so at 'suspended' the server may expire the session within T/4. The
    // client's own 'lost' comes T after that last reply — about when the server may expire the
    // session, and later on a busy event loop: too late for a lock. Declare the lock lost after
    // T/6 of suspension, keeping T/12 for event-loop lag.
    this.clearSuspendTimer();
    const graceMs = Math.floor(this.internals.client.sessionTimeoutMs / 6);
    this.suspendTimer = setTimeout(() => {
      this.suspendTimer = null;
      if (this.internals.client.state === 'suspended') this.markLost();
    }, graceMs);
  };

  /**
   * @param internals - the engine, set up with this lock's base path, prefix and driver
   * @param reentrant - whether a second `acquire()` by the holder counts up (Mutex) or just
   *   returns `true` without a second node (Semaphore)
   */
  constructor(
    internals: LockEngine,
    private readonly reentrant: boolean,
  ) {
    super();
    this.internals = internals;
  }

  /** The lock's base path (relative to the client's namespace). */
  get basePath(): string {
    return this.internals.basePath;
  }

  /**
   * Acquires the lock, waiting at most `timeoutMs` ms (no limit when omitted).
   * A holder calling again gets `true` at once (counted when re-entrant: release as many times).
   * @returns `true` when acquired, `false` when `timeoutMs` passed first (nothing left behind)
   * @throws the signal's reason when `signal` aborts (nothing left behind); a ZkError that is not
   *   a connection loss; the clean-up's error if its node could not be deleted
   */
  async acquire(opts: AcquireOptions = {}): Promise<boolean> {
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + Math.max(0, opts.timeoutMs);
    for (;;) {
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      if (this.holding) {
        if (this.reentrant) this.holding.count++;
        return true;
      }
      if (this.pending === null) break;
      // Another acquire() of this same object is in flight: wait for it, then look again.
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      await Promise.race([
        this.pending.catch(() => undefined),
        new Promise<void>((resolve) => setTimeout(resolve, timerMs(remaining)).unref()),
      ]);
      if (this.holding === null && Date.now() >= deadline) return false;
    }
    const remaining = deadline === Infinity ? undefined : Math.max(0, deadline - Date.now());
    const p = this.internals.attempt({ timeoutMs: remaining, signal: opts.signal });
    this.pending = p;
    let node: HeldNode | null;
    try {
      node = await p;
    } finally {
      this.pending = null;
    }
    if (node === null) return false;
    const controller = new AbortController();
    this.holding = { node, count: 1, controller };
    this.lastSignal = controller.signal;
    this.listen(true);
    this.emit('acquired', node.path);
    if (node.sessionId !== this.internals.client.sessionId) this.markLost();
    return true;
  }

  /**
   * Releases one acquisition; the last one deletes the node (retrying connection losses).
   * After a `lost` event it only resets (the node is gone with its session).
   * @throws Error when not held by this object; the deletion's error when it could not be deleted
   */
  async release(): Promise<void> {
    const h = this.holding;
    if (h === null) throw new Error(`lock ${this.internals.basePath} is not held by this object`);
    if (--h.count > 0) return;
    this.holding = null;
    this.listen(false);
    if (!h.controller.signal.aborted) h.controller.abort(new Error('lock released'));
    await this.internals.release(h.node.path);
    this.emit('released', h.node.path);
  }

  /** True while this object holds the lock (and has not been told it was lost). */
  isAcquired(): boolean {
    return this.holding !== null && !this.holding.controller.signal.aborted;
  }

  /**
   * The current (or, once released, the last) acquisition's signal: aborted with a
   * {@link LockLostError} when the holding session is lost, or with an Error on release.
   * Before the first acquisition it is already aborted.
   */
  get signal(): AbortSignal {
    return this.lastSignal;
  }

  /** The held node's path (usable as a fencing token: its sequence grows), or `null`. */
  get lockPath(): string | null {
    return this.holding?.node.path ?? null;
  }

  /** The paths of every contender node (holders and waiters), lowest sequence first. */
  async getParticipantNodes(): Promise<string[]> {
    return this.internals.participantNodes();
  }

  /** Watch notifications received on predecessor nodes by this lock's attempts (diagnostics). */
  get watchDeliveries(): number {
    return this.internals.watchDeliveries;
  }

  /** Releases every acquisition held by this object, if any. */
  async close(): Promise<void> {
    if (this.holding) {
      this.holding.count = 1;
      await this.release();
    }
  }

  /** {@link close} */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private listen(on: boolean): void {
    const c = this.internals.client;
    if (on) {
      c.on('lost', this.onLost);
      c.on('connected', this.onConnected);
      c.on('suspended', this.onSuspended);
      c.on('reconnected', this.onReconnected);
      if (c.state === 'suspended') this.onSuspended();
    } else {
      c.off('lost', this.onLost);
      c.off('connected', this.onConnected);
      c.off('suspended', this.onSuspended);
      c.off('reconnected', this.onReconnected);
      this.clearSuspendTimer();
    }
  }

  private clearSuspendTimer(): void {
    if (this.suspendTimer) clearTimeout(this.suspendTimer);
    this.suspendTimer = null;
  }

  private markLost(): void {
    const h = this.holding;
    if (h === null || h.controller.signal.aborted) return;
    const err = new LockLostError(h.node.path);
    h.controller.abort(err);
    this.emit('lost', err);
  }
}
