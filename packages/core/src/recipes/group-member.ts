/**
 * Group membership: each member is an ephemeral node `<path>/<memberId>` (with optional
 * data), re-created after the session is lost, and every member keeps a live view of the
 * group. Follows the "Group Membership" use of ZooKeeper (the talk's and the *Recipes and
 * Solutions* page's ephemeral-node pattern), with the API of Curator's `GroupMember` and
 * Kazoo's `Party`.
 *
 * Status: **beta**.
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { ZkClient } from '../client/zk-client.js';
import { CreateMode } from '../client/create-mode.js';
import type { WatchHandle } from '../client/watch.js';
import { BadVersionError, NodeExistsError, NoNodeError } from '../errors.js';
import { deleteRetrying } from './barrier.js';

/**
 * Runs an async task so that calls never overlap: a call while the task runs schedules one
 * more run after it (calls coalesce). Errors go to `onError`.
 * @internal
 */
export class SerialRunner {
  private running = false;
  private again = false;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private idle: Promise<void> = Promise.resolve();

  /**
   * @param task - the work; never runs twice at once
   * @param onError - told of every failed run (not after {@link SerialRunner.stop})
   * @param retryAfterMs - when set, a failed run is retried after this many ms (one pending retry at most)
   */
  constructor(
    private readonly task: () => Promise<void>,
    private readonly onError: (err: unknown) => void,
    private readonly retryAfterMs?: number,
  ) {}

  /** Requests a run. Resolves when the run that covers this request has finished. */
  run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.idle;
    }
    this.running = true;
    this.idle = (async () => {
      try {
        do {
          this.again = false;
          try {
            await this.task();
          } catch (err) {
            if (this.stopped) return;
            this.onError(err);
            this.scheduleRetry();
          }
        } while (this.again && !this.stopped);
      } finally {
        this.running = false;
      }
    })();
    return this.idle;
  }

  /** No more runs or retries. */
  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private scheduleRetry(): void {
    if (this.retryAfterMs === undefined || this.retryTimer !== undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.run();
    }, this.retryAfterMs);
    this.retryTimer.unref();
  }
}

/** What {@link ensureEphemeral} does with a node of the same path owned by another, unknown session. */
export type ForeignNodePolicy = 'replace' | 'throw';

/**
 * Makes sure `path` is an ephemeral node of the client's *current* session holding `data`:
 * creates it (with parents); adopts it if the current session already owns it (a create whose
 * reply was lost); deletes and re-creates it if it belongs to `staleSession` (our own previous
 * session, whose node the server has not expired yet) — a stale node is never adopted. A node
 * of any other session is replaced or reported according to `foreign`.
 * @returns the session id that now owns the node
 * @throws NodeExistsError when `foreign` is `'throw'` and another session owns the node
 * @internal
 */
export async function ensureEphemeral(
  client: ZkClient,
  path: string,
  data: Buffer,
  staleSession: bigint | null,
  foreign: ForeignNodePolicy,
): Promise<bigint> {
  for (let attempt = 0; ; attempt++) {
    const session = client.sessionId;
    try {
      await client.create(path, { data, mode: CreateMode.EPHEMERAL, parents: true });
      return session;
    } catch (err) {
      if (!(err instanceof NodeExistsError)) throw err;
    }
    const stat = await client.exists(path);
    if (stat === null) continue;
    if (stat.ephemeralOwner === client.sessionId) {
      try {
        await client.setData(path, data, { version: stat.version });
        return client.sessionId;
      } catch (err) {
        if (err instanceof NoNodeError || err instanceof BadVersionError) continue;
        throw err;
      }
    }
    if (stat.ephemeralOwner !== staleSession && foreign === 'throw') {
      throw new NodeExistsError(`${path} is held by another session (0x${stat.ephemeralOwner.toString(16)})`, {
        path,
        op: 'create',
      });
    }
    if (attempt >= 20)
      throw new NodeExistsError(`${path}: gave up replacing another session's node`, { path, op: 'create' });
    try {
      await client.delete(path, { version: stat.version });
    } catch (err) {
      if (!(err instanceof NoNodeError) && !(err instanceof BadVersionError)) throw err;
    }
  }
}

/** Options of {@link GroupMember}. */
export interface GroupMemberOptions {
  /**
   * This member's node name under the group path (unique in the group; no `/`).
   * @defaultValue a random UUID
   */
  memberId?: string;
  /**
   * Data of the member node (bytes; a string is stored as UTF-8).
   * @defaultValue empty
   */
  data?: Buffer | string;
}

/** Events of {@link GroupMember}. */
export interface GroupMemberEvents {
  /** The group changed: the current members (id → data). */
  change: [members: ReadonlyMap<string, Buffer>];
  /** A background re-registration or view refresh failed (it is retried). */
  error: [err: Error];
}

/**
 * A member of a group at `path`, with a live view of the whole group.
 *
 * ```ts
 * await using member = new GroupMember(client, '/groups/indexers', { memberId: 'host-a' });
 * await member.start();
 * member.on('change', (m) => console.log([...m.keys()]));
 * ```
 */
export class GroupMember extends EventEmitter<GroupMemberEvents> {
  /** This member's node name. */
  readonly memberId: string;
  private data: Buffer;
  private view = new Map<string, Buffer>();
  private watch: WatchHandle | undefined;
  private ownerSession: bigint | null = null;
  private state: 'new' | 'started' | 'closed' = 'new';
  private readonly register: SerialRunner;
  private readonly refresher: SerialRunner;
  private latestChildren: string[] = [];
  private readonly onSession = () => void this.register.run();

  /**
   * @param client - a connected {@link ZkClient}
   * @param path - the group node (relative to the client's namespace); created with its parents
   * @param options - see {@link GroupMemberOptions}
   * @throws RangeError for a bad `memberId`
   */
  constructor(
    readonly client: ZkClient,
    readonly path: string,
    options: GroupMemberOptions = {},
  ) {
    super();
    this.memberId = options.memberId ?? randomUUID();
    if (this.memberId === '' || this.memberId.includes('/'))
      throw new RangeError(`invalid memberId ${JSON.stringify(this.memberId)}`);
    this.data = toBuffer(options.data);
    const onError = (err: unknown): void => {
      if (this.state === 'started' && this.listenerCount('error') > 0) {
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
      }
    };
    this.register = new SerialRunner(() => this.doRegister(), onError, 500);
    this.refresher = new SerialRunner(() => this.doRefresh(), onError, 500);
  }

  /** The member's node path. */
  get memberPath(): string {
    return `${this.path}/${this.memberId}`;
  }

  /**
   * Joins the group (creates the member node) and starts the live view.
   * @throws Error when started twice or closed; NodeExistsError when another live session holds this member id; ZkError on other failures
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`GroupMember ${this.memberPath} already ${this.state}`);
    this.state = 'started';
    this.ownerSession = await ensureEphemeral(this.client, this.memberPath, this.data, null, 'throw');
    this.client.on('session', this.onSession);
    this.client.on('reconnected', this.onSession);
    await new Promise<void>((resolve) => {
      let first = true;
      this.watch = this.client.watchChildren(
        this.path,
        (children) => {
          this.latestChildren = children;
          const p = this.refresher.run();
          if (first) {
            first = false;
            void p.then(resolve);
          }
        },
        { onError: (err) => this.emit('error', err) },
      );
    });
  }

  /** The current members (id → data), as last seen. */
  getCurrentMembers(): Map<string, Buffer> {
    return new Map(this.view);
  }

  /**
   * Changes this member's data (bytes; a string is stored as UTF-8).
   * @throws ZkError on failure (NoNodeError while the node is being re-created after a session loss)
   */
  async setData(data: Buffer | string): Promise<void> {
    this.data = toBuffer(data);
    await this.client.setData(this.memberPath, this.data);
  }

  private async doRegister(): Promise<void> {
    if (this.state !== 'started') return;
    const stat = await this.client.exists(this.memberPath);
    if (stat !== null && stat.ephemeralOwner === this.client.sessionId) return;
    // Gone with a lost session, or still there as a stale node of that session: (re)create.
    const stale = this.ownerSession !== this.client.sessionId ? this.ownerSession : null;
    this.ownerSession = await ensureEphemeral(this.client, this.memberPath, this.data, stale, 'throw');
  }

  private async doRefresh(): Promise<void> {
    if (this.state !== 'started') return;
    const children = this.latestChildren;
    const next = new Map<string, Buffer>();
    await Promise.all(
      children.map(async (c) => {
        try {
          next.set(c, (await this.client.getData(`${this.path}/${c}`)).data);
        } catch (err) {
          if (!(err instanceof NoNodeError)) throw err; // left between listing and reading
        }
      }),
    );
    if (this.state !== 'started') return;
    const sorted = new Map([...next.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (!sameMembers(sorted, this.view)) {
      this.view = sorted;
      this.emit('change', new Map(sorted));
    }
  }

  /**
   * Leaves the group (deletes the member node, retrying on connection loss) and stops the view. Idempotent.
   * @throws ZkError when the member node could not be deleted
   */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const wasStarted = this.state === 'started';
    this.state = 'closed';
    this.watch?.close();
    this.register.stop();
    this.refresher.stop();
    this.client.off('session', this.onSession);
    this.client.off('reconnected', this.onSession);
    if (!wasStarted) return;
    const stat = await this.client.exists(this.memberPath);
    if (stat !== null && stat.ephemeralOwner === this.client.sessionId) {
      await deleteRetrying(this.client, this.memberPath, { ephemeral: true });
    }
  }

  /** Same as {@link close}. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function toBuffer(data: Buffer | string | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  return typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
}

function sameMembers(a: ReadonlyMap<string, Buffer>, b: ReadonlyMap<string, Buffer>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) {
    const w = b.get(k);
    if (w === undefined || !w.equals(v)) return false;
  }
  return true;
}
