/**
 * A distributed readers–writer lock — ZooKeeper's *Recipes and Solutions* "Shared Locks",
 * Apache Curator's `InterProcessReadWriteLock`, Kazoo's `ReadLock` / `WriteLock`.
 *
 * Status: **beta**.
 *
 * Both locks put `EPHEMERAL_SEQUENTIAL` nodes under one path: `read-NNNNNNNNNN` and
 * `write-NNNNNNNNNN`, ordered together by sequence. A writer holds when its node is the lowest
 * and watches the node just before it; a reader holds when no write node is before its own
 * (the write node of its own {@link ReadWriteLock}'s held write lock excepted: a writer may
 * also read) and otherwise watches only the nearest write node before it. Each lock is
 * re-entrant for its holder. A lost session is reported per lock (`lost`, aborted `signal`).
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { basename } from '../client/paths.js';
import { LockInternals, SequentialLock, standardLockDriver, type LockDriver } from './lock-internals.js';
import { isOwnNode } from './sequential-nodes.js';

/** Options of {@link ReadWriteLock}. */
export interface ReadWriteLockOptions {
  /** Payload of this participant's nodes. @defaultValue empty */
  data?: Buffer | string;
}

/** The read side: shared among readers, excluded by writers. */
export class ReadLock extends SequentialLock {}
/** The write side: exclusive. */
export class WriteLock extends SequentialLock {}

const READ = 'read-';
const WRITE = 'write-';

/** A readers–writer lock on a znode path, with a {@link readLock} and a {@link writeLock}. */
export class ReadWriteLock {
  /** Shared: any number of holders while no writer is ahead. */
  readonly readLock: ReadLock;
  /** Exclusive against readers and other writers. */
  readonly writeLock: WriteLock;

  /**
   * @param client - a connected ZkClient
   * @param path - the lock's znode (created with parents on first use)
   * @param opts - node payload
   * @throws InvalidPathError for a bad path
   */
  constructor(client: ZkClient, path: string, opts: ReadWriteLockOptions = {}) {
    const data = typeof opts.data === 'string' ? Buffer.from(opts.data) : opts.data;
    const prefixes = [READ, WRITE] as const;
    this.writeLock = new WriteLock(new LockInternals(client, path, WRITE, standardLockDriver(prefixes, 1), data), true);
    const ownWrite = () => {
      const p = this.writeLock.isAcquired() ? this.writeLock.lockPath : null;
      return p === null ? null : basename(p);
    };
    const readDriver: LockDriver = {
      prefixes,
      verdict(sorted, ourName) {
        const i = sorted.indexOf(ourName);
        if (i < 0) throw new Error(`lock node ${ourName} is not among the children`);
        const mine = ownWrite();
        for (let j = i - 1; j >= 0; j--) {
          const n = sorted[j]!;
          if (isOwnNode(n, WRITE) && n !== mine) return { acquired: false, watch: n };
        }
        return { acquired: true, watch: null };
      },
    };
    this.readLock = new ReadLock(new LockInternals(client, path, READ, readDriver, data), true);
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
