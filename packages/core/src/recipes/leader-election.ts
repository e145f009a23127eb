/**
 * Leader election with a callback that runs while leading — Apache Curator's
 * `LeaderSelector` (with `autoRequeue`), on top of {@link LeaderLatch} (ZooKeeper's *Recipes
 * and Solutions* "Leader Election"). Unlike Kazoo's `Election`, losing leadership is signalled:
 * the callback's `AbortSignal` is aborted.
 *
 * Status: **beta**.
 *
 * When this participant becomes the leader, `onLeadership(signal)` is called. Leadership ends
 * when the callback returns (or throws): the participant's node is deleted, so the next one
 * leads, and with `requeue` (the default) it joins again at the back. If leadership is lost
 * first (`suspended`, `lost`, `close()`), the signal is aborted: the callback must stop and
 * return promptly.
 *
 * **Other libraries**: as {@link LeaderLatch} — it interoperates with Curator's `LeaderLatch`
 * (default prefix `latch-`) or `LeaderSelector` (`prefix: 'lock-'`), and with Kazoo's
 * `Election` (`prefix: '__lock__'`); see `docs/interop.md`.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { ZkClient } from '../client/zk-client.js';
import { validatePath } from '../client/paths.js';
import { LeaderLatch } from './leader-latch.js';

/** Options of {@link LeaderElection}. */
export interface LeaderElectionOptions {
  /**
   * Called when this participant becomes the leader; leadership lasts until the returned
   * promise settles. `signal` is aborted when leadership is lost (or the election closed).
   */
  onLeadership: (signal: AbortSignal, election: LeaderElection) => Promise<void> | void;
  /** Join again after each term (Curator's `autoRequeue`). @defaultValue true */
  requeue?: boolean;
  /**
   * Name prefix of the participant nodes: `'latch-'` (Curator's `LeaderLatch` sees it),
   * `'lock-'` (Curator's `LeaderSelector`), `'__lock__'` (Kazoo's `Election`). The nodes of every
   * library count as participants, whatever this is (see {@link LeaderLatch}).
   * @defaultValue `'latch-'`
   */
  prefix?: string;
  /** More node names that count as participants: see {@link LeaderLatchOptions.extraPatterns}. */
  extraPatterns?: readonly string[];
  /** Payload of this participant's node. @defaultValue the {@link id} */
  data?: Buffer | string;
  /** This participant's id. @defaultValue a random UUID */
  id?: string;
}

/** Events of {@link LeaderElection}. */
export interface LeaderElectionEvents {
  /** A term began (just before `onLeadership` is called). */
  isLeader: [];
  /** A term ended: the callback settled, or leadership was lost. */
  notLeader: [];
  /** This participant now watches `predecessorPath`. */
  watching: [predecessorPath: string];
  /** The callback threw, or a background step failed (only emitted when there is a listener). */
  error: [err: Error];
}

/** A participant in a leader election that runs a callback while it leads. */
export class LeaderElection extends EventEmitter<LeaderElectionEvents> {
  /** This participant's id. */
  readonly id: string;
  private latch: LeaderLatch | null = null;
  private state: 'latent' | 'started' | 'closed' = 'latent';
  private term: AbortController | null = null;
  private termDone: Promise<void> | null = null;
  private terms = 0;

  /**
   * @param client - a ZkClient
   * @param path - the election's znode
   * @param opts - the callback and latch options
   * @throws InvalidPathError for a bad path
   */
  constructor(
    private readonly client: ZkClient,
    readonly path: string,
    private readonly opts: LeaderElectionOptions,
  ) {
    super();
    validatePath(path);
    this.id = opts.id ?? randomUUID();
  }

  /**
   * Joins the election.
   * @throws Error on a second start or after close; a ZkError other than connection loss
   */
  async start(): Promise<void> {
    if (this.state !== 'latent') throw new Error(`LeaderElection ${this.path} cannot be started: it is ${this.state}`);
    this.state = 'started';
    await this.join();
  }

  /**
   * Leaves the election: aborts a running term, waits for its callback to return, deletes the
   * node. Idempotent.
   * @throws the node deletion's error
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.term?.abort(new Error('election closed'));
    await this.termDone;
    await this.latch?.close();
    this.latch = null;
  }

  /** {@link close} */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** True while a term runs (the callback has been called and not yet settled, leadership not lost). */
  hasLeadership(): boolean {
    return this.term !== null && !this.term.signal.aborted;
  }

  /** How many terms this participant has led. */
  get termCount(): number {
    return this.terms;
  }

  /** This participant's node path (changes after each term and rejoin), or `null`. */
  get ourPath(): string | null {
    return this.latch?.ourPath ?? null;
  }

  /** The current leader's node path and payload, or `null`. @throws a ZkError */
  async getLeader(): Promise<{ path: string; data: Buffer } | null> {
    return this.latch ? this.latch.getLeader() : null;
  }

  /** All participants' node paths, leader first. @throws a ZkError */
  async getParticipants(): Promise<string[]> {
    return this.latch ? this.latch.getParticipants() : [];
  }

  private async join(): Promise<void> {
    const latch = new LeaderLatch(this.client, this.path, {
      id: this.id,
      ...(this.opts.prefix !== undefined ? { prefix: this.opts.prefix } : {}),
      ...(this.opts.extraPatterns !== undefined ? { extraPatterns: this.opts.extraPatterns } : {}),
      ...(this.opts.data !== undefined ? { data: this.opts.data } : {}),
    });
    this.latch = latch;
    latch.on('watching', (p) => this.emit('watching', p));
    latch.on('error', (e) => this.emitError(e));
    latch.on('isLeader', () => this.beginTerm(latch));
    latch.on('notLeader', () => this.term?.abort(new Error('leadership lost')));
    await latch.start();
  }

  private beginTerm(latch: LeaderLatch): void {
    if (this.state !== 'started' || latch !== this.latch || this.term !== null) return;
    const term = new AbortController();
    this.term = term;
    this.terms++;
    this.emit('isLeader');
    this.termDone = (async () => {
      try {
        await this.opts.onLeadership(term.signal, this);
      } catch (err) {
        this.emitError(err instanceof Error ? err : new Error(String(err)));
      }
      if (!term.signal.aborted) term.abort(new Error('term ended'));
      this.term = null;
      this.emit('notLeader');
      // End the term for the others: leave (delete our node), then requeue at the back.
      if (this.latch === latch) {
        this.latch = null;
        try {
          await latch.close();
        } catch (err) {
          this.emitError(err instanceof Error ? err : new Error(String(err)));
        }
        if (this.state === 'started' && (this.opts.requeue ?? true)) {
          await this.join().catch((err: unknown) =>
            this.emitError(err instanceof Error ? err : new Error(String(err))),
          );
        }
      }
    })();
  }

  private emitError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
