/**
 * Small helpers of the job engine: bounded concurrency, create-if-missing, and one
 * retry-with-backoff loop for the engine's reads and writes.
 */
import type { ReadOp, ReadResult, ZkClient } from '@zkjobs/core';
import { NodeExistsError, ReplyTooLargeError } from '@zkjobs/core';
import PQueue from 'p-queue';

/**
 * Runs `fn` over `items` with at most `limit` (at least 1) in flight (a p-queue), preserving
 * result order; rejects with the first failure, after which no further item is started.
 */
export async function mapLimit<T, U>(
  items: readonly T[],
  limit: number,
  fn: (t: T, i: number) => Promise<U>,
): Promise<U[]> {
  const queue = new PQueue({ concurrency: Math.max(1, limit) });
  try {
    return await Promise.all(items.map((t, i) => queue.add(() => fn(t, i))));
  } finally {
    // After a failure nothing more is started (those running finish on their own).
    queue.clear();
  }
}

/** Creates a persistent znode (and its missing parents); one that exists already is fine. */
export async function createIfMissing(client: ZkClient, path: string): Promise<void> {
  try {
    await client.create(path, { parents: true });
  } catch (err) {
    if (!(err instanceof NodeExistsError)) throw err;
  }
}

/** Resolves after `ms` ms. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Options of {@link retrying}. */
export interface RetryingOptions {
  /** Sleep before the first retry, ms; doubled after each. @defaultValue 100 */
  baseMs?: number;
  /** Longest sleep between two tries, ms. @defaultValue 1000 */
  maxMs?: number;
  /** Stop retrying when this returns true (checked before each try); {@link retrying} then resolves `undefined`. */
  until?: () => boolean;
  /** Give up this many ms after the first try (resolves `undefined`). @defaultValue no deadline */
  forMs?: number;
  /** Errors for which this returns false are thrown at once instead of retried. @defaultValue every error is retried */
  retryOn?: (err: unknown) => boolean;
}

/**
 * Runs `fn` until it resolves, sleeping `baseMs × 2^n` (at most `maxMs`) after each failure.
 * @returns `fn`'s value, or `undefined` when `until` said stop or `forMs` passed first
 * @throws the error of a try for which `retryOn` returned false
 */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryingOptions = {}): Promise<T | undefined> {
  const base = opts.baseMs ?? 100;
  const max = opts.maxMs ?? 1000;
  const deadline = opts.forMs === undefined ? Infinity : Date.now() + opts.forMs;
  for (let tries = 0; ; tries++) {
    if (opts.until?.()) return undefined;
    if (Date.now() >= deadline) return undefined;
    try {
      return await fn();
    } catch (err) {
      if (opts.retryOn && !opts.retryOn(err)) throw err;
    }
    await sleep(Math.min(max, base * 2 ** Math.min(tries, 20)));
  }
}

/** The delay before retry `n` (0-based) of a doubling backoff: `base × 2^n`, at most `max`, ms. */
export function backoffStep(n: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.min(n, 20));
}

/**
 * Reads `ops` in `multiRead`s of at most `per` (default 64), in order; a chunk whose reply is over
 * the client's reply limit is read again in halves (a single read over it fails as it would alone).
 * @returns one result per op, in order
 */
export async function multiReadChunked(client: ZkClient, ops: readonly ReadOp[], per = 64): Promise<ReadResult[]> {
  const out: ReadResult[] = [];
  for (let i = 0; i < ops.length;) {
    const chunk = ops.slice(i, i + per);
    try {
      out.push(...(await client.multiRead(chunk)));
    } catch (err) {
      if (err instanceof ReplyTooLargeError && chunk.length > 1) {
        per = Math.max(1, Math.floor(chunk.length / 2));
        continue;
      }
      throw err;
    }
    i += chunk.length;
  }
  return out;
}

const madeDirs = new WeakMap<ZkClient, Set<string>>();

/**
 * Makes `path` exist once per client (a persistent znode, made if missing): later calls for the
 * same client and path return at once, without a request.
 */
export async function ensureDirOnce(client: ZkClient, path: string): Promise<void> {
  let made = madeDirs.get(client);
  if (!made) madeDirs.set(client, (made = new Set()));
  if (made.has(path)) return;
  await createIfMissing(client, path);
  made.add(path);
}
