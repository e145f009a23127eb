/**
 * A single-node barrier: while the barrier node exists, {@link Barrier.wait} blocks; removing
 * the node releases every waiter. Follows the "Barriers" section of ZooKeeper's *Recipes and
 * Solutions* page, with the API of Kazoo's `Barrier` and Curator's `DistributedBarrier`
 * (`set` / `remove` / `wait`).
 *
 * Status: **stable**.
 * @packageDocumentation
 */
import type { ZkClient } from '../client/zk-client.js';
import type { WatchEvent } from '../client/watch.js';
import { isConnectedState } from '../client/connection-state.js';
import {
  ConnectionLossError,
  NodeExistsError,
  NoNodeError,
  OperationTimeoutError,
  SessionExpiredError,
} from '../errors.js';

/** The signal's reason as an Error (an `AbortError` DOMException when none was given). @internal */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return new DOMException(r === undefined ? 'The operation was aborted' : String(r), 'AbortError');
}

/** True for errors after which the same request may succeed once the connection is back. @internal */
export function isRetryable(err: unknown): boolean {
  return err instanceof ConnectionLossError || err instanceof OperationTimeoutError;
}

/**
 * Deletes a node this recipe created, retrying connection losses (a missing node counts as
 * deleted). For an ephemeral node, a SessionExpiredError also means it is gone. Never swallows
 * other errors.
 * @param attempts - tries before giving up
 * @throws the last error when every attempt failed with connection loss; any other ZkError at once
 * @internal
 */
export async function deleteRetrying(
  client: ZkClient,
  path: string,
  opts: { ephemeral?: boolean; attempts?: number } = {},
): Promise<void> {
  const attempts = opts.attempts ?? 20;
  for (let i = 0; ; i++) {
    try {
      await client.delete(path);
      return;
    } catch (err) {
      if (err instanceof NoNodeError) return;
      if (opts.ephemeral && err instanceof SessionExpiredError) return;
      // A closed client closed its session: its ephemerals are gone with it.
      if (opts.ephemeral && client.isClosed) return;
      if (!isRetryable(err) || i + 1 >= attempts) throw err;
      await new Promise((r) => setTimeout(r, isConnectedState(client.state) ? Math.min(50 * 2 ** i, 500) : 250));
    }
  }
}

/** Options of {@link Barrier.wait} and of the other blocking calls of the barrier recipes. */
export interface BarrierWaitOptions {
  /**
   * Gives up after this many milliseconds and resolves `false`.
   * @defaultValue no limit
   */
  timeoutMs?: number;
  /** Aborts the wait: the call rejects with the signal's reason (an `AbortError` when none was given). */
  signal?: AbortSignal;
}

/**
 * A one-shot wake-up for the recipes that wait on a watch: `watcher` is passed as a watch, and
 * {@link Wakeup.wait} resolves `'event'` when it fires (or when the client reconnects or gets a
 * new session, or after {@link WAIT_RECHECK_MS} without news, so that the caller re-checks),
 * `'timeout'` at the deadline, and rejects on abort.
 * A wake-up is only a hint: callers always re-check their condition (Curator's bug #1290).
 * @internal
 */
export interface Wakeup {
  /** Pass as `{ watch }` to `exists` / `getData` / `getChildren`. */
  readonly watcher: (event: WatchEvent) => void;
  /** Resolves on the first of: watch event, reconnection, new session, deadline; rejects on abort. */
  wait(): Promise<'event' | 'timeout'>;
  /** Removes listeners and timers; idempotent. */
  dispose(): void;
}

/**
 * @internal
 * Longest a blocking recipe call waits for a watch event before re-checking anyway, in ms: a
 * safety net so that a lost notification delays a waiter instead of hanging it.
 */
export const WAIT_RECHECK_MS = 2000;

/**
 * Creates a {@link Wakeup}.
 * @param deadline - epoch ms after which {@link Wakeup.wait} resolves `'timeout'`; `undefined` for none
 * @internal
 */
export function createWakeup(client: ZkClient, deadline: number | undefined, signal: AbortSignal | undefined): Wakeup {
  let fired = false;
  let notify: (() => void) | undefined;
  const fire = () => {
    fired = true;
    notify?.();
  };
  const onState = () => fire();
  client.on('reconnected', onState);
  client.on('connected', onState);
  client.on('session', onState);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const dispose = () => {
    client.off('reconnected', onState);
    client.off('connected', onState);
    client.off('session', onState);
    if (timer !== undefined) clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  };
  return {
    watcher: () => fire(),
    dispose,
    wait() {
      return new Promise<'event' | 'timeout'>((resolve, reject) => {
        if (signal?.aborted) {
          dispose();
          reject(abortReason(signal));
          return;
        }
        if (fired) {
          dispose();
          resolve('event');
          return;
        }
        notify = () => {
          dispose();
          resolve('event');
        };
        const left = deadline === undefined ? Infinity : Math.max(0, deadline - Date.now());
        if (left <= WAIT_RECHECK_MS) {
          timer = setTimeout(() => {
            dispose();
            resolve('timeout');
          }, left);
        } else {
          // Safety net (see WAIT_RECHECK_MS): wake up and let the caller re-check.
          timer = setTimeout(() => {
            dispose();
            resolve('event');
          }, WAIT_RECHECK_MS);
        }
        if (signal) {
          onAbort = () => {
            dispose();
            reject(abortReason(signal));
          };
          signal.addEventListener('abort', onAbort, { once: true });
        }
      });
    },
  };
}

/** Epoch ms deadline for an optional timeout. @internal */
export function deadlineOf(timeoutMs: number | undefined): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new RangeError(`timeoutMs must be >= 0, got ${timeoutMs}`);
  return Date.now() + timeoutMs;
}

/**
 * A barrier node at `path`: {@link Barrier.set} raises it, {@link Barrier.remove} lowers it,
 * {@link Barrier.wait} blocks while it is raised.
 *
 * ```ts
 * const barrier = new Barrier(client, '/barriers/deploy');
 * await barrier.set();
 * // elsewhere: await barrier.wait({ timeoutMs: 30_000 });
 * await barrier.remove(); // releases every waiter
 * ```
 */
export class Barrier {
  /**
   * @param client - a connected {@link ZkClient}
   * @param path - the barrier node (relative to the client's namespace); its parents are created by {@link Barrier.set}
   * @param _options - reserved; none yet
   */
  constructor(
    readonly client: ZkClient,
    readonly path: string,
    _options: Record<string, never> = {},
  ) {}

  /**
   * Raises the barrier: creates the barrier node (persistent) and its missing parents.
   * @returns `true` if this call created it, `false` if it was already raised
   * @throws ZkError on any other failure (e.g. ConnectionLossError)
   */
  async set(): Promise<boolean> {
    try {
      await this.client.create(this.path, { parents: true });
      return true;
    } catch (err) {
      if (err instanceof NodeExistsError) return false;
      throw err;
    }
  }

  /**
   * Lowers the barrier (deletes its node), releasing every waiter.
   * @returns `true` if this call deleted it, `false` if it was not raised
   * @throws NotEmptyError if something created children under the barrier node; other ZkErrors as they come
   */
  async remove(): Promise<boolean> {
    try {
      await this.client.delete(this.path);
      return true;
    } catch (err) {
      if (err instanceof NoNodeError) return false;
      throw err;
    }
  }

  /** Whether the barrier is raised now (one `exists`). */
  async isSet(): Promise<boolean> {
    return (await this.client.exists(this.path)) !== null;
  }

  /**
   * Waits until the barrier is lowered. Every wake-up (watch event, reconnection, new
   * session) re-checks the node, so a spurious wake-up never passes the barrier.
   * @param options - `timeoutMs` (default: no limit) and `signal`
   * @returns `true` once the barrier node does not exist (at once if it is not raised), `false` on timeout
   * @throws the signal's reason when aborted; ZkError on ZooKeeper failures
   */
  async wait(options: BarrierWaitOptions = {}): Promise<boolean> {
    const deadline = deadlineOf(options.timeoutMs);
    for (;;) {
      if (options.signal?.aborted) throw abortReason(options.signal);
      const wake = createWakeup(this.client, deadline, options.signal);
      let stat;
      try {
        stat = await this.client.exists(this.path, { watch: wake.watcher });
      } catch (err) {
        wake.dispose();
        throw err;
      }
      if (stat === null) {
        wake.dispose();
        return true;
      }
      if ((await wake.wait()) === 'timeout') {
        // Last look: the node may have gone just as the deadline passed.
        return (await this.client.exists(this.path)) === null;
      }
    }
  }
}
