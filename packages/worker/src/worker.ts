import { hostname } from 'node:os';
import { LeaderLatch, ZkClient, type ZkClientOptions } from '@zkjobs/core';
import type { Logger } from 'pino';
import { z } from 'zod';
import { Consumer } from './consumer/consumer.js';
import { DEFAULT_KEEP_LOGS } from './consumer/logs.js';
import { ensureTree } from './engine/tree.js';
import { JobValidationError, WorkerClosingError } from './errors.js';
import { TypedEmitter, type WorkerEvents } from './events.js';
import { DEFAULT_NAMESPACE, WORKERS, type WorkerInfo } from './layout.js';
import { defaultLogger } from './logger.js';
import { namespaceSchema, zodToValidationError, type BackoffStrategy } from './options.js';
import type { Processor } from './processor.js';
import { DeposedError, PendingWatch, Scheduler } from './scheduler/scheduler.js';

/** Options of {@link Worker}. */
export interface WorkerOptions {
  /** Root znode of the zkjobs cluster. @defaultValue `'/zkjobs/default'` */
  namespace?: string;
  /** Jobs run at the same time by this worker. Integer 1–10,000. @defaultValue 1 */
  concurrency?: number;
  /**
   * Jobs the leader keeps assigned to this worker ahead of time (its queue's cap). Integer ≥ 1.
   * @defaultValue `max(4 × concurrency, 32)`
   */
  prefetch?: number;
  /** Session timeout when the Worker makes its own connection, ms (the server clamps it to 2–20 × tickTime). @defaultValue 10000 */
  sessionTimeoutMs?: number;
  /**
   * Options of the connection made when given a connect string: credentials (`auth`), the
   * default ACL of created znodes (`defaultAcl`), `tls`, `connectTimeoutMs`, … (see
   * `ZkClientOptions`; checked by `ZkClient.connect`, which throws BadArgumentsError naming a bad
   * one). Ignored when given a ZkClient.
   * @defaultValue none
   */
  zk?: Omit<ZkClientOptions, 'namespace' | 'sessionTimeoutMs'>;
  /** Default grace period of {@link Worker.close}, ms. @defaultValue 10000 */
  graceMs?: number;
  /**
   * Interval of the safety re-listing of the queue (consumer, only when it has room for work)
   * and of the workers, pending buckets and queues (leader, 64 + workers small reads), ms: a
   * guard against a watch notification that never arrives. Watches drive the engine; this only
   * bounds the delay if one is lost.
   * @defaultValue 2000
   */
  safetyPollMs?: number;
  /**
   * The retry strategy of the jobs this worker runs (BullMQ's `backoffStrategy`): called with
   * `(attemptsMade, err, job)` after a failed attempt that has attempts left (never for an
   * {@link UnrecoverableError}); it returns the delay before the next attempt in ms (an integer
   * 0–86,400,000, on ZooKeeper's clock), `-1` ({@link FAIL_NOW}) to make no more attempts (the
   * job ends `failed`), or undefined to use the job's own `backoff`. When it throws or returns
   * anything else, the job's own backoff is used and an `error` event names it.
   * @defaultValue none: every job's own `backoff`
   */
  backoffStrategy?: BackoffStrategy;
  /**
   * The event log's length while this worker leads: count deltas (each holding one multi's
   * count changes and events, see `QueueEvents`) kept after the leader folded them, the newest
   * first; older ones are deleted by the fold (about once a second). A `QueueEvents` that falls
   * further behind than this is told of the gap. Integer 0–100,000 (0: deleted once folded).
   * Costs ZooKeeper memory: a delta is ~40 bytes per job event of its multi (a completion
   * multi of 200 jobs: ~8 KB).
   * @defaultValue 1000
   */
  maxEventDeltas?: number;
  /**
   * Log lines kept per job (BullMQ's `keepLogs`): when a job's `ctx.log` lines — of all its
   * attempts — pass this many, the oldest are dropped and the stored `dropped` counts them
   * (`Queue.getJobLogs` returns it). The stored lines of a job are also kept under 512 KiB in
   * all, dropping (and counting) the oldest. Integer 1–100,000.
   * @defaultValue 100
   */
  keepLogs?: number;
  /**
   * Start at construction (BullMQ's `autorun`): the constructor begins what {@link Worker.start}
   * does — connect, register, consume — and {@link Worker.start} then only waits for it. A
   * failure of that start is logged and emitted as `error` (when the worker has a listener), and
   * is what `start()` rejects with. `false`: nothing happens until `start()` is called.
   * @defaultValue true
   */
  autorun?: boolean;
  /** pino logger. @defaultValue {@link defaultLogger} */
  logger?: Logger;
}

const workerOptionsSchema = z.strictObject({
  namespace: namespaceSchema.optional(),
  concurrency: z.number().int().min(1).max(10_000).optional(),
  prefetch: z.number().int().min(1).max(100_000).optional(),
  sessionTimeoutMs: z.number().int().min(1).optional(),
  zk: z.record(z.string(), z.unknown()).optional(),
  graceMs: z.number().int().min(0).optional(),
  safetyPollMs: z.number().int().min(10).optional(),
  maxEventDeltas: z.number().int().min(0).max(100_000).optional(),
  keepLogs: z.number().int().min(1).max(100_000).optional(),
  backoffStrategy: z.custom<BackoffStrategy>((v) => typeof v === 'function', 'must be a function').optional(),
  autorun: z.boolean().optional(),
  logger: z.any().optional(),
});

type WorkerState = 'idle' | 'starting' | 'running' | 'closing' | 'closed';

/**
 * Runs jobs: registers as `<root>/workers/w-NNNNNNNNNN` (a LeaderLatch participant that watches
 * only its predecessor), consumes the jobs the leader assigns to it with `concurrency` handlers
 * at a time, and — while it holds the lowest `w-` node — is the leader and runs the
 * {@link Scheduler}.
 *
 * ```ts
 * const worker = new Worker('127.0.0.1:2181', { email: async (job, { token, signal }) => send(job.data, signal) }, { concurrency: 8 });
 * worker.on('completed', (job) => console.log(job.id));
 * await worker.start(); // it started when constructed (autorun); this waits until it is registered
 * ```
 *
 * As BullMQ's Worker, it starts when constructed (`autorun`, default true); with
 * `autorun: false` it waits for {@link Worker.start}.
 */
export class Worker extends TypedEmitter<WorkerEvents> {
  /** The namespace root. */
  readonly namespace: string;
  /** Jobs run at the same time. */
  readonly concurrency: number;
  /** Jobs assigned ahead of time. */
  readonly prefetch: number;
  private readonly handlers: Record<string, Processor>;
  private readonly log: Logger;
  private readonly graceMs: number;
  private readonly connection: ZkClient | string;
  private readonly sessionTimeoutMs: number;
  private readonly zkOptions: Omit<ZkClientOptions, 'namespace' | 'sessionTimeoutMs'>;
  private readonly pollMs: number;
  private readonly maxEventDeltas: number | undefined;
  private readonly backoffStrategy: BackoffStrategy | undefined;
  private readonly keepLogs: number;
  private root: ZkClient | null = null;
  private client: ZkClient | null = null;
  private latch: LeaderLatch | null = null;
  private consumer: Consumer | null = null;
  private scheduler: Scheduler | null = null;
  /** Warm standby: the pending buckets' listings, kept while this worker is next in line or the one after. */
  private standby: PendingWatch | null = null;
  private state: WorkerState = 'idle';
  private leading = false;
  private leaderGen = 0;
  private rebinding: Promise<void> | null = null;
  private lastName: string | null = null;
  /** The session the consumer is bound in, hex. */
  private boundSession = '';
  /** The start in flight or done (shared by autorun and every `start()` call). */
  private starting: Promise<void> | null = null;

  /**
   * @param connection - a {@link ZkClient} (shared; not closed by the worker) or a connect string
   *   (the worker connects with `sessionTimeoutMs` and closes the connection in {@link close})
   * @param handlers - one processor per job type; the keys are the types this worker runs
   * @param opts - options
   * @throws JobValidationError for bad options or no handlers
   */
  constructor(connection: ZkClient | string, handlers: Record<string, Processor>, opts: WorkerOptions = {}) {
    super();
    const parsed = workerOptionsSchema.safeParse(opts);
    if (!parsed.success) throw zodToValidationError('options', parsed.error);
    if (
      !handlers ||
      Object.keys(handlers).length === 0 ||
      Object.values(handlers).some((h) => typeof h !== 'function')
    ) {
      throw new JobValidationError('handlers', 'must map at least one job type to a function');
    }
    this.connection = connection;
    this.handlers = handlers;
    this.namespace = opts.namespace ?? DEFAULT_NAMESPACE;
    this.concurrency = opts.concurrency ?? 1;
    this.prefetch = opts.prefetch ?? Math.max(4 * this.concurrency, 32);
    this.sessionTimeoutMs = opts.sessionTimeoutMs ?? 10_000;
    this.zkOptions = opts.zk ?? {};
    this.graceMs = opts.graceMs ?? 10_000;
    this.pollMs = opts.safetyPollMs ?? 2000;
    this.maxEventDeltas = opts.maxEventDeltas;
    this.backoffStrategy = opts.backoffStrategy;
    this.keepLogs = opts.keepLogs ?? DEFAULT_KEEP_LOGS;
    this.log = opts.logger ?? defaultLogger();
    if (opts.autorun ?? true) {
      this.start().catch((err: unknown) => {
        if (this.state === 'closed' || this.state === 'closing') return; // closed while starting
        this.log.error({ err }, 'worker could not start (autorun)');
        if (this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)));
      });
    }
  }

  /**
   * This worker's znode name (`w-NNNNNNNNNN`), null before start. After a new session it is the
   * new registration's name; after {@link close} it stays the last one it had.
   */
  get name(): string | null {
    const p = this.latch?.ourPath;
    return p ? p.slice(p.lastIndexOf('/') + 1) : this.lastName;
  }

  /** Keeps the current registration's name, for {@link name} after the latch forgets it at close. */
  private rememberName(): void {
    this.lastName = this.name;
  }

  /** True while this worker leads (its scheduler runs). */
  isLeader(): boolean {
    return this.leading;
  }

  /** The leader epoch while leading, else -1. */
  get epoch(): number {
    return this.leading ? (this.scheduler?.epoch ?? -1) : -1;
  }

  /** The namespaced client (after start). */
  get zk(): ZkClient | null {
    return this.client;
  }

  /** Handlers running now (0 before start). */
  get runningCount(): number {
    return this.consumer?.runningCount ?? 0;
  }

  /** Jobs assigned to this worker by the leader and not started yet (0 before start). */
  get assignedCount(): number {
    return this.consumer?.assignedCount ?? 0;
  }

  /** Counters of this worker: claimed, completed, failed, refused, skipped; and, while leading, assigned, requeued. */
  stats(): Record<string, number> {
    return { ...(this.consumer?.counters ?? {}), ...(this.scheduler?.counters ?? {}) };
  }

  /**
   * Connects (if given a connect string), registers, and starts consuming; becomes leader when
   * its znode is the lowest. Resolves once registered. Idempotent: a worker started already (by
   * `autorun`, or an earlier call) returns the same start.
   * @throws Error when the worker is closed or closing; ZkError / ConnectTimeoutError when
   *   ZooKeeper cannot be reached
   */
  start(): Promise<void> {
    if (this.starting) return this.starting;
    if (this.state !== 'idle') return Promise.reject(new Error(`Worker cannot be started: it is ${this.state}`));
    this.starting = this.run();
    return this.starting;
  }

  /** Throws when {@link close} was called while starting. */
  private checkNotClosing(): void {
    if (this.state !== 'starting') throw new Error('worker closed while starting');
  }

  private async run(): Promise<void> {
    this.state = 'starting';
    this.root =
      typeof this.connection === 'string'
        ? await ZkClient.connect(this.connection, { ...this.zkOptions, sessionTimeoutMs: this.sessionTimeoutMs })
        : this.connection;
    this.checkNotClosing();
    const client = this.root.usingNamespace(this.namespace);
    client.setMaxListeners(0); // one re-arming watch per pending bucket and queue
    this.client = client;
    await ensureTree(client);
    this.checkNotClosing();
    const info: WorkerInfo = {
      host: hostname(),
      pid: process.pid,
      concurrency: this.concurrency,
      prefetch: this.prefetch,
      types: Object.keys(this.handlers),
      startedAt: Date.now(),
      session: client.sessionIdHex,
    };
    this.consumer = new Consumer({
      client,
      handlers: this.handlers,
      concurrency: this.concurrency,
      log: this.log,
      events: this,
      pollMs: this.pollMs,
      ...(this.backoffStrategy ? { backoffStrategy: this.backoffStrategy } : {}),
      keepLogs: this.keepLogs,
    });
    // Only a lost session ends leadership: a leader that is suspended and back in the same
    // session keeps its epoch and its scheduler, watches and view (a round the drop cut short
    // resynchronises its view, as after any failed write). Safe: every leader write is fenced by
    // its znode and the epoch, and the client declares `lost` before the server can expire it.
    const latch = new LeaderLatch(client, WORKERS, {
      prefix: 'w-',
      data: JSON.stringify(info),
      errorPolicy: 'session',
    });
    this.latch = latch;
    latch.on('isLeader', () => this.onLeader());
    latch.on('notLeader', () => this.onNotLeader('latch: not leader'));
    latch.on('error', (err) => this.log.warn({ err }, 'leader latch error'));
    latch.on('position', (index) => this.onPosition(index));
    client.on('lost', () => {
      const lost = { worker: this.lastName, session: this.boundSession };
      this.log.warn(lost, 'session lost: claims are void');
      this.consumer?.lostRegistration('session lost');
      this.emit('session-lost', lost);
    });
    client.on('session', () => void this.rebind());
    await latch.start();
    await this.waitRegistered();
    this.rememberName();
    await this.consumer.bind(this.name!, client.sessionIdHex);
    this.checkNotClosing();
    this.boundSession = client.sessionIdHex;
    this.state = 'running';
    this.emit('registered', this.name!, client.sessionIdHex);
    this.log.info(
      { worker: this.name, session: client.sessionIdHex, concurrency: this.concurrency, types: info.types },
      'worker started',
    );
  }

  private async waitRegistered(): Promise<void> {
    const client = this.client!;
    for (let i = 0; ; i++) {
      if (this.latch?.ourPath && this.latch.sessionId === client.sessionId) return;
      if (this.state === 'closing' || this.state === 'closed') throw new Error('worker closed');
      await new Promise((r) => setTimeout(r, Math.min(200, 10 * (i + 1))));
    }
  }

  /** After a new session: wait for the latch's new znode and consume its queue. */
  private rebind(): Promise<void> {
    if (this.rebinding) return this.rebinding;
    this.rebinding = (async () => {
      try {
        await this.waitRegistered();
        if (this.state !== 'running') return;
        const previousWorker = this.lastName;
        const previousSession = this.boundSession;
        this.rememberName();
        const session = this.client!.sessionIdHex;
        await this.consumer!.bind(this.name!, session);
        this.boundSession = session;
        this.emit('registered', this.name!, session);
        this.log.info(
          { worker: this.name, session, previousWorker, previousSession },
          're-registered with a new session',
        );
        this.emit('re-registered', { worker: this.name!, session, previousWorker, previousSession });
      } catch (err) {
        this.log.warn({ err }, 'could not re-register');
      } finally {
        this.rebinding = null;
      }
    })();
    return this.rebinding;
  }

  /**
   * Keeps the warm standby while this worker is one of the next two in line (a participant only
   * watches its predecessor, so it may learn of a lower place late; a cold takeover lists the
   * buckets itself).
   */
  private onPosition(index: number): void {
    if (index >= 1 && index <= 2 && !this.leading && this.state !== 'closing' && this.state !== 'closed') {
      if (!this.standby && this.client) this.standby = new PendingWatch(this.client);
    } else if (index > 2) {
      this.standby?.close();
      this.standby = null;
    }
  }

  private onLeader(): void {
    if (this.state === 'closing' || this.state === 'closed' || this.leading) return;
    const name = this.name;
    if (!name) return;
    this.leading = true;
    const gen = ++this.leaderGen;
    const scheduler = new Scheduler({
      client: this.client!,
      self: name,
      log: this.log,
      pollMs: this.pollMs,
      ...(this.maxEventDeltas !== undefined ? { maxEventDeltas: this.maxEventDeltas } : {}),
      onDeposed: (reason) => {
        if (this.leaderGen !== gen) return;
        this.onNotLeader(reason);
        // Deposed by the fence while the latch still says we lead (e.g. the epoch moved under
        // us): take a new epoch after a pause, if we still hold the lowest znode then.
        this.retakeLater();
      },
      onLocalAssignment: (node, jobs, claimed) => this.consumer?.deliverLocal(name, node, jobs, claimed),
      localClaimer: () => this.consumer?.localClaimer(name) ?? null,
      localIdle: () => this.consumer?.isIdleFor(name) ?? false,
      onLocalAssigning: () => this.consumer?.expectLocal(name) ?? (() => undefined),
      onError: (err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
      },
    });
    this.scheduler = scheduler;
    const warm = this.standby ?? undefined;
    this.standby = null; // the scheduler owns it now (and closes it when it stops)
    scheduler.start(warm).then(
      (epoch) => {
        if (this.leaderGen !== gen) return;
        this.emit('leader-elected', epoch);
      },
      (err: unknown) => {
        if (this.leaderGen !== gen) return;
        this.log.warn(
          { err },
          err instanceof DeposedError ? 'could not take leadership: deposed' : 'could not take leadership',
        );
        scheduler.stop();
        this.leading = false;
        this.scheduler = null;
        // Our znode is still lowest if the failure was transient: try again shortly.
        this.retakeLater();
      },
    );
  }

  private retakeLater(): void {
    setTimeout(() => {
      if (this.state === 'running' && this.latch?.hasLeadership() && !this.leading) this.onLeader();
    }, 500).unref();
  }

  private onNotLeader(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.leaderGen++;
    const s = this.scheduler;
    this.scheduler = null;
    s?.stop();
    const epoch = s?.epoch ?? -1;
    if (epoch < 0) {
      // Lost before an epoch was taken: it never led (no leader-elected was emitted).
      this.log.info({ worker: this.name, reason }, 'leadership lost before taking an epoch');
      return;
    }
    // Handing leadership over at close is the plan, not a warning.
    this.log[reason === 'closing' ? 'info' : 'warn']({ worker: this.name, epoch, reason }, 'leadership lost');
    this.emit('leader-lost', epoch);
  }

  /**
   * Graceful shutdown: stops taking work, lets running jobs finish within `graceMs` (then aborts
   * their signals with {@link WorkerClosingError} and releases their jobs back to waiting), writes
   * the pending completions, leaves the election (deleting its znode, so the next leader takes
   * over at once and requeues what was assigned here), and closes its own connection. Idempotent.
   * @param opts.graceMs - how long running jobs may take, ms @defaultValue the `graceMs` option
   */
  async close(opts: { graceMs?: number } = {}): Promise<void> {
    if (this.state === 'closed' || this.state === 'closing') return;
    const wasStarted = this.state !== 'idle';
    const wasStarting = this.state === 'starting';
    this.state = 'closing';
    // A start in flight stops at its next step; what it made so far is closed below.
    if (wasStarting) await this.starting?.catch(() => undefined);
    if (wasStarted && this.consumer) {
      this.consumer.pause();
      const grace = opts.graceMs ?? this.graceMs;
      if (!(await this.consumer.drain(grace))) {
        this.log.warn(
          { worker: this.name, running: this.consumer.runningCount },
          'grace period over: aborting running jobs',
        );
        this.consumer.abortAll(new WorkerClosingError(grace));
        await this.consumer.drain(5_000);
      }
    }
    // Notes of refused or lost claims on records that are final by now (best effort, bounded).
    if (this.consumer && this.consumer.pendingNotes > 0) {
      await Promise.race([this.consumer.writeNotes(), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    this.rememberName(); // the latch forgets it when it closes
    this.onNotLeader('closing');
    this.standby?.close();
    this.standby = null;
    await this.latch?.close().catch((err: unknown) => this.log.warn({ err }, 'could not leave the election'));
    if (typeof this.connection === 'string') await this.root?.close();
    this.state = 'closed';
    this.log.info(this.name ? { worker: this.name } : {}, 'worker closed');
  }

  /** Same as {@link close} with the default grace period. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
