import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { JOB_TYPE_RE, Worker, type Processor } from '../../index.js';
import { cliLogger, connectZk, jobNamespace, Output, type GlobalOptions } from '../context.js';
import { UsageError } from '../errors.js';

/**
 * Loads a handlers module: a file path (relative to the current directory) or a package name
 * resolved from it. The module exports its handlers by job type, as one of:
 * `export default { type: handler, … }`, `export const handlers = { … }`, or named function
 * exports (`export async function email(job, ctx) { … }`).
 * @throws UsageError when the module cannot be loaded or exports no handlers
 */
export async function loadHandlers(spec: string): Promise<Record<string, Processor>> {
  const file = resolve(spec);
  let url: string;
  if (existsSync(file)) url = pathToFileURL(file).href;
  else {
    try {
      url = pathToFileURL(createRequire(resolve('package.json')).resolve(spec)).href;
    } catch (err) {
      throw new UsageError(
        `--handlers: cannot find module ${JSON.stringify(spec)} (no such file, and not a package resolvable from ${process.cwd()})`,
        { cause: err },
      );
    }
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`--handlers: cannot load ${spec}: ${(err as Error).message}`, { cause: err });
  }
  const pick = (o: unknown): Record<string, Processor> | null => {
    if (o === null || typeof o !== 'object') return null;
    const fns = Object.entries(o).filter(([, v]) => typeof v === 'function');
    return fns.length > 0 ? (Object.fromEntries(fns) as Record<string, Processor>) : null;
  };
  const handlers =
    pick(mod['default']) ??
    pick(mod['handlers']) ??
    pick(Object.fromEntries(Object.entries(mod).filter(([k]) => k !== 'default' && k !== 'handlers')));
  if (!handlers) {
    throw new UsageError(
      `--handlers: ${spec} exports no handlers (expected export default { <type>: async (job, ctx) => result }, ` +
        `export const handlers = { … }, or named function exports)`,
    );
  }
  for (const type of Object.keys(handlers)) {
    if (!JOB_TYPE_RE.test(type))
      throw new UsageError(
        `--handlers: ${spec}: invalid job type ${JSON.stringify(type)} (1-100 characters of [A-Za-z0-9._:@/-])`,
      );
  }
  return handlers;
}

/** Options of `worker start`. */
export interface WorkerStartOptions {
  handlers: string;
  concurrency: number;
  prefetch?: number;
  sessionTimeout: number;
  grace: number;
}

/** `zkjobs worker start`: runs until SIGTERM/SIGINT, then closes gracefully. */
export async function startWorker(g: GlobalOptions, opts: WorkerStartOptions): Promise<void> {
  const namespace = jobNamespace(g);
  const handlers = await loadHandlers(opts.handlers);
  const out = new Output(g.json);
  const log = await cliLogger(g, 'info');
  const event = (doc: Record<string, unknown>, human?: string): void => {
    const d = { event: doc['event'], at: Date.now(), ...doc };
    if (g.json) out.result(d, '');
    else if (human !== undefined) out.human(human);
  };

  let signalled: NodeJS.Signals | null = null;
  let wake: (() => void) | undefined;
  const stopRequested = new Promise<void>((r) => (wake = r));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) {
      process.stderr.write(`zkjobs: ${sig} again: exiting without a graceful close\n`);
      process.exit(1);
    }
    signalled = sig;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const client = await connectZk(g, { sessionTimeoutMs: opts.sessionTimeout, logger: log });
  try {
    const w = new Worker(client, handlers, {
      namespace,
      concurrency: opts.concurrency,
      ...(opts.prefetch !== undefined ? { prefetch: opts.prefetch } : {}),
      graceMs: opts.grace,
      logger: log,
    });
    let name: string | null = null; // kept: the latch forgets it on close
    const who = (): Record<string, unknown> => ({ worker: (name = w.name ?? name), session: client.sessionIdHex });
    w.on('error', (err) => log.warn({ err }, 'worker background error'));
    w.on('leader-elected', (epoch) =>
      event({ event: 'leader-elected', ...who(), epoch }, `${w.name} is the leader (epoch ${epoch})`),
    );
    w.on('leader-lost', (epoch) =>
      event({ event: 'leader-lost', ...who(), epoch }, `${w.name} is no longer the leader (epoch ${epoch})`),
    );
    w.on('active', (job, token) =>
      event({ event: 'active', ...who(), jobId: job.id, type: job.type, token, attempt: job.attemptsMade }),
    );
    w.on('completed', (job, _result, c) =>
      event({
        event: 'completed',
        ...who(),
        session: c.session,
        jobId: job.id,
        type: job.type,
        token: c.token,
        attempt: c.attempt,
      }),
    );
    w.on('retrying', (job, err, delayMs) =>
      event(
        { event: 'retrying', ...who(), jobId: job.id, error: err.message, delayMs },
        `job ${job.id} (${job.type}) failed: ${err.message}; retrying in ${delayMs} ms`,
      ),
    );
    w.on('failed', (job, err, final, c) =>
      event(
        {
          event: 'failed',
          ...who(),
          session: c.session,
          jobId: job.id,
          token: c.token,
          attempt: c.attempt,
          error: err.message,
          final,
        },
        final ? `job ${job.id} (${job.type}) failed: ${err.message}` : undefined,
      ),
    );
    w.on('dead', (job, err) =>
      event(
        { event: 'dead', ...who(), jobId: job.id, error: err.message },
        `job ${job.id} (${job.type}) is dead: ${err.message}`,
      ),
    );
    w.on('stalled', (jobId, err, c) =>
      event(
        {
          event: 'stalled',
          ...who(),
          session: c.session,
          jobId,
          token: c.token,
          attempt: c.attempt,
          error: err.message,
        },
        `lost the claim on job ${jobId}: ${err.message}`,
      ),
    );

    if (!signalled) {
      await w.start();
      event(
        {
          event: 'started',
          ...who(),
          namespace,
          pid: process.pid,
          concurrency: w.concurrency,
          types: Object.keys(handlers),
        },
        `worker ${w.name} started in ${namespace} (pid ${process.pid}, session ${client.sessionIdHex}, ` +
          `concurrency ${w.concurrency}, types ${Object.keys(handlers).join(', ')}); stop with Ctrl-C`,
      );
      await stopRequested;
    }
    event({ event: 'closing', ...who(), signal: signalled }, `${signalled ?? 'stop'}: closing worker ${name ?? ''}…`);
    await w.close();
    event({ event: 'closed', ...who(), stats: w.stats() }, `worker ${name ?? ''} closed`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await client.close().catch(() => undefined);
  }
}
