/**
 * Example handlers for `zkjobs worker start --handlers examples/handlers/index.js`.
 *
 * A handlers module exports one function per job type (here as the default export; named
 * function exports work too). Each handler gets the job and a context: the claim's fencing
 * `token` (pass it to external systems so they can reject a stale writer), an `AbortSignal`
 * (timeout, cancel, lost claim, shutdown), `progress()`, the `attempt` number, and the
 * `worker` and `session` running it. What it returns is stored as the job's result; a throw
 * fails the attempt (UnrecoverableError: no further attempts).
 *
 * ```sh
 * zkjobs worker start --handlers examples/handlers/index.js --concurrency 4
 * zkjobs job submit echo --data '{"hello":"world"}' --wait
 * zkjobs job submit flaky --data '{"failures":2}' --attempts 3 --backoff fixed:100 --wait
 * ```
 */
import { UnrecoverableError } from '@zkjobs/worker';
import { sleep } from '../lib/sleep.js';

export default {
  /** Returns its payload, with who ran it. */
  async echo(job, { token, worker, attempt }) {
    return { echo: job.data, worker, token, attempt };
  },

  /** Waits `data.ms` (default 100) ms, honouring the signal; reports progress halfway and logs (`zkjobs job logs <id>`). */
  async sleep(job, { signal, progress, log, worker, token, attempt }) {
    const ms = Number(job.data?.ms ?? 100);
    await log(`attempt ${attempt} on ${worker}: sleeping ${ms} ms (fencing token ${token})`);
    await sleep(ms / 2, signal);
    progress(50);
    await log('halfway');
    await sleep(ms - ms / 2, signal);
    return { slept: ms, worker, token };
  },

  /** `data.n` squared. */
  async square(job) {
    const n = Number(job.data?.n);
    if (!Number.isFinite(n)) throw new UnrecoverableError('data.n must be a number');
    return n * n;
  },

  /** Fails: with `data.unrecoverable` at once (no retries), else as an ordinary error. */
  async fail(job) {
    const message = job.data?.message ?? 'failed on purpose';
    if (job.data?.unrecoverable) throw new UnrecoverableError(message);
    throw new Error(message);
  },

  /** Fails its first `data.failures` (default 1) attempts, then succeeds. */
  async flaky(job, { attempt, worker, token }) {
    const failures = Number(job.data?.failures ?? 1);
    if (attempt <= failures) throw new Error(`flaky: attempt ${attempt} of ${failures} planned failures`);
    return { attempt, worker, token };
  },
};
