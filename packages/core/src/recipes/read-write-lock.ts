/**
 * A distributed readers–writer lock — ZooKeeper's *Recipes and Solutions* "Shared Locks",
 * Apache Curator's `InterProcessReadWriteLock`, Kazoo's `ReadLock` / `WriteLock`.
 *
 * Status: **beta**.
 *
 * Both locks put `EPHEMERAL_SEQUENTIAL` nodes under one path: `read-NNNNNNNNNN` and
 * `write-NNNNNNNNNN` by default, ordered together by sequence. A writer holds when its node is
 * the lowest and watches the node just before it; a reader holds when no exclusive node is
 * before its own (the write node of its own {@link ReadWriteLock}'s held write lock excepted: a
 * writer may also read) and otherwise watches only the nearest exclusive node before it. Each
 * lock is re-entrant for its holder. A lost session is reported per lock (`lost`, aborted
 * `signal`).
 *
 * **Other libraries.** The nodes of every library count, whatever this lock writes: readers
 * `read-`, Curator's `__READ__`, Kazoo's `__rlock__`; exclusive nodes `write-`, `lock-`,
 * Curator's `__WRIT__`, Kazoo's `__lock__`, and the {@link ReadWriteLockOptions.extraPatterns}.
 * For the other library to see this lock's nodes, write its names: with Curator's
 * `InterProcessReadWriteLock`, `readPrefix: '__READ__', writePrefix: '__WRIT__'`
 * ({@link CURATOR_NODE_NAMES}); with Kazoo's `ReadLock` / `WriteLock`,
 * `readPrefix: '__rlock__', writePrefix: '__lock__'` ({@link KAZOO_NODE_NAMES}) — or keep the
 * defaults and give Kazoo `extra_lock_patterns`. Curator's and Kazoo's read-write locks cannot
 * see each other's nodes (Curator's sorts only its own names by sequence): see
 * `docs/interop.md`.
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { basename } from '../client/paths.js';
import { validatePath } from '../client/paths.js';
import {
  checkPatterns,
  checkPrefix,
  endsWithName,
  EXCLUSIVE_LOCK_NAMES,
  SHARED_LOCK_NAMES,
  ZKJOBS_NODE_NAMES,
} from './contenders.js';
import { LockInternals, SequentialLock, standardLockDriver, type LockDriver } from './lock-internals.js';
import { checkRecheckMs, isOwnNode } from './sequential-nodes.js';

/** Options of {@link ReadWriteLock}. */
export interface ReadWriteLockOptions {
  /** Payload of this participant's nodes. @defaultValue empty */
  data?: Buffer | string;
  /**
   * Name prefix of the read lock's nodes: `'read-'`, `'__READ__'` (Curator) or `'__rlock__'`
   * (Kazoo). @defaultValue `'read-'`
   */
  readPrefix?: string;
  /**
   * Name prefix of the write lock's nodes: `'write-'`, `'__WRIT__'` (Curator) or `'__lock__'`
   * (Kazoo). @defaultValue `'write-'`
   */
  writePrefix?: string;
  /**
   * More node names that count as exclusive contenders (they exclude readers and writers, as
   * Kazoo's `extra_lock_patterns`; literal text): any child whose name ends with
   * `<pattern>NNNNNNNNNN`. @defaultValue none
   */
  extraPatterns?: readonly string[];
  /**
   * A waiter that heard nothing for this long lists the contenders again: a safety net, since
   * the watch on its predecessor wakes it. Integer ms, 1 to 2^31 - 1. @defaultValue `2000`
   */
  recheckMs?: number;
}

/** The read side: shared among readers, excluded by writers. */
export class ReadLock extends SequentialLock {}
/** The write side: exclusive. */
export class WriteLock extends SequentialLock {}

/** A readers–writer lock on a znode path, with a {@link readLock} and a {@link writeLock}. */
export class ReadWriteLock {
  /** Shared: any number of holders while no writer is ahead. */
  readonly readLock: ReadLock;
  /** Exclusive against readers and other writers. */
  readonly writeLock: WriteLock;

  /**
   * @param client - a connected ZkClient
   * @param path - the lock's znode (created with parents on first use)
   * @param opts - node payload, node names, extra contender names, re-check period
   * @throws InvalidPathError for a bad path; RangeError for a prefix or pattern that is empty or
   *   contains `/`, equal read and write prefixes, or a bad `recheckMs`
   */
  constructor(client: ZkClient, path: string, opts: ReadWriteLockOptions = {}) {
    validatePath(path);
    const what = `ReadWriteLock ${path}`;
    const READ = checkPrefix(what, opts.readPrefix ?? ZKJOBS_NODE_NAMES.read);
    const WRITE = checkPrefix(what, opts.writePrefix ?? ZKJOBS_NODE_NAMES.write);
    if (READ === WRITE) throw new RangeError(`${what}: readPrefix and writePrefix must differ, both are ${READ}`);
    const exclusive = [...EXCLUSIVE_LOCK_NAMES, ...checkPatterns(what, opts.extraPatterns)];
    const patterns = [...exclusive, ...SHARED_LOCK_NAMES];
    const isExclusive = (n: string) => isOwnNode(n, WRITE) || endsWithName(n, exclusive);
    const data = typeof opts.data === 'string' ? Buffer.from(opts.data) : opts.data;
    const prefixes = [READ, WRITE] as const;
    const recheckMs = checkRecheckMs(what, opts.recheckMs);
    this.writeLock = new WriteLock(
      new LockInternals(client, path, WRITE, standardLockDriver(prefixes, 1, patterns), data, recheckMs),
      true,
    );
    const ownWrite = () => {
      const p = this.writeLock.isAcquired() ? this.writeLock.lockPath : null;
      return p === null ? null : basename(p);
    };
    const readDriver: LockDriver = {
      prefixes,
      patterns,
      verdict(sorted, ourName) {
        const i = sorted.indexOf(ourName);
        if (i < 0) throw new Error(`lock node ${ourName} is not among the children`);
        const mine = ownWrite();
        for (let j = i - 1; j >= 0; j--) {
          const n = sorted[j]!;
          if (isExclusive(n) && n !== mine && !isOwnNode(n, READ)) return { acquired: false, watch: n };
        }
        return { acquired: true, watch: null };
      },
    };
    const readInternals = new LockInternals(client, path, READ, readDriver, data, recheckMs);
    this.readLock = new ReadLock(readInternals, true);
    // A reader of this object waiting on its own write node may go once the write is held: no
    // watch fires for that (the node stays), so wake it here.
    this.writeLock.on('acquired', (p) => readInternals.wakeWaitersOn(p));
  }

  /** Releases whatever this object holds (both sides). */
  async close(): Promise<void> {
    await this.readLock.close();
    await this.writeLock.close();
  }

  /** {@link close} */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
