/**
 * A FIFO queue with priorities whose items are consumed under a lock, so that a consumer that
 * dies while working on an item does not lose it. Follows the "Queues" and "Priority Queues"
 * sections of ZooKeeper's *Recipes and Solutions* page, with the consumption semantics of
 * Kazoo's `LockingQueue` (take → the item is held under an ephemeral lock, then
 * {@link QueueItem.consume} or {@link QueueItem.release}) and the bounded size of Curator's
 * `DistributedQueue` (here a strict bound, see {@link DistributedQueueOptions.maxSize}).
 *
 * Status: **beta**.
 *
 * Layout under the queue path:
 *
 * ```
 * <path>/items/q-<prio>-<seq>   PERSISTENT_SEQUENTIAL  the item; <prio> is 3 digits (000 first), <seq> the server's 10-digit suffix
 * <path>/locks/q-<prio>-<seq>   EPHEMERAL              a consumer's hold on that item (data: its session id)
 * ```
 *
 * Item names encode priority then sequence, so a sorted listing is the consumption order
 * (this class sorts by the priority and then the suffix read as a signed 32-bit integer).
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { CreateMode } from '../client/create-mode.js';
import type { Stat } from '../client/stat.js';
import type { Watcher } from '../client/watch.js';
import { sequenceOf } from '../client/paths.js';
import { BadVersionError, NodeExistsError, NoNodeError, TransactionError } from '../errors.js';
import { abortReason, type BarrierWaitOptions, createWakeup, deadlineOf, deleteRetrying } from './barrier.js';

/** Locks held (or being taken) in this process: `<session>|<namespace>|<lock path>`. */
const reservedLocks = new Set<string>();

const ITEM_PREFIX = 'q-';
const ITEM_NAME = /^q-(\d{3})-(\d{10}|-\d{9})$/;

/** Lowest (first served) priority value. */
export const QUEUE_PRIORITY_MIN = 0;
/** Highest (last served) priority value. */
export const QUEUE_PRIORITY_MAX = 999;

/** Options of {@link DistributedQueue}. */
export interface DistributedQueueOptions {
  /**
   * Most items the queue holds (taken-but-not-consumed items count). {@link DistributedQueue.offer}
   * throws {@link QueueFullError} when the queue holds this many. The bound is strict: each offer
   * is a `multi` that bumps the `items` node's version read together with its child count.
   * @defaultValue no bound (offers are single creates)
   */
  maxSize?: number;
  /**
   * Largest item payload accepted, in bytes. ZooKeeper's packet limit is 1 MB (jute.maxbuffer).
   * @defaultValue 524288 (512 KiB)
   */
  maxItemBytes?: number;
}

/** Options of {@link DistributedQueue.offer}. */
export interface OfferOptions {
  /**
   * Integer from {@link QUEUE_PRIORITY_MIN} (served first) to {@link QUEUE_PRIORITY_MAX}; items
   * of equal priority are served in offer order.
   * @defaultValue 100
   */
  priority?: number;
}

/** {@link DistributedQueue.offer} was refused because the queue holds `maxSize` items. */
export class QueueFullError extends Error {
  /** The queue path. */
  readonly path: string;
  /** The configured bound. */
  readonly maxSize: number;
  constructor(path: string, maxSize: number) {
    super(`queue ${path} is full (maxSize ${maxSize}); nothing was added`);
    this.name = 'QueueFullError';
    this.path = path;
    this.maxSize = maxSize;
  }
}

/**
 * {@link QueueItem.consume} found that this consumer no longer holds the item's lock (its
 * session was lost, so the item went back to the queue and another consumer may have it).
 * Nothing was deleted.
 */
export class ItemLockLostError extends Error {
  /** The item's name. */
  readonly item: string;
  constructor(path: string, item: string) {
    super(
      `lock on queue item ${item} of ${path} is no longer held by this session; the item was returned to the queue`,
    );
    this.name = 'ItemLockLostError';
    this.item = item;
  }
}

/** What {@link DistributedQueue.peek} returns: an item's content without holding it. */
export interface QueueEntry {
  /** The item node's name (`q-<prio>-<seq>`). */
  name: string;
  /** Priority given to {@link DistributedQueue.offer}. */
  priority: number;
  /** The payload. */
  data: Buffer;
}

interface ParsedName {
  name: string;
  priority: number;
  seq: number;
}

function parseItemName(name: string): ParsedName | null {
  const m = ITEM_NAME.exec(name);
  if (!m) return null;
  return { name, priority: Number(m[1]), seq: sequenceOf(name) };
}

/** Sorts item names into consumption order; names that are not items are dropped. */
export function sortQueueItems(names: readonly string[]): string[] {
  return names
    .map(parseItemName)
    .filter((p): p is ParsedName => p !== null)
    .sort((a, b) => a.priority - b.priority || a.seq - b.seq)
    .map((p) => p.name);
}

/**
 * An item taken from a {@link DistributedQueue}: held under an ephemeral lock until
 * {@link QueueItem.consume} (done: delete it) or {@link QueueItem.release} (give it back). If
 * the holder's session ends first, the lock vanishes and the item is served again.
 */
export class QueueItem implements QueueEntry {
  private settled = false;

  /** @internal Made by {@link DistributedQueue.take} / {@link DistributedQueue.poll}. */
  constructor(
    private readonly queue: DistributedQueue,
    /** The item node's name (`q-<prio>-<seq>`). */
    readonly name: string,
    /** Priority given to {@link DistributedQueue.offer}. */
    readonly priority: number,
    /** The payload. */
    readonly data: Buffer,
    /** The item node's Stat when it was read. */
    readonly stat: Stat,
    /** czxid of this consumer's lock node (a fencing token: it grows with every new hold). */
    readonly lockCzxid: bigint,
    /** @internal Key of the in-process lock reservation. */
    readonly reservation: string,
  ) {}

  /** Whether {@link consume} or {@link release} was called. */
  get isSettled(): boolean {
    return this.settled;
  }

  /** Whether this consumer still holds the item's lock (one `exists`). */
  async holdsLock(): Promise<boolean> {
    const stat = await this.queue.client.exists(this.queue.lockPath(this.name));
    return stat !== null && stat.czxid === this.lockCzxid && stat.ephemeralOwner === this.queue.client.sessionId;
  }

  /**
   * Removes the item from the queue for good: one `multi` that checks the lock is still ours,
   * then deletes the item and the lock.
   * @throws ItemLockLostError when the lock is no longer ours (nothing is deleted; the item is back in the queue)
   * @throws Error when the item was already consumed or released; ZkError on ZooKeeper failures
   */
  async consume(): Promise<void> {
    this.assertOpen();
    const lockPath = this.queue.lockPath(this.name);
    const stat = await this.queue.client.exists(lockPath);
    if (stat === null || stat.czxid !== this.lockCzxid || stat.ephemeralOwner !== this.queue.client.sessionId) {
      this.finish();
      throw new ItemLockLostError(this.queue.path, this.name);
    }
    try {
      await this.queue.client
        .transaction()
        .check(lockPath, stat.version)
        .delete(this.queue.itemPath(this.name))
        .delete(lockPath)
        .commit();
    } catch (err) {
      if (
        err instanceof TransactionError &&
        (err.opError instanceof NoNodeError || err.opError instanceof BadVersionError)
      ) {
        this.finish();
        throw new ItemLockLostError(this.queue.path, this.name);
      }
      throw err;
    }
    this.finish();
  }

  /**
   * Gives the item back to the queue (deletes this consumer's lock, if it still holds it),
   * retrying on connection loss. The item keeps its place.
   * @throws Error when the item was already consumed or released; ZkError on ZooKeeper failures
   */
  async release(): Promise<void> {
    this.assertOpen();
    if (await this.holdsLock())
      await deleteRetrying(this.queue.client, this.queue.lockPath(this.name), { ephemeral: true });
    this.finish();
  }

  private assertOpen(): void {
    if (this.settled) throw new Error(`queue item ${this.name} was already consumed or released`);
  }

  private finish(): void {
    this.settled = true;
    this.queue.forget(this);
  }
}

/**
 * A distributed FIFO queue with priorities and locked consumption.
 *
 * ```ts
 * const queue = new DistributedQueue(client, '/queues/mail', { maxSize: 10_000 });
 * await queue.offer(JSON.stringify(msg), { priority: 10 });
 * const item = await queue.take({ signal });
 * await send(item!.data);
 * await item!.consume();
 * ```
 */
export class DistributedQueue {
  /** See {@link DistributedQueueOptions.maxSize}; `undefined` when unbounded. */
  readonly maxSize: number | undefined;
  /** See {@link DistributedQueueOptions.maxItemBytes}. */
  readonly maxItemBytes: number;
  private readonly itemsPath: string;
  private readonly locksPath: string;
  private ensured: Promise<void> | undefined;
  private readonly held = new Set<QueueItem>();
  private readonly closer = new AbortController();

  /**
   * @param client - a connected {@link ZkClient}
   * @param path - the queue node (relative to the client's namespace); created with its parents on first use
   * @param options - see {@link DistributedQueueOptions}
   * @throws RangeError for a bad `maxSize` or `maxItemBytes`
   */
  constructor(
    readonly client: ZkClient,
    readonly path: string,
    options: DistributedQueueOptions = {},
  ) {
    if (options.maxSize !== undefined && (!Number.isInteger(options.maxSize) || options.maxSize < 1)) {
      throw new RangeError(`maxSize must be a positive integer, got ${options.maxSize}`);
    }
    this.maxSize = options.maxSize;
    this.maxItemBytes = options.maxItemBytes ?? 512 * 1024;
    if (!Number.isInteger(this.maxItemBytes) || this.maxItemBytes < 0) {
      throw new RangeError(`maxItemBytes must be a non-negative integer, got ${options.maxItemBytes}`);
    }
    this.itemsPath = `${path}/items`;
    this.locksPath = `${path}/locks`;
  }

  /** @internal */
  itemPath(name: string): string {
    return `${this.itemsPath}/${name}`;
  }

  /** @internal */
  lockPath(name: string): string {
    return `${this.locksPath}/${name}`;
  }

  /** @internal */
  forget(item: QueueItem): void {
    this.held.delete(item);
    reservedLocks.delete(item.reservation);
  }

  private ensurePaths(): Promise<void> {
    this.ensured ??= (async () => {
      await this.client.mkdirp(this.itemsPath);
      await this.client.mkdirp(this.locksPath);
    })().catch((err: unknown) => {
      this.ensured = undefined;
      throw err;
    });
    return this.ensured;
  }

  private assertOpen(): void {
    if (this.closer.signal.aborted) throw new Error(`queue ${this.path} is closed`);
  }

  /**
   * Adds an item.
   * @param data - the payload (a string is stored as UTF-8), at most `maxItemBytes` bytes
   * @param options - `priority` (0–999, lower first; default 100)
   * @returns the item's node name (`q-<prio>-<seq>`)
   * @throws QueueFullError when the queue holds `maxSize` items (nothing is added)
   * @throws RangeError for a bad priority or an oversized payload (nothing is added)
   * @throws ZkError on ZooKeeper failures; after a ConnectionLossError the item may or may not have been added
   */
  async offer(data: Buffer | string, options: OfferOptions = {}): Promise<string> {
    this.assertOpen();
    const priority = options.priority ?? 100;
    if (!Number.isInteger(priority) || priority < QUEUE_PRIORITY_MIN || priority > QUEUE_PRIORITY_MAX) {
      throw new RangeError(
        `priority must be an integer from ${QUEUE_PRIORITY_MIN} to ${QUEUE_PRIORITY_MAX}, got ${priority}`,
      );
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    if (bytes.length > this.maxItemBytes) {
      throw new RangeError(
        `queue item of ${bytes.length} bytes exceeds maxItemBytes ${this.maxItemBytes} (queue ${this.path})`,
      );
    }
    await this.ensurePaths();
    const prefix = `${this.itemsPath}/${ITEM_PREFIX}${String(priority).padStart(3, '0')}-`;
    if (this.maxSize === undefined) {
      const created = await this.client.create(prefix, { data: bytes, mode: CreateMode.PERSISTENT_SEQUENTIAL });
      return created.slice(created.lastIndexOf('/') + 1);
    }
    for (let attempt = 0; ; attempt++) {
      const stat = await this.client.exists(this.itemsPath);
      if (stat === null) throw new NoNodeError(undefined, { path: this.itemsPath, op: 'offer' });
      if (stat.numChildren >= this.maxSize) throw new QueueFullError(this.path, this.maxSize);
      try {
        const results = await this.client
          .transaction()
          .setData(this.itemsPath, Buffer.alloc(0), { version: stat.version })
          .create(prefix, { data: bytes, mode: CreateMode.PERSISTENT_SEQUENTIAL })
          .commit();
        const created = results[1]?.createdPath ?? '';
        return created.slice(created.lastIndexOf('/') + 1);
      } catch (err) {
        if (!(err instanceof TransactionError) || !(err.opError instanceof BadVersionError)) throw err;
        // Another producer offered concurrently: re-read the count and try again.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(5 * 2 ** attempt, 100)));
      }
    }
  }

  /** Number of items in the queue, including taken-but-not-consumed ones (one `exists`). */
  async size(): Promise<number> {
    await this.ensurePaths();
    return (await this.client.exists(this.itemsPath))?.numChildren ?? 0;
  }

  /**
   * The next item that is not held by a consumer, without taking it.
   * @returns the item, or `null` when every item is held or the queue is empty
   */
  async peek(): Promise<QueueEntry | null> {
    this.assertOpen();
    await this.ensurePaths();
    const [{ children: items }, { children: locks }] = await Promise.all([
      this.client.getChildren(this.itemsPath),
      this.client.getChildren(this.locksPath),
    ]);
    const taken = new Set(locks);
    for (const name of sortQueueItems(items)) {
      if (taken.has(name)) continue;
      try {
        const { data } = await this.client.getData(this.itemPath(name));
        return { name, priority: parseItemName(name)!.priority, data };
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
    }
    return null;
  }

  /**
   * Takes the next item now if there is one: it is held under this consumer's lock until
   * {@link QueueItem.consume} or {@link QueueItem.release}.
   * @returns the item, or `null` when no item is free
   * @throws ZkError on ZooKeeper failures
   */
  async poll(): Promise<QueueItem | null> {
    this.assertOpen();
    return this.tryTake(undefined);
  }

  /**
   * Takes the next item, waiting for one if none is free. Wakes on new items and on released
   * locks (including those of consumers whose session ended), and re-checks every time.
   * @param options - `timeoutMs` (default: wait forever) and `signal`
   * @returns the item, held until {@link QueueItem.consume} / {@link QueueItem.release}; `null` on timeout
   * @throws the signal's reason when aborted; Error when the queue is closed; ZkError on ZooKeeper failures
   */
  async take(options: BarrierWaitOptions = {}): Promise<QueueItem | null> {
    this.assertOpen();
    const deadline = deadlineOf(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, this.closer.signal]) : this.closer.signal;
    for (;;) {
      if (signal.aborted) throw abortReason(signal);
      const wake = createWakeup(this.client, deadline, signal);
      let item: QueueItem | null;
      try {
        item = await this.tryTake(wake.watcher);
      } catch (err) {
        wake.dispose();
        throw err;
      }
      if (item) {
        wake.dispose();
        if (signal.aborted) {
          await item.release();
          throw abortReason(signal);
        }
        return item;
      }
      if ((await wake.wait()) === 'timeout') return null;
    }
  }

  private async tryTake(watch: Watcher | undefined): Promise<QueueItem | null> {
    await this.ensurePaths();
    const opts = watch ? { watch } : {};
    const [{ children: items }, { children: locks }] = await Promise.all([
      this.client.getChildren(this.itemsPath, opts),
      this.client.getChildren(this.locksPath, opts),
    ]);
    const taken = new Set(locks);
    for (const name of sortQueueItems(items)) {
      if (taken.has(name)) continue;
      const item = await this.tryLock(name);
      if (item) return item;
    }
    return null;
  }

  /** Locks one item and reads it; `null` when another consumer holds it or it is gone. */
  private async tryLock(name: string): Promise<QueueItem | null> {
    const lockPath = this.lockPath(name);
    // Consumers sharing one session (several queues on one client) cannot tell their locks
    // apart on the server: reserve the lock in this process first.
    const key = `${this.client.sessionIdHex}|${this.client.namespace}|${lockPath}`;
    if (reservedLocks.has(key)) return null;
    reservedLocks.add(key);
    let item: QueueItem | null = null;
    try {
      try {
        await this.client.create(lockPath, { data: this.client.sessionIdHex, mode: CreateMode.EPHEMERAL });
      } catch (err) {
        if (!(err instanceof NodeExistsError)) throw err;
        // Another session's lock, or an orphan of ours (a create whose reply was lost): ours
        // only in that second case, since nobody in this process has it reserved.
        const stat = await this.client.exists(lockPath);
        if (stat === null || stat.ephemeralOwner !== this.client.sessionId) return null;
      }
      const lockStat = await this.client.exists(lockPath);
      if (lockStat === null || lockStat.ephemeralOwner !== this.client.sessionId) return null;
      let data: Buffer;
      let stat: Stat;
      try {
        ({ data, stat } = await this.client.getData(this.itemPath(name)));
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
        // Consumed by another consumer between our listing and our lock.
        await deleteRetrying(this.client, lockPath, { ephemeral: true });
        return null;
      }
      item = new QueueItem(this, name, parseItemName(name)!.priority, data, stat, lockStat.czxid, key);
      this.held.add(item);
      return item;
    } finally {
      if (item === null) reservedLocks.delete(key);
    }
  }

  /**
   * Stops pending {@link take} calls (they reject) and releases every item this instance holds
   * that was neither consumed nor released. Idempotent.
   * @throws AggregateError when releasing some items failed (the others are released)
   */
  async close(): Promise<void> {
    this.closer.abort(new Error(`queue ${this.path} is closed`));
    const errors: unknown[] = [];
    for (const item of [...this.held]) {
      try {
        await item.release();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `queue ${this.path}: releasing held items failed`);
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
