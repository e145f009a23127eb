import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { JOB_TYPE_RE, Worker, type Processor } from '../../index.js';
import { isConnectedState, type ConnectionState, type ZkClient } from '@zkjobs/core';
import { connectZk, fmtDuration, jobNamespace, Output, type GlobalOptions } from '../context.js';
import { UsageError } from '../errors.js';
import { onStdoutClosed } from '../pipes.js';
import { commandLogger, type LogFormat } from '../log-format.js';

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
    throw new UsageError(`--handlers: cannot load ${spec}${whereFailed(err, url)}: ${describeLoadError(err)}`, {
      cause: err,
    });
  }
  // The first of: default export, `handlers` export, named exports that holds any entry. Every
  // entry is a job type and must be a function: a value that is not is refused, never dropped.
  const pick = (o: unknown, what: (key: string) => string): Record<string, Processor> | null => {
    if (o === null || typeof o !== 'object') return null;
    const entries = Object.entries(o);
    if (entries.length === 0) return null;
    for (const [k, v] of entries) {
      if (typeof v !== 'function') {
        throw new UsageError(
          `--handlers: ${spec}: ${what(k)} is not a function (got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}); ` +
            'every entry must be a handler (job, ctx) => result',
        );
      }
    }
    return Object.fromEntries(entries) as Record<string, Processor>;
  };
  const named = Object.fromEntries(Object.entries(mod).filter(([k]) => k !== 'default' && k !== 'handlers'));
  const handlers =
    pick(mod['default'], (k) => `export default { ${k} }`) ??
    pick(mod['handlers'], (k) => `export const handlers = { ${k} }`) ??
    pick(named, (k) => `export ${k}`);
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

/** Where a module failed to load: ` (file:line)` from the error's stack when Node gives it, else ` (file)`. */
function whereFailed(err: unknown, url: string): string {
  let file = url;
  try {
    file = fileURLToPath(url);
  } catch {
    // not a file URL
  }
  const stack = err instanceof Error ? (err.stack ?? '') : '';
  const lineIn = (text: string): string | undefined => {
    for (const name of [url, file]) {
      const at = text.indexOf(`${name}:`);
      const line = at < 0 ? undefined : /^\d+/.exec(text.slice(at + name.length + 1))?.[0];
      if (line !== undefined) return line;
    }
    return undefined;
  };
  let line = lineIn(stack);
  // Node 20 keeps an ES module's syntax error location out of the error; `node --check` prints
  // it (`/…/h.mjs:3`) on stderr.
  if (line === undefined && err instanceof SyntaxError && file !== url) {
    const r = spawnSync(process.execPath, ['--check', file], { encoding: 'utf8', timeout: 10_000 });
    line = lineIn(r.stderr ?? '');
  }
  return line !== undefined ? ` (${file}:${line})` : ` (${file})`;
}

/** `SyntaxError: Unexpected token '}'`, or the message of another error. */
function describeLoadError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.name && err.name !== 'Error' ? `${err.name}: ${err.message}` : err.message;
}

/** Options of `worker start`. */
export interface WorkerStartOptions {
  handlers: string;
  concurrency: number;
  prefetch?: number;
  sessionTimeout: number;
  grace: number;
  /** Serve metrics on this port (0: a free one). */
  metricsPort?: number;
  /** Address of the metrics server. */
  metricsHost?: string;
  /** Logs as human lines or JSON (`auto`: human on a terminal). */
  logFormat?: LogFormat;
}

/** `zkjobs worker start`: runs until SIGTERM/SIGINT, then closes gracefully. */
export async function startWorker(g: GlobalOptions, opts: WorkerStartOptions): Promise<void> {
  const namespace = jobNamespace(g);
  const handlers = await loadHandlers(opts.handlers);
  const out = new Output(g.json);
  const log = await commandLogger(g, 'info', opts.logFormat ?? 'auto');
  const event = (doc: Record<string, unknown>, human?: string): void => {
    const d = { event: doc['event'], at: Date.now(), ...doc };
    if (g.json) out.result(d, '');
    else if (human !== undefined) out.human(human);
  };

  let signalled: NodeJS.Signals | null = null;
  // Signals received: only a second one skips the graceful close. The reader of stdout leaving is
  // not one — with `| tee`, one Ctrl-C reaches tee and the worker, and tee's exit may be seen first.
  let signals = 0;
  let wake: (() => void) | undefined;
  const stopRequested = new Promise<void>((r) => (wake = r));
  const onSignal = (sig: NodeJS.Signals): void => {
    if (++signals > 1) {
      process.stderr.write(`zkjobs: ${sig} again: exiting without a graceful close\n`);
      process.exit(1);
    }
    signalled ??= sig;
    wake?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The reader of stdout went away (`| head`, or `| tee` stopped by the same Ctrl-C): a stop
  // request like SIGTERM unless one came already; the close goes on, its lines dropped.
  const stopOnPipe = onStdoutClosed(() => {
    if (signalled) return;
    process.stderr.write('zkjobs: stdout was closed by its reader: closing the worker\n');
    signalled = 'SIGPIPE';
    wake?.();
  });

  const client = await connectZk(g, { sessionTimeoutMs: opts.sessionTimeout, logger: log });
  let metricsServer: { url: string; close(): Promise<void> } | null = null;
  try {
    const w = new Worker(client, handlers, {
      namespace,
      concurrency: opts.concurrency,
      ...(opts.prefetch !== undefined ? { prefetch: opts.prefetch } : {}),
      graceMs: opts.grace,
      logger: log,
    });
    let name: string | null = null; // kept: the latch forgets it on close
    // No `"worker":null` before the worker has a name (a signal during start-up).
    const who = (): Record<string, unknown> => {
      name = w.name ?? name;
      return name === null ? { session: client.sessionIdHex } : { worker: name, session: client.sessionIdHex };
    };
    // The jobs whose handlers run here, for the messages while closing.
    const running = new Map<string, { type: string; since: number }>();
    const settled = (jobId: string): void => void running.delete(jobId);
    // The epoch this worker leads in; a leader-lost is printed only after a leader-elected.
    let leadingEpoch: number | null = null;
    w.on('error', (err) => log.warn({ err }, 'worker background error'));
    w.on('leader-elected', (epoch) => {
      leadingEpoch = epoch;
      event({ event: 'leader-elected', ...who(), epoch }, `${w.name} is the leader (epoch ${epoch})`);
    });
    w.on('leader-lost', (reported) => {
      if (leadingEpoch === null) return; // never printed as leader (or already printed as lost)
      const epoch = reported >= 0 ? reported : leadingEpoch;
      leadingEpoch = null;
      event({ event: 'leader-lost', ...who(), epoch }, `${name ?? w.name} is no longer the leader (epoch ${epoch})`);
    });
    w.on('session-lost', (info) =>
      event(
        { event: 'session-lost', ...who(), session: info.session },
        `session ${info.session} of ${info.worker ?? 'this worker'} lost: its running jobs were aborted and are requeued; registering again`,
      ),
    );
    w.on('re-registered', (info) =>
      event(
        {
          event: 're-registered',
          ...who(),
          previousWorker: info.previousWorker,
          previousSession: info.previousSession,
        },
        `re-registered as ${info.worker} (session ${info.session}; was ${info.previousWorker ?? '?'}, session ${info.previousSession})`,
      ),
    );
    w.on('active', (job, token) => {
      running.set(job.id, { type: job.type, since: Date.now() });
      event({ event: 'active', ...who(), jobId: job.id, type: job.type, token, attempt: job.attemptsMade });
    });
    w.on('completed', (job) => settled(job.id));
    w.on('failed', (job) => settled(job.id));
    w.on('retrying', (job) => settled(job.id));
    w.on('dead', (job) => settled(job.id));
    w.on('stalled', (jobId) => settled(jobId));
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

    if (opts.metricsPort !== undefined) {
      const { startMetrics } = await import('../metrics.js');
      metricsServer = await startMetrics(w, opts.metricsPort, opts.metricsHost ?? '127.0.0.1');
      event({ event: 'metrics', url: metricsServer.url }, `metrics at ${metricsServer.url}`);
    }
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
    const started = who()['worker'] !== undefined;
    event(
      { event: 'closing', ...who(), signal: signalled },
      started
        ? `${signalled ?? 'stop'}: closing worker ${name}…`
        : `${signalled ?? 'stop'} before the worker started: stopping…`,
    );
    await closeWithDeadline(w, client, { graceMs: opts.grace, json: g.json, running, name: () => name });
    event({ event: 'closed', ...who(), stats: w.stats() }, started ? `worker ${name} closed` : 'stopped');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopOnPipe();
    await metricsServer?.close();
    await client.close().catch(() => undefined);
  }
}

/** What {@link closeWithDeadline} needs to know. */
interface CloseContext {
  /** The grace period of running jobs, ms. */
  graceMs: number;
  /** Print JSON lines instead of text. */
  json: boolean;
  /** The jobs whose handlers still run. */
  running: ReadonlyMap<string, { type: string; since: number }>;
  /** The worker's znode name, as last known. */
  name(): string | null;
}

/**
 * How long a close may take past the grace period: the session timeout (a close that cannot
 * reach ZooKeeper for that long would find its session gone anyway) plus the engine's own
 * bounds after the grace period (5 s for aborted handlers to return, 1 s for notes).
 */
export function cleanupAllowanceMs(sessionTimeoutMs: number): number {
  return sessionTimeoutMs + 6000;
}

/**
 * `Worker.close()`, then the connection's, with a hard deadline of grace + {@link cleanupAllowanceMs}. While it waits, it
 * says on stderr what for (running jobs, the grace period, an unreachable ZooKeeper), once a
 * second at most and only when that changes or every 5 s; past the deadline it prints why and
 * exits the process with 1 (the worker's znode then goes with its session, and the leader
 * requeues what it held).
 */
async function closeWithDeadline(w: Worker, client: ZkClient, c: CloseContext): Promise<void> {
  const t0 = Date.now();
  const cleanupMs = cleanupAllowanceMs(client.sessionTimeoutMs);
  const deadline = t0 + c.graceMs + cleanupMs;
  let disconnectedSince: number | null = isConnectedState(client.state) ? null : t0;
  const onState = (s: ConnectionState): void => {
    if (isConnectedState(s)) disconnectedSince = null;
    else disconnectedSince ??= Date.now();
  };
  client.on('state', onState);
  const waitingFor = (): string => {
    const now = Date.now();
    const parts: string[] = [];
    if (c.running.size > 0) {
      const ids = [...c.running.keys()];
      const list = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ` … (${ids.length - 5} more)` : '');
      parts.push(
        now < t0 + c.graceMs
          ? `${c.running.size} running job(s) to finish (${list}); grace period ends in ${fmtDuration(t0 + c.graceMs - now)}`
          : `${c.running.size} job(s) whose signals were aborted to return (${list})`,
      );
    }
    if (disconnectedSince !== null) {
      parts.push(
        `ZooKeeper at ${client.connectString} (${client.state} for ${fmtDuration(now - disconnectedSince)}) ` +
          'to record the shutdown: completions, releases, leaving the election',
      );
    } else if (c.running.size === 0) parts.push('ZooKeeper to record the shutdown (completions, leaving the election)');
    return parts.join('; and for ');
  };
  let lastText = '';
  let lastAt = 0;
  const say = (): void => {
    const text = waitingFor();
    const now = Date.now();
    const key = text.replace(/\d+(\.\d+)? (ms|s|min|h)\b/g, ''); // the same wait, a second later
    if (key === lastText && now - lastAt < 5000) return;
    lastText = key;
    lastAt = now;
    const left = Math.max(0, deadline - now);
    if (c.json) {
      process.stderr.write(
        JSON.stringify({ event: 'close-waiting', worker: c.name(), waitingFor: text, giveUpInMs: left, at: now }) +
          '\n',
      );
    } else process.stderr.write(`zkjobs: closing: waiting for ${text} (giving up in ${fmtDuration(left)})\n`);
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  let expire: ReturnType<typeof setTimeout> | undefined;
  try {
    // The connection's close is part of the shutdown (it ends the session on the server).
    const closed = w.close().then(() => client.close());
    const done = await Promise.race([
      closed.then(() => true),
      new Promise<boolean>((r) => {
        // Quiet for the first second: a healthy close is usually done by then.
        timer = setInterval(say, 1000);
        expire = setTimeout(() => r(false), deadline - Date.now());
      }),
    ]);
    if (!done) {
      process.stderr.write(
        `zkjobs: worker ${c.name() ?? ''} did not close within ${fmtDuration(Date.now() - t0)} ` +
          `(grace ${c.graceMs} ms + clean-up ${cleanupMs} ms): still waiting for ${waitingFor()}; ` +
          'exiting 1 without a clean shutdown (the worker znode goes when its session expires, ' +
          'and the leader requeues its jobs)\n',
      );
      process.exit(1);
    }
  } finally {
    clearInterval(timer);
    clearTimeout(expire);
    client.off('state', onState);
  }
}
