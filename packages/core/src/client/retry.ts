/**
 * When to retry an idempotent operation that failed with a connection loss.
 */
export interface RetryPolicy {
  /**
   * @param retryCount - 0 for the first retry
   * @param elapsedMs - ms since the operation started
   * @returns ms to sleep before retry `retryCount`, or `null` to give up
   */
  delayFor(retryCount: number, elapsedMs: number): number | null;
}

/** Options of {@link ExponentialBackoffRetry}. */
export interface ExponentialBackoffRetryOptions {
  /** Sleep before the first retry, ms (randomized between half and all of it). @defaultValue 100 */
  baseSleepMs?: number;
  /** Upper bound of one sleep, ms. @defaultValue 2000 */
  maxSleepMs?: number;
  /** Retries after the first attempt. @defaultValue 5 */
  maxRetries?: number;
}

/** Exponential backoff with jitter and a bound: sleep ≈ base × 2^n, at most `maxSleepMs`, `maxRetries` times. */
export class ExponentialBackoffRetry implements RetryPolicy {
  /** Sleep before the first retry, ms. */
  readonly baseSleepMs: number;
  /** Upper bound of one sleep, ms. */
  readonly maxSleepMs: number;
  /** Retries after the first attempt. */
  readonly maxRetries: number;

  constructor(opts: ExponentialBackoffRetryOptions = {}) {
    this.baseSleepMs = opts.baseSleepMs ?? 100;
    this.maxSleepMs = opts.maxSleepMs ?? 2000;
    this.maxRetries = opts.maxRetries ?? 5;
  }

  /** {@inheritDoc RetryPolicy.delayFor} */
  delayFor(retryCount: number, _elapsedMs: number): number | null {
    if (retryCount >= this.maxRetries) return null;
    const exp = this.baseSleepMs * 2 ** Math.min(retryCount, 30);
    return Math.min(this.maxSleepMs, Math.round(exp * (0.5 + Math.random() / 2)));
  }
}

/** Never retries. */
export const RetryNever: RetryPolicy = Object.freeze({
  delayFor(): number | null {
    return null;
  },
});
