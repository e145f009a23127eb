/**
 * A distributed counting semaphore: at most `maxLeases` holders at once — Apache Curator's
 * `InterProcessSemaphoreV2` (a lock that admits one candidate at a time, and a directory of
 * leases), with Kazoo's `Semaphore` surface (one lease per object).
 *
 * Status: **beta**.
 *
 * Layout: `<path>/locks/lock-NNNNNNNNNN` (the {@link LockInternals} mutex that lines candidates
 * up, each watching only its predecessor) and `<path>/leases/lease-NNNNNNNNNN`. The candidate
 * that holds the internal lock creates its lease node and, while more than `maxLeases` leases
 * exist before and including its own, waits on the leases' children watch — it is the only one
 * watching that directory, so a release wakes exactly one client (no herd). Once admitted it
 * releases the internal lock and keeps its lease until `release()`. A candidate that times out
 * or is aborted deletes its lease node and its lock node (retrying connection losses; the error
 * of a failed clean-up is thrown). Every participant of one path must use the same
 * `maxLeases`. A lease whose session may be gone is reported by a `lost` event and an aborted
 * {@link Semaphore.signal}, as for {@link Mutex}.
 *
 * **Other libraries.** This is Curator's `InterProcessSemaphoreV2` layout, and the two share a
 * path: the gate counts every lock node (Curator's `_c_<uuid>-lock-NNNNNNNNNN` too, see
 * {@link Mutex}), and the leases count Curator's `_c_<uuid>-lease-NNNNNNNNNN` nodes. Kazoo's
 * `Semaphore` has another layout — its lease count as the data of `<path>`, one ephemeral
 * `<path>/<uuid>` per holder, its gate at `<path>-__lock__` — which cannot meet this one (each
 * would count the other's nodes wrongly). So each acquisition first looks for Kazoo's marks
 * (a number other than `0` as the data of `<path>`, a 32-hex-digit child, the `<path>-__lock__`
 * node) and throws {@link IncompatibleRecipeError} when it finds one; and the znode `<path>`
 * is created holding the text `0`, which a Kazoo `Semaphore` reads as a lease count that is not
 * its own and refuses with `ValueError: Inconsistent max leases`.
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import { basename, joinPath, validatePath } from '../client/paths.js';
import type { WatchEvent } from '../client/watch.js';
import { NodeExistsError, NoNodeError } from '../errors.js';
import { ALL_LOCK_NAMES, checkPatterns, CURATOR_NODE_NAMES, IncompatibleRecipeError } from './contenders.js';
import {
  LockInternals,
  SequentialLock,
  standardLockDriver,
  type AcquireOptions,
  type HeldNode,
  type LockEngine,
} from './lock-internals.js';
import {
  abortReason,
  checkRecheckMs,
  deleteOwnNode,
  ensureOwnNode,
  isRetryable,
  isSessionGone,
  sortOwn,
  sessionAwareWait,
  untilConnected,
} from './sequential-nodes.js';

/** Options of {@link Semaphore}. */
export interface SemaphoreOptions {
  /** Name prefix of the lease nodes. @defaultValue `'lease-'` */
  prefix?: string;
  /** Payload of this holder's lease node (e.g. who holds it). @defaultValue empty */
  data?: Buffer | string;
  /**
   * More lease node names that count as holders (literal text, as Kazoo's
   * `extra_lock_patterns`): any child of `leases/` whose name ends with `<pattern>NNNNNNNNNN`.
   * @defaultValue none (Curator's `lease-` always counts)
   */
  extraPatterns?: readonly string[];
  /**
   * A waiter that heard nothing for this long lists the contenders again: a safety net, since
   * its watch (the gate's predecessor, or the leases) wakes it. Integer ms, 1 to 2^31 - 1. @defaultValue `2000`
   */
  recheckMs?: number;
}

/**
 * The data of a semaphore's znode: a lease count no Kazoo `Semaphore` has, so that one refuses
 * the path (Kazoo keeps its `max_leases` there and checks it).
 */
const KAZOO_REFUSAL = '0';

/** The two-level engine of {@link Semaphore} (Curator's InterProcessSemaphoreV2). */
class SemaphoreEngine implements LockEngine {
  private readonly lock: LockInternals;
  private readonly leasesPath: string;
  private deliveries = 0;

  constructor(
    readonly client: ZkClient,
    readonly basePath: string,
    private readonly maxLeases: number,
    private readonly prefix: string,
    private readonly data: Buffer,
    extraPatterns: readonly string[],
    private readonly recheckMs: number,
  ) {
    this.lock = new LockInternals(
      client,
      joinPath(basePath, 'locks'),
      'lock-',
      standardLockDriver(['lock-'], 1, ALL_LOCK_NAMES),
      Buffer.alloc(0),
      recheckMs,
    );
    this.leasesPath = joinPath(basePath, 'leases');
    this.leaseNames = [CURATOR_NODE_NAMES.lease, ...extraPatterns];
  }

  private readonly leaseNames: readonly string[];

  /** This semaphore's lease nodes (and Curator's), sorted by sequence. */
  private sortLeases(children: readonly string[]): string[] {
    return sortOwn(children, [this.prefix], this.leaseNames);
  }

  /**
   * Makes sure `<path>` exists (created holding the text `0`) and is not a Kazoo
   * `Semaphore`. @throws IncompatibleRecipeError when it is; a ZkError
   */
  private async checkLayout(): Promise<void> {
    const base = this.basePath;
    const read = () => this.client.getData(base).then(({ data }) => data);
    let data: Buffer;
    try {
      data = await read();
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
      try {
        await this.client.create(base, { data: KAZOO_REFUSAL, parents: true });
        data = Buffer.from(KAZOO_REFUSAL);
      } catch (e) {
        if (!(e instanceof NodeExistsError)) throw e;
        data = await read();
      }
    }
    const [{ children }, kazooGate] = await Promise.all([
      this.client.getChildren(base).catch((err: unknown) => {
        if (err instanceof NoNodeError) return { children: [] as string[] };
        throw err;
      }),
      base === '/' ? Promise.resolve(null) : this.client.exists(`${base}-__lock__`),
    ]);
    const text = data.toString('utf8').trim();
    const marks: string[] = [];
    if (/^-?\d+$/.test(text) && Number(text) !== 0) marks.push(`the lease count ${text} as its data`);
    const leases = children.filter((c) => /^[0-9a-f]{32}$/.test(c));
    if (leases.length > 0) marks.push(`${leases.length} lease node(s) such as ${leases[0]!}`);
    if (kazooGate !== null) marks.push(`its lock ${base}-__lock__`);
    if (marks.length > 0) {
      throw new IncompatibleRecipeError(
        base,
        'Kazoo Semaphore',
        `semaphore ${base} is a Kazoo Semaphore (${marks.join(', ')}); zkjobs's Semaphore has ` +
          `Curator's InterProcessSemaphoreV2 layout (${base}/locks, ${base}/leases) and cannot share it: use another path`,
      );
    }
  }

  get watchDeliveries(): number {
    return this.deliveries + this.lock.watchDeliveries;
  }

  async participantNodes(): Promise<string[]> {
    try {
      const { children } = await this.client.getChildren(this.leasesPath);
      return this.sortLeases(children).map((n) => joinPath(this.leasesPath, n));
    } catch (err) {
      if (err instanceof NoNodeError) return [];
      throw err;
    }
  }

  release(path: string): Promise<void> {
    return deleteOwnNode(this.client, path);
  }

  async attempt(opts: AcquireOptions): Promise<HeldNode | null> {
    const { signal } = opts;
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + Math.max(0, opts.timeoutMs);
    for (;;) {
      try {
        await this.checkLayout();
        break;
      } catch (err) {
        if (!isRetryable(err)) throw err;
        const remaining = deadline - Date.now();
        if (remaining <= 0) return null;
        await untilConnected(this.client, Math.min(remaining, 1000), signal);
      }
    }
    const gate = await this.lock.attempt(opts);
    if (gate === null) return null;
    let lease: HeldNode | null = null;
    let ok = false;
    try {
      for (;;) {
        if (signal?.aborted) throw abortReason(signal);
        try {
          lease = await ensureOwnNode(this.client, lease, this.leasesPath, this.prefix, this.data);
          const wake = this.armChildrenWatch();
          const { children } = await this.client.getChildren(this.leasesPath, { watch: wake.watcher });
          const sorted = this.sortLeases(children);
          const i = sorted.indexOf(basename(lease.path));
          if (i < 0) {
            wake.cancel();
            lease = { ...lease, sessionId: -1n };
            continue;
          }
          if (i < this.maxLeases && lease.sessionId === this.client.sessionId) {
            wake.cancel();
            ok = true;
            return lease;
          }
          const remaining = deadline - Date.now();
          if (remaining <= 0) {
            wake.cancel();
            return null;
          }
          await wake.wait(remaining, signal);
        } catch (err) {
          if (!isRetryable(err) && !isSessionGone(err)) throw err;
          const remaining = deadline - Date.now();
          if (remaining <= 0) return null;
          await untilConnected(this.client, Math.min(remaining, 1000), signal);
        }
        if (Date.now() >= deadline) {
          // Look once more: the wake-up may be the lease that admits us.
          if (lease !== null && lease.sessionId === this.client.sessionId) {
            const nodes = await this.participantNodes().catch(() => [] as string[]);
            const i = nodes.indexOf(lease.path);
            if (i >= 0 && i < this.maxLeases) {
              ok = true;
              return lease;
            }
          }
          return null;
        }
      }
    } finally {
      try {
        if (!ok && lease !== null) await deleteOwnNode(this.client, lease.path);
      } finally {
        await this.lock.release(gate.path);
      }
    }
  }

  /** A one-shot children watch whose firing (or a session event) ends a wait. */
  private armChildrenWatch() {
    let fired = false;
    let waiting: (() => void) | null = null;
    let cancelled = false;
    const watcher = (event: WatchEvent) => {
      fired = true;
      if (!cancelled && waiting !== null && event.type !== 'session-expired') this.deliveries++;
      waiting?.();
    };
    const wait = (maxWaitMs: number, signal?: AbortSignal): Promise<void> => {
      if (fired) return Promise.resolve();
      const w = sessionAwareWait(this.client, maxWaitMs, signal, () => (waiting = null), this.recheckMs);
      waiting = w.wake;
      return w.promise;
    };
    return {
      watcher,
      wait,
      cancel: () => {
        cancelled = true;
      },
    };
  }
}

/**
 * A semaphore with `maxLeases` leases. One `Semaphore` object holds at most one lease:
 * `acquire()` while holding returns `true` without taking another. `acquire()` throws
 * {@link IncompatibleRecipeError} when the path is a Kazoo `Semaphore` (it shares Curator's
 * `InterProcessSemaphoreV2` instead). Events: see {@link SequentialLockEvents}.
 */
export class Semaphore extends SequentialLock {
  /** The number of leases (the same for every participant of the path). */
  readonly maxLeases: number;

  /**
   * @param client - a connected ZkClient
   * @param path - the semaphore's znode (created with parents on first use)
   * @param maxLeases - how many holders at once (integer ≥ 1)
   * @param opts - lease node prefix, payload, extra lease names, re-check period
   * @throws RangeError for a bad `maxLeases`, prefix, extra pattern or `recheckMs`; InvalidPathError for a bad path
   */
  constructor(client: ZkClient, path: string, maxLeases: number, opts: SemaphoreOptions = {}) {
    validatePath(path);
    if (!Number.isInteger(maxLeases) || maxLeases < 1)
      throw new RangeError(`maxLeases must be an integer >= 1, got ${maxLeases}`);
    const prefix = opts.prefix ?? 'lease-';
    if (prefix.includes('/') || prefix.length === 0)
      throw new RangeError(`invalid lease prefix ${JSON.stringify(prefix)}`);
    const data = opts.data === undefined ? Buffer.alloc(0) : Buffer.from(opts.data);
    const extra = checkPatterns(`Semaphore ${path}`, opts.extraPatterns);
    const recheckMs = checkRecheckMs(`Semaphore ${path}`, opts.recheckMs);
    super(new SemaphoreEngine(client, path, maxLeases, prefix, data, extra, recheckMs), false);
    this.maxLeases = maxLeases;
  }

  /** The lease nodes held now (at most `maxLeases`), lowest sequence first. @throws a ZkError */
  async getLeaseHolders(): Promise<string[]> {
    return (await this.getParticipantNodes()).slice(0, this.maxLeases);
  }
}
