/**
 * One run of a job's handler: its context (token, signal, progress, log), its timeout, and, for a
 * gang task, the DoubleBarrier its tasks enter and leave together.
 */
import { DoubleBarrier } from '@zkjobs/core';
import { JobTimeoutError } from '../errors.js';
import type { RunOutcome } from '../engine/transitions.js';
import type { Job } from '../job.js';
import { gangBarrierPath } from '../layout.js';
import { storableResult, type Processor, type ProcessorContext } from '../processor.js';
import type { ActiveJob, ConsumerContext } from './context.js';
import { LogWriter, checkLogLine } from './logs.js';
import { ProgressWriter, encodeProgress } from './progress.js';

/** A gang task waits at most this long for its siblings, at the start and at the end, ms. */
const GANG_BARRIER_TIMEOUT_MS = 60_000;

/**
 * Runs `handler` for the active job `a`.
 * @returns how it ended, and the handler's own time in ms (undefined when it never started)
 */
export async function runHandler(
  ctx: ConsumerContext,
  a: ActiveJob,
  job: Job,
  handler: Processor,
): Promise<{ outcome: RunOutcome; handlerMs?: number }> {
  const rec = a.rec;
  const timeout = rec.opts.timeout;
  if (timeout !== undefined) a.timer = setTimeout(() => a.abort.abort(new JobTimeoutError(timeout)), timeout);
  let t0 = -1;
  let outcome: RunOutcome;
  try {
    const abort = a.abort;
    const pctx: ProcessorContext = {
      token: a.token,
      // Made when the handler first asks for it (see RunAbort).
      get signal() {
        return abort.signal;
      },
      attempt: rec.attemptsMade,
      worker: a.worker,
      session: a.session,
      progress: (value: unknown) => {
        const data = encodeProgress({ value, token: a.token, attempt: rec.attemptsMade, at: Date.now() });
        ctx.log.debug({ jobId: a.id, progress: value }, 'job progress');
        ctx.events.emit('progress', job, value);
        a.progress ??= new ProgressWriter(ctx, a);
        return a.progress.write(data);
      },
      log: (line: string) => {
        try {
          checkLogLine(line);
        } catch (err) {
          return Promise.reject(err as Error);
        }
        a.logs ??= new LogWriter(ctx, a);
        return a.logs.write({ at: Date.now(), attempt: rec.attemptsMade, token: a.token, line });
      },
    };
    let result: unknown;
    if (rec.gang) {
      const aborted = new Promise<never>((_, reject) => abort.onAbort(reject));
      aborted.catch(() => undefined);
      pctx.gang = { index: rec.gang.index, size: rec.gang.size, parent: rec.gang.parent };
      const barrier = new DoubleBarrier(ctx.client, gangBarrierPath(rec.gang.parent, rec.attemptsMade), rec.gang.size, {
        memberId: `t${rec.gang.index}`,
      });
      const signal = abort.signal;
      const entered = await Promise.race([barrier.enter({ signal, timeoutMs: GANG_BARRIER_TIMEOUT_MS }), aborted]);
      if (!entered) throw new Error('gang barrier: not every task started within 60 s');
      t0 = performance.now();
      result = await Promise.race([Promise.resolve().then(() => handler(job, pctx)), aborted]);
      await Promise.race([barrier.leave({ signal, timeoutMs: GANG_BARRIER_TIMEOUT_MS }), aborted]);
    } else {
      t0 = performance.now();
      // The handler's result, or the abort's reason as soon as the run is aborted (whichever
      // comes first), in one promise.
      result = await new Promise((resolve, reject) => {
        abort.onAbort(reject);
        Promise.resolve()
          .then(() => handler(job, pctx))
          .then(resolve, reject);
      });
    }
    outcome = { kind: 'completed', result: storableResult(result) };
  } catch (err) {
    outcome = { kind: 'failed', error: err };
  }
  if (a.timer) clearTimeout(a.timer);
  if (a.progress) a.progress.closed = true;
  if (a.logs) a.logs.closed = true;
  return t0 >= 0 ? { outcome, handlerMs: performance.now() - t0 } : { outcome };
}
