/**
 * Lets N members start a computation together ({@link DoubleBarrier.enter}) and finish it
 * together ({@link DoubleBarrier.leave}). Follows the "Double Barriers" section of ZooKeeper's
 * *Recipes and Solutions* page (a `ready` node; `enter` creates an ephemeral member node;
 * `leave` with the lowest/highest protocol), with the API of Curator's
 * `DistributedDoubleBarrier` and Kazoo's `DoubleBarrier`, and these differences:
 *
 * Status: **beta**.
 *
 * - The `ready` node is created in a `multi` that also checks every member node counted, so a
 *   member that timed out and removed its node cannot be counted after it left; its data is
 *   the JSON list of the members counted.
 * - A member whose `enter` times out (or is aborted, or fails) removes its own node, retrying
 *   on connection loss, and never swallows a cleanup error. If the barrier was passed before
 *   its node was gone (it was counted), `enter` returns `true` so every counted member agrees.
 * - Every wake-up re-checks the condition (Curator's bug #1290): a wake-up only passes the
 *   barrier when the `ready` node exists or the watch reported its creation.
 * - The last member to leave deletes the `ready` node with its own, so the barrier can be
 *   used again once every member has left.
 * @packageDocumentation
 */
import { randomUUID } from 'node:crypto';
import type { ZkClient } from '../client/zk-client.js';
import { CreateMode } from '../client/create-mode.js';
import type { WatchEvent } from '../client/watch.js';
import { NodeExistsError, NoNodeError, SessionExpiredError, TransactionError } from '../errors.js';
import { abortReason, type BarrierWaitOptions, createWakeup, deadlineOf, deleteRetrying } from './barrier.js';

/** Name of the node that marks the barrier as entered. */
const READY = 'ready';

/** Options of {@link DoubleBarrier}. */
export interface DoubleBarrierOptions {
  /**
   * This member's node name under the barrier path. Must be unique among the members, and
   * not `ready`.
   * @defaultValue a random UUID
   */
  memberId?: string;
  /**
   * Data stored in the member node (bytes).
   * @defaultValue empty
   */
  data?: Buffer | string;
}

/**
 * A double barrier for `memberCount` members at `path`.
 *
 * ```ts
 * const barrier = new DoubleBarrier(client, '/barriers/gang-42', 3);
 * if (await barrier.enter({ timeoutMs: 10_000 })) {
 *   await work();
 *   await barrier.leave({ timeoutMs: 10_000 });
 * }
 * ```
 *
 * One instance is one member; use it for one enter/leave cycle at a time.
 */
export class DoubleBarrier {
  /** This member's node name under {@link DoubleBarrier.path}. */
  readonly memberId: string;
  private readonly data: Buffer | string | undefined;

  /**
   * @param client - a connected {@link ZkClient}
   * @param path - the barrier node (relative to the client's namespace); created with its parents on `enter`
   * @param memberCount - how many members must enter before any passes (>= 1)
   * @param options - see {@link DoubleBarrierOptions}
   * @throws RangeError for a `memberCount` below 1 or a bad `memberId`
   */
  constructor(
    readonly client: ZkClient,
    readonly path: string,
    readonly memberCount: number,
    options: DoubleBarrierOptions = {},
  ) {
    if (!Number.isInteger(memberCount) || memberCount < 1) {
      throw new RangeError(`memberCount must be a positive integer, got ${memberCount}`);
    }
    this.memberId = options.memberId ?? randomUUID();
    if (this.memberId === READY || this.memberId === '' || this.memberId.includes('/')) {
      throw new RangeError(`invalid memberId ${JSON.stringify(this.memberId)}`);
    }
    this.data = options.data;
  }

  private get ourPath(): string {
    return `${this.path}/${this.memberId}`;
  }

  private get readyPath(): string {
    return `${this.path}/${READY}`;
  }

  /** The member nodes now under the barrier (not the `ready` node), sorted by name. */
  async members(): Promise<string[]> {
    try {
      const { children } = await this.client.getChildren(this.path);
      return children.filter((c) => c !== READY).sort();
    } catch (err) {
      if (err instanceof NoNodeError) return [];
      throw err;
    }
  }

  /**
   * Enters the barrier: registers this member (an ephemeral node) and waits until
   * `memberCount` members have entered.
   * @param options - `timeoutMs` (default: no limit) and `signal`
   * @returns `true` when the barrier was entered; `false` on timeout, after this member's node was removed
   * @throws the signal's reason when aborted (the member node is removed first);
   *   SessionExpiredError when the session was lost while waiting (the member node went with it);
   *   ZkError on other failures (after removing the member node; an `AggregateError` of both when that also failed)
   */
  async enter(options: BarrierWaitOptions = {}): Promise<boolean> {
    const deadline = deadlineOf(options.timeoutMs);
    const signal = options.signal;
    if (signal?.aborted) throw abortReason(signal);
    let readySeen = false;
    const onReady = (e: WatchEvent) => {
      if (e.type === 'created') readySeen = true;
    };
    const startSession = this.client.sessionId;
    try {
      await this.client.mkdirp(this.path);
      // Recipe step 1: watch for `ready` before creating our node, so its creation is never missed.
      if ((await this.client.exists(this.readyPath, { watch: onReady })) !== null) readySeen = true;
      try {
        await this.client.create(this.ourPath, { data: this.data, mode: CreateMode.EPHEMERAL });
      } catch (err) {
        if (!(err instanceof NodeExistsError)) throw err;
        const stat = await this.client.exists(this.ourPath);
        if (stat === null || stat.ephemeralOwner !== this.client.sessionId) {
          throw new NodeExistsError(`member ${this.memberId} is already in the barrier (another session)`, {
            path: this.ourPath,
            op: 'create',
            cause: err,
          });
        }
      }
      for (;;) {
        if (readySeen) return true;
        if (signal?.aborted) throw abortReason(signal);
        if (this.client.sessionId !== startSession) {
          throw new SessionExpiredError('session lost while entering the barrier; the member node is gone', {
            path: this.ourPath,
            op: 'enter',
          });
        }
        const wake = createWakeup(this.client, deadline, signal);
        const watch = (e: WatchEvent) => {
          onReady(e);
          wake.watcher(e);
        };
        let entered: boolean;
        try {
          entered = (await this.client.exists(this.readyPath, { watch })) !== null || readySeen;
          if (!entered) entered = await this.tryMakeReady();
        } catch (err) {
          wake.dispose();
          throw err;
        }
        if (entered) {
          wake.dispose();
          return true;
        }
        if ((await wake.wait()) === 'timeout') return await this.abandonEntry(() => readySeen);
        // Woken: loop and re-check (ready created? enough members?).
      }
    } catch (err) {
      if (err instanceof SessionExpiredError) throw err;
      await this.removeOwnNodeAfter(err);
      throw err;
    }
  }

  /**
   * Counts the members and, when there are enough, creates `ready` in a `multi` that checks
   * every counted member node still exists.
   * @returns whether the barrier is now entered
   */
  private async tryMakeReady(): Promise<boolean> {
    const members = await this.members();
    if (members.length < this.memberCount) return false;
    const tx = this.client.transaction();
    for (const m of members) tx.check(`${this.path}/${m}`, -1);
    // The ready node names the members it counted, so one that timed out meanwhile can tell.
    tx.create(this.readyPath, { data: JSON.stringify(members) });
    try {
      await tx.commit();
      return true;
    } catch (err) {
      if (err instanceof TransactionError) {
        if (err.opError instanceof NodeExistsError) return true; // someone else made it ready
        if (err.opError instanceof NoNodeError) return false; // a counted member left: re-count on next wake
      }
      throw err;
    }
  }

  /**
   * Timed out: remove our node; if the barrier became ready before it was gone we were
   * counted, so report entry.
   */
  private async abandonEntry(readySeen: () => boolean): Promise<boolean> {
    await deleteRetrying(this.client, this.ourPath, { ephemeral: true });
    // Our `ready` watch was armed from before our node existed, so a `ready` created while we
    // were counted has normally been seen by now; as a second source, `ready` lists the
    // members it counted. A `ready` created after our node was gone did not count us.
    if (readySeen()) return true;
    try {
      const { data } = await this.client.getData(this.readyPath);
      const counted: unknown = JSON.parse(data.toString('utf8') || '[]');
      return Array.isArray(counted) && counted.includes(this.memberId);
    } catch (err) {
      if (err instanceof NoNodeError || err instanceof SyntaxError) return false;
      throw err;
    }
  }

  private async removeOwnNodeAfter(original: unknown): Promise<void> {
    try {
      await deleteRetrying(this.client, this.ourPath, { ephemeral: true });
    } catch (cleanupErr) {
      throw new AggregateError(
        [original, cleanupErr],
        `double barrier ${this.path}: failed, and removing member node failed too`,
      );
    }
  }

  /**
   * Leaves the barrier and waits until every member has left (the recipe's lowest/highest
   * protocol: the lowest member waits for the highest; the others delete their node and wait
   * for the lowest). The last member also deletes the `ready` node.
   * @param options - `timeoutMs` (default: no limit) and `signal`
   * @returns `true` when every member has left; `false` on timeout (this member's node is removed anyway)
   * @throws the signal's reason when aborted (the member node is removed first); ZkError on failures
   */
  async leave(options: BarrierWaitOptions = {}): Promise<boolean> {
    const deadline = deadlineOf(options.timeoutMs);
    const signal = options.signal;
    try {
      for (;;) {
        if (signal?.aborted) throw abortReason(signal);
        const members = await this.members();
        if (members.length === 0) {
          await this.deleteIfExists(this.readyPath);
          return true;
        }
        const weAreIn = members.includes(this.memberId);
        if (weAreIn && members.length === 1) {
          await this.deleteLast();
          return true;
        }
        const lowest = members[0]!;
        const highest = members[members.length - 1]!;
        let target: string;
        if (weAreIn && lowest === this.memberId) {
          target = highest;
        } else {
          if (weAreIn) await deleteRetrying(this.client, this.ourPath, { ephemeral: true });
          target = lowest;
        }
        const wake = createWakeup(this.client, deadline, signal);
        let stat;
        try {
          stat = await this.client.exists(`${this.path}/${target}`, { watch: wake.watcher });
        } catch (err) {
          wake.dispose();
          throw err;
        }
        if (stat === null) {
          wake.dispose();
          continue;
        }
        if ((await wake.wait()) === 'timeout') {
          await deleteRetrying(this.client, this.ourPath, { ephemeral: true });
          return false;
        }
      }
    } catch (err) {
      await this.removeOwnNodeAfter(err);
      throw err;
    }
  }

  /** Deletes our node and `ready` together (we are the last member), or just ours if `ready` is gone. */
  private async deleteLast(): Promise<void> {
    try {
      await this.client.transaction().delete(this.readyPath).delete(this.ourPath).commit();
    } catch (err) {
      if (!(err instanceof TransactionError) || !(err.opError instanceof NoNodeError)) throw err;
      await deleteRetrying(this.client, this.ourPath, { ephemeral: true });
      await this.deleteIfExists(this.readyPath);
    }
  }

  private async deleteIfExists(path: string): Promise<void> {
    try {
      await this.client.delete(path);
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
    }
  }
}
