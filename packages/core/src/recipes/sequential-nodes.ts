/**
 * Helpers of the sequential-node recipes (election, locks); not exported from the package.
 * @internal
 * @packageDocumentation
 */
import { ConnectionLossError, NoNodeError, OperationTimeoutError, SessionExpiredError } from '../errors.js';
import type { ZkClient } from '../client/zk-client.js';
import { isConnectedState } from '../client/connection-state.js';
import { joinPath, sequenceOf } from '../client/paths.js';
import { CreateMode } from '../client/create-mode.js';
import { isContender, type ContenderNames } from './contenders.js';

/** A sequential child name with its signed 32-bit sequence number. */
export interface SequencedName {
  name: string;
  seq: number;
}

const SUFFIX = /^(\d{10}|-\d{9})$/;

/**
 * Whether `name` is one of a recipe's own nodes: `<prefix>NNNNNNNNNN`, or the same behind a
 * protected-create marker (`_c_<guid>-<prefix>NNNNNNNNNN`, Curator's form).
 */
export function isOwnNode(name: string, prefix: string): boolean {
  if (name.length < 10 || !SUFFIX.test(name.slice(-10))) return false;
  const stem = name.slice(0, -10);
  return stem === prefix || (stem.startsWith('_c_') && stem.endsWith('-' + prefix));
}

/**
 * The recipe's children: its own (see {@link isOwnNode}, for any of `prefixes`) and, with
 * `patterns`, those of other libraries (see {@link isContender}), sorted by the 10-digit suffix
 * read as a signed 32-bit integer; ties (impossible for one parent) by name.
 */
export function sortOwn(
  children: readonly string[],
  prefixes: readonly string[],
  patterns: readonly string[] = [],
): string[] {
  const names: ContenderNames = { prefixes, patterns };
  return children
    .filter((c) => isContender(c, names))
    .map((name): SequencedName => ({ name, seq: sequenceOf(name) }))
    .sort((a, b) => a.seq - b.seq || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => s.name);
}

/** True for errors after which the same request may succeed once the connection is back. */
export function isRetryable(err: unknown): boolean {
  return err instanceof ConnectionLossError || err instanceof OperationTimeoutError;
}

/** True when the session that owned something is gone. */
export function isSessionGone(err: unknown): boolean {
  return err instanceof SessionExpiredError;
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortReason(signal));
    const onAbort = () => {
      clearTimeout(t);
      reject(abortReason(signal!));
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The signal's reason as an Error (an `AbortError` DOMException when none was given). */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  return new DOMException(r === undefined ? 'The operation was aborted' : String(r), 'AbortError');
}

/**
 * Resolves when the client can send requests again (`connected`/`reconnected`), at once if it
 * can now; also resolves after `maxWaitMs` so callers re-check, and rejects on abort.
 */
export function untilConnected(client: ZkClient, maxWaitMs: number, signal?: AbortSignal): Promise<void> {
  if (isConnectedState(client.state)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      client.off('state', onState);
      signal?.removeEventListener('abort', onAbort);
    };
    const onState = () => {
      if (isConnectedState(client.state)) {
        done();
        resolve();
      }
    };
    const onAbort = () => {
      done();
      reject(abortReason(signal!));
    };
    const t = setTimeout(() => {
      done();
      resolve();
    }, maxWaitMs);
    client.on('state', onState);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Deletes a node the recipe created, retrying connection losses until it is gone (a missing
 * node counts as deleted: sequential names are never reused; so does an ephemeral node of a
 * closed client, whose session the close ended). Never swallows other errors.
 * @param attempts - connection-loss retries before giving up (each waits up to `retryWaitMs`)
 * @throws the last connection-loss error when every attempt failed, or any other ZkError
 */
export async function deleteOwnNode(client: ZkClient, path: string, attempts = 20, retryWaitMs = 1000): Promise<void> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    // A closed client closed its session: the server deleted its ephemeral nodes with it.
    if (client.isClosed) return;
    try {
      await client.delete(path);
      return;
    } catch (err) {
      if (err instanceof NoNodeError) return;
      if (!isRetryable(err) && !isSessionGone(err)) throw err;
      last = err;
      await untilConnected(client, retryWaitMs);
      if (isConnectedState(client.state)) await delay(Math.min(50 * 2 ** i, 500));
    }
  }
  throw last;
}

/**
 * Makes sure the caller holds an `EPHEMERAL_SEQUENTIAL` node `<parent>/<prefix>NNNNNNNNNN` of
 * the client's *current* session. A `held` node of a session that is gone is deleted first (the
 * server may not have expired it yet; {@link deleteOwnNode} retries) and a new one is created,
 * with parents — it goes to the back of the line.
 * @returns `held` itself when it belongs to the current session, else the new node
 * @throws the create's or the clean-up's ZkError
 */
export async function ensureOwnNode(
  client: ZkClient,
  held: { path: string; sessionId: bigint } | null,
  parent: string,
  prefix: string,
  data?: Buffer,
): Promise<{ path: string; sessionId: bigint }> {
  if (held !== null && held.sessionId === client.sessionId) return held;
  if (held !== null) await deleteOwnNode(client, held.path);
  const sessionId = client.sessionId;
  const path = await client.create(joinPath(parent, prefix), {
    mode: CreateMode.EPHEMERAL_SEQUENTIAL,
    parents: true,
    ...(data !== undefined ? { data } : {}),
  });
  return { path, sessionId };
}

/**
 * The default period of the sequential-node recipes' safety re-check (ms): a waiter that heard
 * nothing for this long lists again. Waiters are woken by their watch; this only bounds the
 * cost of a notification that never comes.
 */
export const DEFAULT_RECHECK_MS = 2000;

/**
 * Checks a `recheckMs` option: an integer from 1 to 2^31 - 1 (the largest Node timer).
 * @throws RangeError
 */
export function checkRecheckMs(what: string, ms: number | undefined): number {
  if (ms === undefined) return DEFAULT_RECHECK_MS;
  if (!Number.isInteger(ms) || ms < 1 || ms > 2 ** 31 - 1)
    throw new RangeError(`${what}: recheckMs must be an integer from 1 to 2147483647, got ${String(ms)}`);
  return ms;
}

/**
 * How long a recipe's wait may last before it wakes to re-check its condition: `ms`, but at most
 * `recheckMs` — a safety net against a lost wake-up, and never `Infinity` (which Node fires after
 * 1 ms, a busy loop).
 * @param recheckMs - the safety re-check period @defaultValue {@link DEFAULT_RECHECK_MS}
 */
export function timerMs(ms: number, recheckMs = DEFAULT_RECHECK_MS): number {
  return Math.min(Math.max(0, ms), recheckMs);
}

/** A wait ended by {@link SessionAwareWait.wake}, a session event, a timer or an abort. */
export interface SessionAwareWait {
  /** Resolves on a wake-up or the timer; rejects on abort or {@link SessionAwareWait.fail}. */
  readonly promise: Promise<void>;
  /** Whether the wait has ended. */
  readonly settled: boolean;
  /** Ends the wait (a watch fired): the caller re-checks. */
  wake(): void;
  /** Ends the wait with an error. */
  fail(err: Error): void;
}

/**
 * The wait of the sequential-node recipes: it ends when the caller's watch wakes it, when the
 * client's session changes (`lost`, `connected`, `reconnected` — a watch may never fire then),
 * after {@link timerMs}(`maxWaitMs`, `recheckMs`), or when `signal` aborts (rejecting with its
 * reason). The caller re-checks its condition in every case.
 * @param onSettle - called synchronously as the wait ends
 * @param recheckMs - the safety re-check period @defaultValue {@link DEFAULT_RECHECK_MS}
 */
export function sessionAwareWait(
  client: ZkClient,
  maxWaitMs: number,
  signal?: AbortSignal,
  onSettle?: () => void,
  recheckMs = DEFAULT_RECHECK_MS,
): SessionAwareWait {
  let settled = false;
  let finish: (err?: Error) => void = () => undefined;
  const promise = new Promise<void>((resolve, reject) => {
    const onWake = (): void => finish();
    const onAbort = (): void => finish(abortReason(signal!));
    const timer = setTimeout(onWake, timerMs(maxWaitMs, recheckMs));
    finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      client.off('lost', onWake);
      client.off('connected', onWake);
      client.off('reconnected', onWake);
      onSettle?.();
      if (err) reject(err);
      else resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    client.on('lost', onWake);
    client.on('connected', onWake);
    client.on('reconnected', onWake);
  });
  return {
    promise,
    get settled() {
      return settled;
    },
    wake: () => finish(),
    fail: (err: Error) => finish(err),
  };
}
