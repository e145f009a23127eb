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
 * Layout under the queue path — items are kept in buckets, so that no take lists the whole
 * backlog (a flat parent of 150,000 items is a 3 MB listing, over `jute.maxbuffer`):
 *
 * ```
 * <path>/items                                PERSISTENT  its data version counts the offers
 * <path>/items/p-<prio>                       PERSISTENT  one per priority in use; <prio> is 3 digits (000 first)
 * <path>/items/p-<prio>/b-<k>                 PERSISTENT  bucket k (10 digits) of that priority; data version 0 = open, 1 = closed
 * <path>/items/p-<prio>/b-<k>/q-<prio>-<k>-<seq>  PERSISTENT_SEQUENTIAL  the item; <seq> the server's 10-digit suffix
 * <path>/locks/q-<prio>-<k>-<seq>             EPHEMERAL   a consumer's hold on that item (data: its session id)
 * <path>/consumed                             PERSISTENT  its data version counts the consumed items
 * ```
 *
 * An offer is one `multi` that checks its bucket is open (version 0) and creates the item in it.
 * The offer that fills a bucket (`bucketSize` items) closes it and creates the next one in one
 * `multi`, so every item of bucket k was created before any item of bucket k + 1: the order is
 * priority, then bucket, then the suffix (read as a signed 32-bit integer) — offer order. A
 * take lists `items/` (the priorities), a priority's buckets, and buckets from the first until
 * it finds a free item, plus `locks/` (the items held now): about `bucketSize` names, whatever
 * the backlog. Closed buckets that are empty are deleted by the takes that find them.
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { CreateMode } from '../client/create-mode.js';
import type { Stat } from '../client/stat.js';
import type { Watcher } from '../client/watch.js';
import { sequenceOf } from '../client/paths.js';
import { BadVersionError, NodeExistsError, NoNodeError, NotEmptyError, TransactionError } from '../errors.js';
import { abortReason, type BarrierWaitOptions, createWakeup, deadlineOf, deleteRetrying } from './barrier.js';
import { IncompatibleRecipeError } from './contenders.js';

/** Locks held (or being taken) in this process: `<session>|<namespace>|<lock path>`. */
const reservedLocks = new Set<string>();

const ITEM_NAME = /^q-(\d{3})-(\d{10})-(\d{10}|-\d{9})$/;
/** An item of the flat layout of earlier versions (`items/q-<prio>-<seq>`). */
const FLAT_ITEM_NAME = /^q-(\d{3})-(\d{10}|-\d{9})$/;
const PRIORITY_NODE = /^p-(\d{3})$/;
const BUCKET_NODE = /^b-(\d{10})$/;

/** Default of {@link DistributedQueueOptions.bucketSize}. */
export const QUEUE_BUCKET_ITEMS = 1000;

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
  /**
   * Items per bucket (see the layout above): a take lists about this many names. Every
   * instance of one queue should use the same value (a different one changes only where
   * buckets are cut, never the order). Integer from 10 to 100,000.
   * @defaultValue 1000 ({@link QUEUE_BUCKET_ITEMS})
   */
  bucketSize?: number;
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
  bucket: number;
  seq: number;
}

function parseItemName(name: string): ParsedName | null {
  const m = ITEM_NAME.exec(name);
  if (!m) return null;
  return { name, priority: Number(m[1]), bucket: Number(m[2]), seq: sequenceOf(name) };
}

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/** Sorts item names (`q-<prio>-<bucket>-<seq>`) into consumption order; names that are not items are dropped. */
export function sortQueueItems(names: readonly string[]): string[] {
  return names
    .map(parseItemName)
    .filter((p): p is ParsedName => p !== null)
    .sort((a, b) => a.priority - b.priority || a.bucket - b.bucket || a.seq - b.seq)
    .map((p) => p.name);
}

/** The numbers of the names matching `re` (its first group), ascending. */
function numbered(names: readonly string[], re: RegExp): number[] {
  const out: number[] = [];
  for (const n of names) {
    const m = re.exec(n);
    if (m) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
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
   * then deletes the item and the lock (and counts the consumption).
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
        .setData(this.queue.consumedPath, Buffer.alloc(0))
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
  /** See {@link DistributedQueueOptions.bucketSize}. */
  readonly bucketSize: number;
  private readonly itemsPath: string;
  private readonly locksPath: string;
  /** @internal */
  readonly consumedPath: string;
  private ensured: Promise<void> | undefined;
  private readonly held = new Set<QueueItem>();
  private readonly closer = new AbortController();
  /** Per priority: the open bucket as last seen (a closed one is found out by the offer's check). */
  private readonly openBuckets = new Map<number, Promise<number>>();

  /**
   * @param client - a connected {@link ZkClient}
   * @param path - the queue node (relative to the client's namespace); created with its parents on first use
   * @param options - see {@link DistributedQueueOptions}
   * @throws RangeError for a bad `maxSize`, `maxItemBytes` or `bucketSize`
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
    this.bucketSize = options.bucketSize ?? QUEUE_BUCKET_ITEMS;
    if (!Number.isInteger(this.bucketSize) || this.bucketSize < 10 || this.bucketSize > 100_000) {
      throw new RangeError(`bucketSize must be an integer from 10 to 100000, got ${options.bucketSize}`);
    }
    this.itemsPath = `${path}/items`;
    this.locksPath = `${path}/locks`;
    this.consumedPath = `${path}/consumed`;
  }

  private priorityPath(priority: number): string {
    return `${this.itemsPath}/p-${pad(priority, 3)}`;
  }

  private bucketPath(priority: number, bucket: number): string {
    return `${this.priorityPath(priority)}/b-${pad(bucket, 10)}`;
  }

  /** @internal */
  itemPath(name: string): string {
    const p = parseItemName(name);
    if (!p) throw new Error(`not a queue item name: ${JSON.stringify(name)}`);
    return `${this.bucketPath(p.priority, p.bucket)}/${name}`;
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
      await this.client.mkdirp(this.consumedPath);
    })().catch((err: unknown) => {
      this.ensured = undefined;
      throw err;
    });
    return this.ensured;
  }

  private assertOpen(): void {
    if (this.closer.signal.aborted) throw new Error(`queue ${this.path} is closed`);
  }

  /** The open bucket of `priority` (cached; found, or made, by listing the priority's buckets). */
  private openBucket(priority: number): Promise<number> {
    let p = this.openBuckets.get(priority);
    if (!p) {
      p = this.findOpenBucket(priority);
      this.openBuckets.set(priority, p);
      const mine = p;
      p.catch(() => {
        if (this.openBuckets.get(priority) === mine) this.openBuckets.delete(priority);
      });
    }
    return p;
  }

  private forgetBucket(priority: number, bucket: number): void {
    const p = this.openBuckets.get(priority);
    if (!p) return;
    void p.then(
      (k) => {
        if (k === bucket && this.openBuckets.get(priority) === p) this.openBuckets.delete(priority);
      },
      () => undefined,
    );
    // Until that settles, later offers may still try `bucket` once more; its check sends them here again.
  }

  private async findOpenBucket(priority: number): Promise<number> {
    for (;;) {
      let buckets: number[];
      try {
        buckets = numbered((await this.client.getChildren(this.priorityPath(priority))).children, BUCKET_NODE);
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
        await this.createIfMissing(this.priorityPath(priority));
        continue;
      }
      // The highest bucket is the open one: a bucket is closed only together with the creation of its successor.
      const last = buckets[buckets.length - 1];
      if (last !== undefined) return last;
      await this.createIfMissing(this.bucketPath(priority, 0));
    }
  }

  private async createIfMissing(path: string): Promise<void> {
    try {
      await this.client.create(path);
    } catch (err) {
      if (!(err instanceof NodeExistsError)) throw err;
    }
  }

  /** Closes full bucket `bucket` and opens the next, in one multi (someone else may have done it). */
  private async rollOver(priority: number, bucket: number): Promise<void> {
    try {
      await this.client
        .transaction()
        .setData(this.bucketPath(priority, bucket), 'closed', { version: 0 })
        .create(this.bucketPath(priority, bucket + 1))
        .commit();
    } catch (err) {
      if (!(err instanceof TransactionError)) throw err;
      // BadVersion / NodeExists / NoNode: another producer rolled it over already.
    }
    this.openBuckets.set(priority, Promise.resolve(bucket + 1));
  }

  /**
   * Adds an item: one `multi` that counts the offer (compare-and-set with `maxSize`), checks its
   * bucket is open and creates the item there.
   * @param data - the payload (a string is stored as UTF-8), at most `maxItemBytes` bytes
   * @param options - `priority` (0–999, lower first; default 100)
   * @returns the item's node name (`q-<prio>-<bucket>-<seq>`)
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
    for (let attempt = 0; ; attempt++) {
      const bucket = await this.openBucket(priority);
      const bucketPath = this.bucketPath(priority, bucket);
      let version = -1;
      if (this.maxSize !== undefined) {
        const held = await this.countAndVersion();
        if (held.count >= this.maxSize) throw new QueueFullError(this.path, this.maxSize);
        version = held.version;
      }
      let created: string;
      try {
        const results = await this.client
          .transaction()
          .setData(this.itemsPath, Buffer.alloc(0), { version })
          .check(bucketPath, 0)
          .create(`${bucketPath}/q-${pad(priority, 3)}-${pad(bucket, 10)}-`, {
            data: bytes,
            mode: CreateMode.PERSISTENT_SEQUENTIAL,
          })
          .commit();
        created = results[2]?.createdPath ?? '';
      } catch (err) {
        if (!(err instanceof TransactionError)) throw err;
        if (err.failedIndex === 1 && (err.opError instanceof BadVersionError || err.opError instanceof NoNodeError)) {
          // The bucket was closed (or removed): find the open one.
          this.forgetBucket(priority, bucket);
          continue;
        }
        if (err.failedIndex === 0 && err.opError instanceof BadVersionError) {
          // Another producer offered concurrently: re-read the count and try again.
          await new Promise((r) => setTimeout(r, Math.random() * Math.min(5 * 2 ** attempt, 100)));
          continue;
        }
        throw err;
      }
      const name = created.slice(created.lastIndexOf('/') + 1);
      if (sequenceOf(name) >= this.bucketSize - 1) await this.rollOver(priority, bucket);
      return name;
    }
  }

  /** Items offered and not consumed, and the offer counter's version (two `exists`). */
  private async countAndVersion(): Promise<{ count: number; version: number }> {
    // The consumed counter first: a consumption after this read only makes the count too high
    // (so the bound stays strict), never too low.
    const consumed = await this.client.exists(this.consumedPath);
    const items = await this.client.exists(this.itemsPath);
    if (items === null || consumed === null)
      throw new NoNodeError(undefined, { path: items === null ? this.itemsPath : this.consumedPath, op: 'offer' });
    return { count: items.version - consumed.version, version: items.version };
  }

  /**
   * Number of items in the queue, including taken-but-not-consumed ones: offers counted minus
   * consumptions counted (two `exists`, whatever the backlog). Items deleted by other means than
   * {@link QueueItem.consume} are still counted.
   */
  async size(): Promise<number> {
    await this.ensurePaths();
    return (await this.countAndVersion()).count;
  }

  /**
   * The next item that is not held by a consumer, without taking it.
   * @returns the item, or `null` when every item is held or the queue is empty
   * @throws IncompatibleRecipeError when the queue holds items in the flat layout of earlier versions
   */
  async peek(): Promise<QueueEntry | null> {
    this.assertOpen();
    const found: { entry: QueueEntry | null } = { entry: null };
    await this.scan(undefined, [], async (name) => {
      try {
        const { data } = await this.client.getData(this.itemPath(name));
        found.entry = { name, priority: parseItemName(name)!.priority, data };
        return true;
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
        return false;
      }
    });
    return found.entry;
  }

  /**
   * Takes the next item now if there is one: it is held under this consumer's lock until
   * {@link QueueItem.consume} or {@link QueueItem.release}.
   * @returns the item, or `null` when no item is free
   * @throws IncompatibleRecipeError when the queue holds items in the flat layout of earlier versions
   * @throws ZkError on ZooKeeper failures
   */
  async poll(): Promise<QueueItem | null> {
    this.assertOpen();
    return this.tryTake(undefined, []);
  }

  /**
   * Takes the next item, waiting for one if none is free. Wakes on new items and on released
   * locks (including those of consumers whose session ended), and re-checks every time. The
   * watches of a take that got its item are removed (removeWatches).
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
      const watched: string[] = [];
      let item: QueueItem | null;
      try {
        item = await this.tryTake(wake.watcher, watched);
      } catch (err) {
        wake.dispose();
        this.unwatch(watched, wake.watcher);
        throw err;
      }
      if (item) {
        wake.dispose();
        this.unwatch(watched, wake.watcher);
        if (signal.aborted) {
          await item.release();
          throw abortReason(signal);
        }
        return item;
      }
      const woken = await wake.wait().finally(() => this.unwatch(watched, wake.watcher));
      if (woken === 'timeout') return null;
    }
  }

  /** Removes the child watches a take no longer needs (in the background; one that fired is skipped). */
  private unwatch(paths: string[], watcher: Watcher): void {
    for (const path of new Set(paths)) {
      // Best effort: NoWatcherError when it fired meanwhile; a watch left behind only wakes nobody.
      this.client.removeWatches(path, { type: 'children', watcher }).catch(() => undefined);
    }
  }

  private async tryTake(watch: Watcher | undefined, watched: string[]): Promise<QueueItem | null> {
    const got: { item: QueueItem | null } = { item: null };
    await this.scan(watch, watched, async (name) => {
      got.item = await this.tryLock(name);
      return got.item !== null;
    });
    return got.item;
  }

  /**
   * Visits the free items in consumption order until `visit` says done: lists `items/` and
   * `locks/`, then per priority its buckets, and buckets from the first (each about
   * `bucketSize` names). Deletes the empty closed buckets it passes.
   */
  private async scan(
    watch: Watcher | undefined,
    watched: string[],
    visit: (name: string) => Promise<boolean>,
  ): Promise<void> {
    await this.ensurePaths();
    const list = async (path: string): Promise<string[] | null> => {
      try {
        const { children } = await this.client.getChildren(path, watch ? { watch } : {});
        if (watch) watched.push(path);
        return children;
      } catch (err) {
        if (err instanceof NoNodeError) return null;
        throw err;
      }
    };
    const [top, locks] = await Promise.all([list(this.itemsPath), list(this.locksPath)]);
    const flat = (top ?? []).filter((n) => FLAT_ITEM_NAME.test(n));
    if (flat.length > 0) {
      throw new IncompatibleRecipeError(
        this.path,
        'an earlier zkjobs DistributedQueue (flat items/)',
        `queue ${this.path} holds ${flat.length} item(s) in the flat layout of earlier versions (${this.itemsPath}/${flat[0]!}); ` +
          'they were left as they are: drain them with the version that wrote them',
      );
    }
    const taken = new Set(locks ?? []);
    for (const priority of numbered(top ?? [], PRIORITY_NODE)) {
      const buckets = numbered((await list(this.priorityPath(priority))) ?? [], BUCKET_NODE);
      for (let i = 0; i < buckets.length; i++) {
        const bucket = buckets[i]!;
        const names = sortQueueItems((await list(this.bucketPath(priority, bucket))) ?? []);
        if (names.length === 0 && i < buckets.length - 1) await this.dropBucket(priority, bucket);
        for (const name of names) {
          if (taken.has(name)) continue;
          if (await visit(name)) return;
        }
      }
    }
  }

  /** Deletes an empty closed bucket (version 1); an open, refilled or already deleted one stays as it is. */
  private async dropBucket(priority: number, bucket: number): Promise<void> {
    try {
      await this.client.delete(this.bucketPath(priority, bucket), { version: 1 });
    } catch (err) {
      if (!(err instanceof BadVersionError || err instanceof NotEmptyError || err instanceof NoNodeError)) throw err;
    }
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
