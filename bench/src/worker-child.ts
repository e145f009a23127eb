/**
 * A worker child process of the bench: runs one zkjobs Worker or one BullMQ Worker with no-op
 * handlers and reports to the parent over IPC (see ChildMsg in children.ts). Exits when the
 * parent goes away (IPC disconnect), on `{cmd:'close'}` after a graceful close, and by itself
 * after 30 minutes at the latest.
 */
import type { RequestStats } from '@zkjobs/core';
import type { ChildMsg, WorkerChildConfig } from './children.js';
import { now } from './util.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerChildConfig;
const send = (m: ChildMsg): void => {
  if (process.connected) process.send!(m);
};
process.on('disconnect', () => process.exit(0));
// Belt and braces: a child forked while the bench was exiting may miss the event.
setInterval(() => {
  if (!process.connected) process.exit(0);
}, 1000).unref();
setTimeout(() => process.exit(3), 30 * 60_000).unref();

let count = 0;
let last = 0;
let reported = 0;
setInterval(() => {
  if (count !== reported) {
    reported = count;
    send({ ev: 'count', n: count, last });
  }
}, 20).unref();

function tagOf(data: unknown): string | null {
  const t = (data as { tag?: unknown } | null | undefined)?.tag;
  return typeof t === 'string' ? t : null;
}

function completed(data: unknown): void {
  count++;
  last = now();
  if (cfg.perJob) send({ ev: 'done', tag: tagOf(data), t: last });
}

/** Whether this child's worker leads (zkjobs only): the latency section reports where jobs started. */
let leading: () => boolean | undefined = () => undefined;

function started(data: unknown): void {
  if (!cfg.perJob) return;
  const t = now();
  const leader = leading();
  send({ ev: 'active', tag: tagOf(data), t, ...(leader === undefined ? {} : { leader }) });
}

/** The simulated work of a job (`workMs`), after its start. */
const work = (): Promise<void> | undefined =>
  cfg.workMs ? new Promise((resolve) => setTimeout(resolve, cfg.workMs)) : undefined;

let close: () => Promise<void> = async () => undefined;
let requestStats: () => RequestStats | null = () => null;

process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'stats') send({ ev: 'stats', stats: requestStats() });
  if (m.cmd === 'close') {
    send({ ev: 'closing', t: now() });
    void close().then(
      () => {
        send({ ev: 'closed', t: now() });
        setTimeout(() => process.exit(0), 50);
      },
      (err: unknown) => {
        send({ ev: 'error', message: `close: ${String(err)}` });
        process.exit(1);
      },
    );
  }
});

async function main(): Promise<void> {
  if (cfg.engine === 'zkjobs') {
    const { Worker, createLogger } = await import('@zkjobs/worker');
    const handlers: Record<string, (job: { data: unknown }) => Promise<void>> = {};
    for (const type of cfg.types ?? ['noop']) {
      handlers[type] = async (job) => {
        started(job.data);
        await work();
      };
    }
    const worker = new Worker(cfg.connect!, handlers, {
      namespace: cfg.namespace!,
      concurrency: cfg.concurrency,
      ...(cfg.prefetch ? { prefetch: cfg.prefetch } : {}),
      sessionTimeoutMs: cfg.sessionTimeoutMs ?? 10_000,
      logger: createLogger(process.env['ZKJOBS_LOG_LEVEL'] ?? 'warn'),
    });
    worker.on('completed', (job) => completed(job.data));
    worker.on('leader-elected', (epoch) => send({ ev: 'leader', t: now(), epoch }));
    worker.on('leader-lost', () => send({ ev: 'leader-lost', t: now() }));
    worker.on('error', (err) => send({ ev: 'error', message: String(err) }));
    close = () => worker.close({ graceMs: 2_000 });
    await worker.start();
    requestStats = () => worker.zk?.requestStats() ?? null;
    leading = () => worker.isLeader();
    send({ ev: 'ready', pid: process.pid, name: worker.name, sessionTimeoutMs: worker.zk?.sessionTimeoutMs ?? null });
  } else {
    const { Worker } = await import('bullmq');
    const worker = new Worker(
      cfg.queueName!,
      async (job) => {
        started(job.data);
        await work();
      },
      { connection: { host: '127.0.0.1', port: cfg.redisPort! }, concurrency: cfg.concurrency, autorun: true },
    );
    worker.on('completed', (job) => completed(job.data));
    worker.on('error', (err) => send({ ev: 'error', message: String(err) }));
    close = () => worker.close();
    await worker.waitUntilReady();
    send({ ev: 'ready', pid: process.pid, name: null, sessionTimeoutMs: null });
  }
}

main().catch((err: unknown) => {
  send({ ev: 'error', message: `start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}` });
  process.exit(1);
});
