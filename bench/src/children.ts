import type { RequestStats } from '@zkjobs/core';
import { fork, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { track } from './resources.js';
import { now, withTimeout } from './util.js';

/** Configuration of one worker child (see worker-child.ts). */
export interface WorkerChildConfig {
  engine: 'zkjobs' | 'bullmq';
  /** zkjobs: the ensemble's connect string. */
  connect?: string;
  /** zkjobs: namespace root. */
  namespace?: string;
  /** zkjobs: requested session timeout, ms. */
  sessionTimeoutMs?: number;
  /** bullmq: queue name and Redis port (127.0.0.1). */
  queueName?: string;
  redisPort?: number;
  /** Handlers run at once by this worker. */
  concurrency: number;
  /** zkjobs: jobs assigned ahead (Worker's `prefetch`); default the Worker's own default. */
  prefetch?: number;
  /** Simulated work per job (a sleep in the handler), ms. */
  workMs?: number;
  /** Report each job's start and completion (latency runs), not only counts. */
  perJob: boolean;
  /** Job types this worker handles (zkjobs); default ['noop']. */
  types?: string[];
}

/** Messages a worker child sends. Times are {@link now} of the child (same clock as the parent). */
export type ChildMsg =
  | { ev: 'ready'; pid: number; name: string | null; sessionTimeoutMs: number | null }
  | { ev: 'leader'; t: number; epoch: number }
  | { ev: 'leader-lost'; t: number }
  | { ev: 'active'; tag: string | null; t: number; leader?: boolean }
  | { ev: 'done'; tag: string | null; t: number }
  | { ev: 'count'; n: number; last: number }
  | { ev: 'stats'; stats: RequestStats | null }
  | { ev: 'closing'; t: number }
  | { ev: 'closed'; t: number }
  | { ev: 'error'; message: string };

const CHILD_ENTRY = fileURLToPath(new URL('./worker-child.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where worker children write V8 CPU profiles (`--cpu-prof`), or null for none. */
let cpuProfDir: string | null = null;

/**
 * Makes every worker child started from now on write a V8 CPU profile of its whole life
 * (`CPU.<date>.<pid>….cpuprofile`, written when it exits normally) into `dir`; null stops it.
 * Summarize them with `node bench/prof-summary.mjs DIR`.
 */
export function setChildCpuProfDir(dir: string | null): void {
  cpuProfDir = dir;
}

/** A worker child process, spoken to over IPC. Registered for clean-up (SIGKILL) until stopped. */
export class WorkerChild {
  readonly proc: ChildProcess;
  readonly label: string;
  ready: Extract<ChildMsg, { ev: 'ready' }> | null = null;
  count = 0;
  lastDone = 0;
  exited = false;
  /** When this child last became the zkjobs leader (its clock = ours), or null. */
  leaderAt: number | null = null;
  private readonly listeners = new Set<(m: ChildMsg) => void>();
  private readonly untrack: () => void;

  private constructor(label: string, cfg: WorkerChildConfig, logFile: string) {
    this.label = label;
    const fd = openSync(logFile, 'a');
    this.proc = fork(CHILD_ENTRY, [JSON.stringify(cfg)], {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx', ...(cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`] : [])],
      stdio: ['ignore', fd, fd, 'ipc'],
      env: { ...process.env, ZKJOBS_LOG_LEVEL: process.env['ZKJOBS_LOG_LEVEL'] ?? 'warn' },
    });
    closeSync(fd);
    this.proc.on('message', (m: ChildMsg) => {
      if (m.ev === 'ready') this.ready = m;
      if (m.ev === 'leader') this.leaderAt = m.t;
      if (m.ev === 'leader-lost') this.leaderAt = null;
      if (m.ev === 'count') {
        this.count = m.n;
        this.lastDone = m.last;
      }
      for (const l of [...this.listeners]) l(m);
    });
    this.proc.on('exit', () => {
      this.exited = true;
    });
    this.untrack = track(`worker child ${label}`, () => {
      this.kill();
    });
  }

  /** Starts a child and waits (at most `timeoutMs`) until its worker runs. */
  static async start(label: string, cfg: WorkerChildConfig, logFile: string, timeoutMs = 60_000): Promise<WorkerChild> {
    const c = new WorkerChild(label, cfg, logFile);
    try {
      await c.waitFor((m) => m.ev === 'ready', timeoutMs, 'worker start');
    } catch (err) {
      c.kill();
      throw err;
    }
    return c;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  on(l: (m: ChildMsg) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Resolves with the first message (from now on) matching `pred`; rejects after `timeoutMs` or if the child exits. */
  waitFor(pred: (m: ChildMsg) => boolean, timeoutMs: number, what: string): Promise<ChildMsg> {
    let off = (): void => undefined;
    let onExit = (): void => undefined;
    const p = new Promise<ChildMsg>((resolve, reject) => {
      off = this.on((m) => {
        if (m.ev === 'error') process.stderr.write(`[${this.label}] ${m.message}\n`);
        if (pred(m)) resolve(m);
      });
      onExit = () => reject(new Error(`${what}: child ${this.label} exited (see its log)`));
      if (this.exited) onExit();
      this.proc.once('exit', onExit);
    });
    return withTimeout(p, timeoutMs, `${what} (${this.label})`).finally(() => {
      off();
      this.proc.off('exit', onExit);
    });
  }

  send(msg: { cmd: string }): void {
    if (!this.exited && this.proc.connected) this.proc.send(msg);
  }

  /** The zkjobs worker's ZooKeeper request counters (`ZkClient.requestStats`); null for BullMQ. */
  async requestStats(): Promise<RequestStats | null> {
    const reply = this.waitFor((m) => m.ev === 'stats', 10_000, 'request stats');
    this.send({ cmd: 'stats' });
    const m = await reply;
    return m.ev === 'stats' ? m.stats : null;
  }

  /** SIGKILL, now. Returns the time of the kill. */
  kill(): number {
    const t = now();
    if (!this.exited) this.proc.kill('SIGKILL');
    this.untrack();
    return t;
  }

  /** Graceful stop: asks the worker to close, waits up to `timeoutMs`, then SIGKILLs. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.exited) {
      const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
      this.send({ cmd: 'close' });
      try {
        await withTimeout(exited, timeoutMs, 'child stop');
      } catch {
        // fall through to SIGKILL
      }
    }
    this.kill();
  }
}

/** Starts `n` children at once and waits until every one runs (all are stopped if one fails). */
export async function startWorkers(
  n: number,
  cfg: WorkerChildConfig,
  logFile: string,
  labelPrefix: string,
): Promise<WorkerChild[]> {
  const res = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => WorkerChild.start(`${labelPrefix}-${i}`, cfg, logFile)),
  );
  const ok = res.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = res.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stopAll(ok);
    throw failed.reason;
  }
  return ok;
}

export async function stopAll(children: WorkerChild[]): Promise<void> {
  await Promise.all(children.map((c) => c.stop()));
}
