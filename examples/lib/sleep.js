/**
 * `sleep(ms, signal)` for job handlers: resolves after `ms`, or rejects with the signal's own
 * reason (a JobTimeoutError, LostClaimError, JobCancelledError or WorkerClosingError) when it is
 * aborted first, so the attempt is recorded with that error. (`timers/promises` would reject with
 * a generic AbortError instead.)
 */
export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
