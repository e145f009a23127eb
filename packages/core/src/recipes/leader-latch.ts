/**
 * Leader election by a latch — ZooKeeper's *Recipes and Solutions* "Leader Election" and
 * Apache Curator's `LeaderLatch`.
 *
 * Status: **stable** (the job engine elects its scheduler with it).
 *
 * Each participant creates an `EPHEMERAL_SEQUENTIAL` node `<path>/<prefix>NNNNNNNNNN`
 * (after a connection loss the client's create finds its own node, by `ephemeralOwner`, instead
 * of making a second). Names are ordered by the 10-digit suffix read as a signed 32-bit integer.
 * The participants are the latch's own nodes and those that other libraries write for an
 * election: Curator's `LeaderLatch` (`_c_<uuid>-latch-NNNNNNNNNN`) and `LeaderSelector`
 * (`…lock-NNNNNNNNNN`), Kazoo's `Election` (`<uuid>__lock__NNNNNNNNNN`), and the
 * {@link LeaderLatchOptions.extraPatterns}; other children are ignored. The participant with
 * the lowest node leads — but only once that node's `ephemeralOwner` is checked to be this
 * client's session. Every other participant watches only its predecessor (the next lower
 * node), so a departure wakes exactly one participant (no herd).
 *
 * Sessions: on `suspended` leadership is dropped (`notLeader`); on `reconnected` it is checked
 * again; after `lost` (a new session) the participant rejoins with a new node, at the back. With
 * `errorPolicy: 'session'` (Curator's `SessionConnectionStateErrorPolicy`) only `lost` ends
 * leadership: a leader stays leader through a suspension that ends in `reconnected`, and a
 * participant whose predecessor watch survived the suspension (same session: the server
 * restores it) does not list the participants again.
 *
 * **Other libraries.** A latch never leads beside a Curator or Kazoo leader on its path. For
 * them to see the latch: Curator's `LeaderLatch` sees the default `latch-` nodes (it orders
 * every child by the text after `latch-`); Kazoo's `Election` sees only `__lock__` names, so
 * with Kazoo use `prefix: '__lock__'`; Curator's `LeaderSelector` sees `prefix: 'lock-'`. A
 * Curator `LeaderLatch` and a Kazoo `Election` cannot share a path (neither orders the other's
 * nodes by sequence): see `docs/interop.md`.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { ZkClient } from '../client/zk-client.js';
import type { ConnectionState } from '../client/connection-state.js';
import { isConnectedState } from '../client/connection-state.js';
import { CreateMode } from '../client/create-mode.js';
import { basename, joinPath, validatePath } from '../client/paths.js';
import type { WatchEvent } from '../client/watch.js';
import { NoNodeError } from '../errors.js';
import { checkPatterns, ELECTION_NAMES } from './contenders.js';
import { abortReason, deleteOwnNode, isRetryable, isSessionGone, sortOwn } from './sequential-nodes.js';

/** Options of {@link LeaderLatch}. */
export interface LeaderLatchOptions {
  /** Name prefix of the participant nodes (the job engine uses `'w-'`). @defaultValue `'latch-'` */
  prefix?: string;
  /** Payload of this participant's node, e.g. who it is. @defaultValue the {@link id} */
  data?: Buffer | string;
  /** This participant's id (for logs and as default payload). @defaultValue a random UUID */
  id?: string;
  /**
   * More node names that count as participants (literal text, as Kazoo's
   * `extra_lock_patterns`): any child whose name ends with `<pattern>NNNNNNNNNN`.
   * @defaultValue none (Curator's and Kazoo's election names always count)
   */
  extraPatterns?: readonly string[];
  /**
   * Which connection states end leadership, as Curator's `ConnectionStateErrorPolicy`:
   * - `'standard'`: `suspended` (the session may still be alive, but this client cannot tell),
   *   `read-only` and `lost` — leadership is dropped at the first sign of trouble and taken
   *   again on `reconnected`.
   * - `'session'`: only `lost` (and `read-only`). A leader keeps leading while `suspended`:
   *   safe only when everything it does as leader is fenced by its session or its node (the
   *   client declares `lost` at the latest when the server could expire the session, before
   *   another participant can lead). Back in the same session (`reconnected`) it goes on
   *   without a `notLeader`/`isLeader` pair.
   * @defaultValue `'standard'`
   */
  errorPolicy?: 'standard' | 'session';
}

/** Events of {@link LeaderLatch}. */
export interface LeaderLatchEvents {
  /** This participant became the leader. */
  isLeader: [];
  /** This participant was the leader and no longer is (suspended, lost, closed, node gone). */
  notLeader: [];
  /** This participant now watches `predecessorPath` (its next lower node). */
  watching: [predecessorPath: string];
  /**
   * This participant's place among the participants changed: `index` 0 is the leader, 1 the next
   * in line, and so on. Emitted when a check of the participants finds a new index; a participant
   * learns that nodes below its predecessor went only at its next check (it watches its
   * predecessor alone), so a larger index than the real one can be reported for a while.
   */
  position: [index: number];
  /**
   * A background check failed with an error that is not a connection loss (the latch retries
   * after a second). Only emitted when there is a listener.
   */
  error: [err: Error];
}

type LatchState = 'latent' | 'started' | 'closed';

/** Leader election among the participants of one znode path. */
export class LeaderLatch extends EventEmitter<LeaderLatchEvents> {
  /** This participant's id. */
  readonly id: string;
  /** The latch's znode (relative to the client's namespace). */
  readonly path: string;
  /** The participant node name prefix. */
  readonly prefix: string;
  private readonly data: Buffer;
  private readonly patterns: readonly string[];
  private readonly errorPolicy: 'standard' | 'session';
  private state: LatchState = 'latent';
  private leader = false;
  private nodePath: string | null = null;
  private nodeSession = 0n;
  private watched: string | null = null;
  private watchedSession = 0n;
  /** Our index among the participants at the last check (-1: not known). */
  private lastPosition = -1;
  private watchDeliveryCount = 0;
  private running: Promise<void> | null = null;
  private dirty = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly waiters = new Set<(leading: boolean) => void>();
  private readonly onState = (s: ConnectionState) => this.handleState(s);

  /**
   * @param client - a ZkClient (connected, or connecting)
   * @param path - the election's znode (created with parents on start)
   * @param opts - prefix, payload, id
   * @throws InvalidPathError for a bad path; RangeError for a prefix with `/`, an extra pattern
   *   that is empty or contains `/`, or an unknown `errorPolicy`
   */
  constructor(
    private readonly client: ZkClient,
    path: string,
    opts: LeaderLatchOptions = {},
  ) {
    super();
    this.path = validatePath(path);
    this.prefix = opts.prefix ?? 'latch-';
    if (this.prefix.includes('/')) throw new RangeError(`invalid prefix ${JSON.stringify(this.prefix)}`);
    this.patterns = [...ELECTION_NAMES, ...checkPatterns(`LeaderLatch ${this.path}`, opts.extraPatterns)];
    this.errorPolicy = opts.errorPolicy ?? 'standard';
    if (this.errorPolicy !== 'standard' && this.errorPolicy !== 'session') {
      throw new RangeError(`invalid errorPolicy ${JSON.stringify(this.errorPolicy)}`);
    }
    this.id = opts.id ?? randomUUID();
    this.data = opts.data === undefined ? Buffer.from(this.id) : Buffer.from(opts.data);
  }

  /**
   * Joins the election: creates this participant's node (parents too) and checks leadership.
   * Resolves once the node exists and the first check is done (the participant may or may not
   * lead). Connection losses are retried in the background.
   * @throws Error on a second `start()` or after `close()`; a ZkError other than connection loss
   */
  async start(): Promise<void> {
    if (this.state !== 'latent') throw new Error(`LeaderLatch ${this.path} cannot be started: it is ${this.state}`);
    this.state = 'started';
    this.client.on('state', this.onState);
    try {
      await this.reconcile();
    } catch (err) {
      if (!isRetryable(err) && !isSessionGone(err)) {
        await this.close().catch(() => undefined);
        throw err;
      }
      this.scheduleRetry(250);
    }
  }

  /**
   * Leaves the election: emits `notLeader` if leading, then deletes this participant's node
   * (retrying connection losses). Idempotent.
   * @throws the deletion's error when the node could not be deleted (it is not swallowed)
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasStarted = this.state === 'started';
    this.state = 'closed';
    this.client.off('state', this.onState);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!wasStarted) return;
    await this.running?.catch(() => undefined);
    this.setLeadership(false);
    for (const w of this.waiters) w(false);
    this.waiters.clear();
    const p = this.nodePath;
    this.nodePath = null;
    if (p !== null) await deleteOwnNode(this.client, p);
  }

  /** {@link close} */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * True while this participant leads: its node is lowest and owned by the current session, and
   * the client is connected (with `errorPolicy: 'session'`, also while it is suspended).
   */
  hasLeadership(): boolean {
    return this.leader;
  }

  /**
   * Waits until this participant leads.
   * @param opts - `timeoutMs`: give up after this many ms (no limit when omitted); `signal`: abort waiting
   * @returns `true` when leading, `false` on timeout or when the latch is closed first
   * @throws the signal's reason when aborted
   */
  awaitLeadership(opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<boolean> {
    if (opts.signal?.aborted) return Promise.reject(abortReason(opts.signal));
    if (this.leader) return Promise.resolve(true);
    if (this.state === 'closed') return Promise.resolve(false);
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (leading: boolean) => {
        this.waiters.delete(done);
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(leading);
      };
      const onAbort = () => {
        this.waiters.delete(done);
        if (timer) clearTimeout(timer);
        reject(abortReason(opts.signal!));
      };
      this.waiters.add(done);
      if (opts.timeoutMs !== undefined) timer = setTimeout(() => done(false), Math.max(0, opts.timeoutMs));
      opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** This participant's node path (a fencing token for users), or `null` before start / between sessions. Changes after a rejoin. */
  get ourPath(): string | null {
    return this.nodePath;
  }

  /** The session that owns {@link ourPath} (`0n` when there is no node). */
  get sessionId(): bigint {
    return this.nodePath === null || this.nodeSession < 0n ? 0n : this.nodeSession;
  }

  /** Watch notifications received on predecessor nodes so far (diagnostics: shows there is no herd). */
  get watchDeliveries(): number {
    return this.watchDeliveryCount;
  }

  /**
   * The current leader's node and payload, or `null` when there are no participants.
   * @throws a ZkError (e.g. ConnectionLossError)
   */
  async getLeader(): Promise<{ path: string; data: Buffer } | null> {
    for (;;) {
      const names = await this.sortedNames();
      const first = names[0];
      if (first === undefined) return null;
      const path = joinPath(this.path, first);
      try {
        const { data } = await this.client.getData(path);
        return { path, data };
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
    }
  }

  /**
   * The participants' node paths, lowest sequence (the leader) first.
   * @throws a ZkError (e.g. ConnectionLossError)
   */
  async getParticipants(): Promise<string[]> {
    return (await this.sortedNames()).map((n) => joinPath(this.path, n));
  }

  private async sortedNames(): Promise<string[]> {
    try {
      const { children } = await this.client.getChildren(this.path);
      return sortOwn(children, [this.prefix], this.patterns);
    } catch (err) {
      if (err instanceof NoNodeError) return [];
      throw err;
    }
  }

  private setLeadership(leading: boolean): void {
    if (this.leader === leading) return;
    this.leader = leading;
    if (leading) {
      for (const w of [...this.waiters]) w(true);
      this.emit('isLeader');
    } else {
      this.emit('notLeader');
    }
  }

  private handleState(s: ConnectionState): void {
    if (this.state !== 'started') return;
    if (s === 'lost' || s === 'read-only' || (s === 'suspended' && this.errorPolicy === 'standard')) {
      this.setLeadership(false);
    }
    if (s === 'lost') this.watched = null;
    if (s === 'connected') this.kick();
    if (s === 'reconnected') {
      // Same session: a standby's predecessor watch was restored by the server (and fires if
      // the predecessor went meanwhile), so there is nothing to list again.
      const covered =
        this.errorPolicy === 'session' &&
        !this.leader &&
        this.watched !== null &&
        this.watchedSession === this.client.sessionId &&
        this.nodeSession === this.client.sessionId;
      if (!covered) this.kick();
    }
  }

  /** Runs a check in the background; errors are retried. */
  private kick(): void {
    if (this.state !== 'started') return;
    this.reconcile().catch((err: unknown) => this.onCheckError(err));
  }

  private onCheckError(err: unknown): void {
    if (this.state !== 'started') return;
    if (isRetryable(err) || isSessionGone(err)) {
      // A state event will kick again; if the client is connected meanwhile, retry soon.
      this.scheduleRetry(isConnectedState(this.client.state) ? 100 : 1000);
      return;
    }
    if (this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)));
    this.scheduleRetry(1000);
  }

  private scheduleRetry(ms: number): void {
    if (this.retryTimer || this.state !== 'started') return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.kick();
    }, ms);
  }

  /** One check at a time; a request during a check runs another check after it. */
  private reconcile(): Promise<void> {
    if (this.running) {
      this.dirty = true;
      return this.running;
    }
    const run = (async () => {
      try {
        do {
          this.dirty = false;
          await this.check();
        } while (this.dirty && this.state === 'started');
      } finally {
        this.running = null;
      }
    })();
    this.running = run;
    return run;
  }

  private async check(): Promise<void> {
    if (this.state !== 'started') return;
    if (!isConnectedState(this.client.state)) {
      // Suspended under the session policy: still leading until `lost` says otherwise.
      if (this.client.state !== 'suspended' || this.errorPolicy === 'standard') this.setLeadership(false);
      return; // the next 'connected'/'reconnected' kicks again
    }
    const session = this.client.sessionId;
    if (this.nodePath === null || this.nodeSession !== session) {
      this.setLeadership(false);
      const stale = this.nodePath;
      this.nodePath = null;
      this.watched = null;
      // The old session's node is normally gone already; delete it in case the server has not expired it yet.
      if (stale !== null) await deleteOwnNode(this.client, stale);
      const created = await this.client.create(joinPath(this.path, this.prefix), {
        mode: CreateMode.EPHEMERAL_SEQUENTIAL,
        parents: true,
        data: this.data,
      });
      if (this.state !== 'started') {
        await deleteOwnNode(this.client, created);
        return;
      }
      this.nodePath = created;
      this.nodeSession = session;
    }
    const ours = this.nodePath;
    const names = await this.sortedNames();
    const ourName = basename(ours);
    const i = names.indexOf(ourName);
    if (i >= 0 && i !== this.lastPosition) {
      this.lastPosition = i;
      this.emit('position', i);
    }
    if (i < 0) {
      // Our node is gone (session expired, or deleted by someone): rejoin with a new one.
      this.setLeadership(false);
      this.nodeSession = -1n;
      this.dirty = true;
      return;
    }
    if (i === 0) {
      const stat = await this.client.exists(ours);
      if (
        stat !== null &&
        stat.ephemeralOwner === this.client.sessionId &&
        this.nodeSession === this.client.sessionId
      ) {
        if (isConnectedState(this.client.state) && this.state === 'started') this.setLeadership(true);
      } else {
        this.setLeadership(false);
        this.nodeSession = -1n;
        this.dirty = true;
      }
      return;
    }
    this.setLeadership(false);
    const predecessor = joinPath(this.path, names[i - 1]!);
    if (this.watched === predecessor && this.watchedSession === session) {
      // A watch on it is still armed (same session): only make sure it has not gone meanwhile.
      if ((await this.client.exists(predecessor)) === null) this.dirty = true;
      return;
    }
    const watcher = (event: WatchEvent) => {
      if (this.watched === predecessor) this.watched = null;
      if (this.state !== 'started') return;
      if (event.type !== 'session-expired') this.watchDeliveryCount++;
      this.kick();
    };
    try {
      await this.client.getData(predecessor, { watch: watcher });
      this.watched = predecessor;
      this.watchedSession = session;
      this.emit('watching', predecessor);
    } catch (err) {
      if (!(err instanceof NoNodeError)) throw err;
      this.dirty = true; // it went between the listing and the watch: look again
    }
  }
}
