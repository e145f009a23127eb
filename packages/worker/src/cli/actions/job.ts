import {
  isClaimEntry,
  JOB_TYPE_RE,
  JobNotFoundError,
  JobValidationError,
  Queue,
  type BackoffOptions,
  type BulkJob,
  type Job,
  type JobOptions,
  type JobsPage,
  type JobState,
  type SubmittedJob,
} from '../../index.js';
import { advertisedTypes, liveWorkers } from '../cluster-info.js';
import { fmtDuration, fmtTime, Output, progressBar, table, type GlobalOptions } from '../context.js';
import { OperationError, UsageError } from '../errors.js';
import { parseJsonArg } from '../json-input.js';
import { attemptsJson, jobExplainJson, jobStatusJson, jobSummaryJson } from '../job-json.js';
import {
  allCompleted,
  asSubmitUsageError,
  checkJobId,
  openQueue,
  outcomeLine,
  waitForJobs,
  withQueue,
  type WaitOutcome,
} from '../jobs-common.js';

/** Options of `job submit`. */
export interface SubmitOptions {
  data?: string;
  priority?: number;
  delay?: number;
  attempts?: number;
  backoff?: BackoffOptions;
  timeout?: number;
  id?: string;
  count: number;
  wait: boolean;
  waitTimeout?: number;
  anyType: boolean;
}

export { whyAgain } from '../job-json.js';

function attemptRows(job: Job): string[][] {
  return job.history.map((a) => [
    String(a.attempt),
    a.worker,
    a.process,
    a.session,
    String(a.token),
    fmtTime(a.startedAt),
    a.endedAt !== undefined ? fmtDuration(a.endedAt - a.startedAt) : 'running',
    a.outcome + (a.error ? `: ${a.error}` : '') + (a.by ? ` (by ${a.by})` : ''),
  ]);
}

function statusText(job: Job, namespace: string): string {
  const lines: string[][] = [
    ['job', job.id],
    ['type', job.type],
    ['state', job.state],
    [
      'attempts',
      job.attemptsBase !== undefined
        ? `${job.attemptsMade - job.attemptsBase} of ${job.opts.attempts} since the operator's retry (${job.attemptsMade} in all)`
        : `${job.attemptsMade} of ${job.opts.attempts}`,
    ],
    ['priority', String(job.opts.priority)],
    ['created', fmtTime(job.createdAt)],
  ];
  if (job.opts.delay > 0) lines.push(['delay', `${job.opts.delay} ms`]);
  if (job.finishedAt !== undefined) lines.push(['finished', fmtTime(job.finishedAt)]);
  const running = [...job.history].reverse().find((a) => a.outcome === 'running');
  if (job.state === 'active' && running) {
    lines.push([
      'running on',
      `${running.worker} (${running.process}, session ${running.session}, token ${running.token})`,
    ]);
  }
  if (job.result !== undefined) lines.push(['result', JSON.stringify(job.result)]);
  if (job.error !== undefined) {
    lines.push([job.state === 'completed' ? 'last error' : 'error', `${job.error.name}: ${job.error.message}`]);
  }
  lines.push(['namespace', namespace]);
  return table(lines);
}

/** `zkjobs job status`. */
export async function statusJob(g: GlobalOptions, id: string): Promise<void> {
  checkJobId(id);
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const j = await queue.getJob(id);
      if (!j) throw new OperationError(`no job ${id} in ${namespace}`);
      new Output(g.json).result(jobStatusJson(j), () => statusText(j, namespace));
    },
    { existing: true },
  );
}

/** `zkjobs job list`. */
export async function listJob(
  g: GlobalOptions,
  opts: { state?: JobState; type?: string; limit?: number; oldest?: boolean },
): Promise<void> {
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      let jobs: Job[];
      let total: number;
      if (opts.state) {
        // By state: the lists by state, page after page (newest to enter the state first), until
        // the limit; `total` is the state's count (the jobs of the type seen, with --type).
        const state = opts.state;
        jobs = [];
        let cursor: string | null = null;
        while (opts.limit === undefined || jobs.length < opts.limit) {
          const want = opts.limit === undefined ? 1000 : Math.min(1000, opts.limit - jobs.length);
          const page: JobsPage = await queue.getJobsPage({
            state,
            limit: opts.type === undefined ? want : 1000,
            order: opts.oldest ? 'oldest' : 'newest',
            cursor,
          });
          for (const j of page.jobs) {
            if (opts.type === undefined || j.type === opts.type) jobs.push(j);
          }
          if (page.next === null) break;
          cursor = page.next;
        }
        if (opts.limit !== undefined) jobs = jobs.slice(0, opts.limit);
        total = opts.type === undefined ? ((await queue.getJobCounts(state))[state] ?? jobs.length) : jobs.length;
      } else {
        // Every record is read (the scan), then sorted by submit time, newest first: a limit keeps
        // the newest, whatever bucket they sit in.
        jobs = await queue.getJobs({});
        if (opts.type !== undefined) jobs = jobs.filter((j) => j.type === opts.type);
        const dir = opts.oldest ? 1 : -1;
        jobs.sort((a, b) => dir * (a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
        total = jobs.length;
        if (opts.limit !== undefined) jobs = jobs.slice(0, opts.limit);
      }
      new Output(g.json).result({ namespace, count: jobs.length, total, jobs: jobs.map(jobSummaryJson) }, () =>
        jobs.length === 0
          ? `no jobs${opts.type !== undefined ? ` of type ${opts.type}` : ''}${opts.state ? ` in state ${opts.state}` : ''} in ${namespace}`
          : table([
              ['ID', 'TYPE', 'STATE', 'ATTEMPTS', 'CREATED', 'FINISHED'],
              ...jobs.map((j) => [
                j.id,
                j.type,
                j.state,
                `${j.attemptsMade}/${j.opts.attempts}`,
                fmtTime(j.createdAt),
                fmtTime(j.finishedAt),
              ]),
            ]),
      );
    },
    { existing: true },
  );
}

/** `zkjobs job wait`. */
export async function waitJob(g: GlobalOptions, ids: string[], opts: { timeout?: number }): Promise<void> {
  ids.forEach(checkJobId);
  await withQueue(
    g,
    async ({ queue }) => {
      const out = new Output(g.json);
      const idWidth = Math.max(...ids.map((id) => id.length));
      const outcomes = await waitForJobs(queue, ids, {
        json: g.json,
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {}),
        onDone: (o) => out.result(o, outcomeLine(o, idWidth)),
      });
      failUnlessCompleted(outcomes);
    },
    { existing: true },
  );
}

/** `zkjobs job cancel`. */
export async function cancelJob(g: GlobalOptions, id: string): Promise<void> {
  checkJobId(id);
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const before = await queue.getJob(id);
      if (!before) throw new OperationError(`no job ${id} in ${namespace}`);
      const out = new Output(g.json);
      const alreadyCancelled = (): void =>
        out.result({ id, cancelled: true, already: true, previousState: 'cancelled' }, `job ${id} already cancelled`);
      if (before.state === 'cancelled') return alreadyCancelled();
      let cancelled: boolean;
      try {
        cancelled = await queue.cancel(id);
      } catch (err) {
        if (err instanceof JobNotFoundError) throw new OperationError(`no job ${id} in ${namespace}`, { cause: err });
        throw err;
      }
      if (!cancelled) {
        const now = await queue.getJob(id);
        if (now?.state === 'cancelled') return alreadyCancelled();
        throw new OperationError(`job ${id} already ${now?.state ?? before.state}; not cancelled`);
      }
      out.result({ id, cancelled: true, previousState: before.state }, `cancelled job ${id} (was ${before.state})`);
    },
    { existing: true },
  );
}

/** `zkjobs job explain`. */
export async function explainJob(g: GlobalOptions, id: string): Promise<void> {
  checkJobId(id);
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const j = await queue.getJob(id);
      if (!j) throw new OperationError(`no job ${id} in ${namespace}`);
      const doc = jobExplainJson(j);
      const attempts = attemptsJson(j);
      new Output(g.json).result(doc, () => {
        const why =
          j.error && (j.state === 'dead' || j.state === 'failed') ? `\n${j.error.name}: ${j.error.message}` : '';
        const budget =
          j.attemptsBase !== undefined
            ? `${j.attemptsMade - j.attemptsBase} of at most ${j.opts.attempts} attempt(s) since the operator's retry (${j.attemptsMade} in all)`
            : `${j.attemptsMade} of at most ${j.opts.attempts} attempt(s)`;
        const head = `job ${j.id} (type ${j.type}): ${j.state} after ${budget}${why}`;
        if (j.history.length === 0) return `${head}\nno attempts yet (never claimed)`;
        const rows = table([
          ['#', 'WORKER', 'PROCESS', 'SESSION', 'TOKEN', 'STARTED', 'TOOK', 'OUTCOME'],
          ...attemptRows(j),
        ]);
        const whys = attempts.filter((a) => a.why !== undefined).map((a) => `  attempt ${a.attempt}: ${a.why}`);
        const runs = j.history.filter(isClaimEntry).length;
        const dropped = j.attemptsMade > runs ? `\n(${j.attemptsMade - runs} older attempt(s) not kept)` : '';
        return `${head}\n${rows}${dropped}` + (whys.length ? `\nwhy it ran again:\n${whys.join('\n')}` : '');
      });
    },
    { existing: true },
  );
}

/**
 * `zkjobs job logs`: one line each, oldest first (a note on stderr counts the older lines
 * dropped); `--json`: `{ id, namespace, count, dropped, lines: [{ at, attempt, token, line }] }`.
 */
export async function logsJob(g: GlobalOptions, id: string): Promise<void> {
  checkJobId(id);
  await withQueue(
    g,
    async ({ queue, namespace }) => {
      const { lines, count, dropped } = await queue.getJobLogLines(id);
      if (count === 0 && !(await queue.getJob(id))) throw new OperationError(`no job ${id} in ${namespace}`);
      const out = new Output(g.json);
      if (!g.json && dropped > 0) process.stderr.write(`(${dropped} older line(s) dropped)\n`);
      if (!g.json && count === 0)
        process.stderr.write(`(no log lines: the handlers of job ${id} did not call ctx.log)\n`);
      if (g.json || count > 0)
        out.result({ id, namespace, count, dropped, lines }, () => lines.map((l) => l.line).join('\n'));
    },
    { existing: true },
  );
}

function failUnlessCompleted(outcomes: WaitOutcome[]): void {
  if (allCompleted(outcomes)) return;
  const bad = outcomes.filter((o) => o.state !== 'completed');
  const byState = new Map<string, number>();
  for (const o of bad) byState.set(o.state, (byState.get(o.state) ?? 0) + 1);
  throw new OperationError(
    `${bad.length} of ${outcomes.length} job(s) did not complete (${[...byState].map(([s, n]) => `${n} ${s}`).join(', ')})`,
  );
}

/** `zkjobs job submit`. */
export async function submitJob(g: GlobalOptions, type: string, o: SubmitOptions): Promise<void> {
  if (!JOB_TYPE_RE.test(type))
    throw new UsageError(`<type>: ${JSON.stringify(type)} must be 1-100 characters of [A-Za-z0-9._:@/-]`);
  if (o.id !== undefined) {
    try {
      checkJobId(o.count > 1 ? `${o.id}-${o.count}` : o.id);
    } catch (err) {
      throw new UsageError(`--id: ${(err as Error).message}`, { cause: err });
    }
  }
  if (o.waitTimeout !== undefined && !o.wait) throw new UsageError('--wait-timeout needs --wait');
  const data = await parseJsonArg(o.data ?? 'null', '--data');
  const jobOpts: JobOptions = {
    ...(o.priority !== undefined ? { priority: o.priority } : {}),
    ...(o.delay !== undefined ? { delay: o.delay } : {}),
    ...(o.attempts !== undefined ? { attempts: o.attempts } : {}),
    ...(o.backoff !== undefined ? { backoff: o.backoff } : {}),
    ...(o.timeout !== undefined ? { timeout: o.timeout } : {}),
  };
  if (o.backoff !== undefined && (o.attempts ?? 1) < 2) {
    throw new UsageError('--backoff has no effect without --attempts ≥ 2');
  }
  // Probe the live workers first: the Queue then refuses a type none of them handles.
  const q = await openQueue(g);
  try {
    const workers = o.anyType ? [] : await liveWorkers(q.ns);
    const known = advertisedTypes(workers);
    if (!o.anyType && !known.has(type)) {
      throw new UsageError(
        `unknown job type ${JSON.stringify(type)}: no live worker in ${q.namespace} has a handler for it ` +
          `(${workers.length === 0 ? 'no live workers' : `live workers handle: ${[...known].sort().join(', ') || 'nothing'}`}); ` +
          `start a worker whose --handlers export it, or pass --any-type to submit anyway`,
      );
    }
    const queue = new Queue(q.client, {
      namespace: q.namespace,
      logger: q.log,
      ...(o.anyType ? {} : { knownTypes: [...known] }),
    });
    const out = new Output(g.json);
    const jobs: BulkJob[] = Array.from({ length: o.count }, (_, i) => ({
      type,
      data,
      opts: o.id === undefined ? jobOpts : { ...jobOpts, jobId: o.count > 1 ? `${o.id}-${i + 1}` : o.id },
    }));
    const submitted: SubmittedJob[] = [];
    const bar = await progressBar(o.count, 'submitted', g.json);
    try {
      const BATCH = 500;
      for (let i = 0; i < jobs.length; i += BATCH) {
        const batch = jobs.slice(i, i + BATCH);
        submitted.push(
          ...(batch.length === 1 ? [await queue.add(type, data, batch[0]!.opts)] : await queue.addBulk(batch)),
        );
        bar.increment(batch.length);
      }
    } catch (err) {
      if (err instanceof JobValidationError) throw asSubmitUsageError(err);
      throw err;
    } finally {
      bar.stop();
    }
    // A job not created by this submit existed already (idempotency key): nothing was written for it.
    const existed = (j: SubmittedJob): boolean => !j.created;
    if (!o.wait) {
      if (g.json) for (const j of submitted) out.result({ ...jobSummaryJson(j), created: !existed(j) }, '');
      else if (submitted.length === 1) {
        const j = submitted[0]!;
        out.human(
          existed(j)
            ? `job ${j.id} already exists (state ${j.state}); nothing submitted`
            : `submitted job ${j.id} (type ${j.type}, state ${j.state})`,
        );
      } else {
        const again = submitted.filter(existed).length;
        out.human(
          `submitted ${submitted.length - again} job(s) of type ${type}: ${submitted[0]!.id} … ${submitted[submitted.length - 1]!.id}` +
            (again ? ` (${again} existed already)` : ''),
        );
      }
      return;
    }
    const verbose = submitted.length <= 20;
    const idWidth = Math.max(...submitted.map((j) => j.id.length));
    const outcomes = await waitForJobs(
      queue,
      submitted.map((j) => j.id),
      {
        json: g.json,
        ...(o.waitTimeout !== undefined ? { timeoutMs: o.waitTimeout } : {}),
        onDone: (r) =>
          g.json || verbose || r.state !== 'completed' ? out.result(r, outcomeLine(r, idWidth)) : undefined,
      },
    );
    if (!verbose && allCompleted(outcomes)) out.human(`all ${outcomes.length} job(s) completed`);
    failUnlessCompleted(outcomes);
  } finally {
    await q.close();
  }
}
