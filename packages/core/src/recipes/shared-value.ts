/**
 * A value in one znode that every holder sees change (a cached copy kept current by a
 * re-arming data watch, re-read after a reconnect or a new session), with compare-and-set by
 * the znode's version. Follows the "Configuration" use of ZooKeeper (the talk's first use)
 * with the API of Curator's `SharedValue` (`getValue`, `getVersionedValue`, `setValue`,
 * `trySetValue`).
 *
 * Status: **stable**.
 *
 * **Other libraries**: the node holds the value's raw bytes, as Curator's `SharedValue` and
 * Kazoo's plain `get` / `set` do, so they interoperate as they are (version-checked writes
 * included: Curator's `trySetValue` and Kazoo's `set(version=…)` use the same data version).
 * @packageDocumentation
 */
import { EventEmitter } from 'node:events';
import type { ZkClient } from '../client/zk-client.js';
import type { WatchHandle } from '../client/watch.js';
import { BadVersionError, NodeExistsError, NoNodeError } from '../errors.js';

/** Options of {@link SharedValue}. */
export interface SharedValueOptions {
  /**
   * Value the node is created with by {@link SharedValue.start} when it does not exist, and the
   * value reported while it does not exist (bytes; a string is stored as UTF-8).
   * @defaultValue empty
   */
  seed?: Buffer | string;
}

/** A value with the znode version it was read at (`-1` while the node does not exist). */
export interface VersionedValue {
  /** The bytes. */
  value: Buffer;
  /** The znode's data version, for {@link SharedValue.trySetValue}; `-1` while the node does not exist. */
  version: number;
}

/** Events of {@link SharedValue}. */
export interface SharedValueEvents {
  /** The value changed (also emitted once by `start`). */
  change: [value: VersionedValue];
  /** Reading the value failed with something other than connection loss (e.g. NoAuth). */
  error: [err: Error];
}

/**
 * A shared, watched value at `path`.
 *
 * ```ts
 * await using limit = new SharedValue(client, '/config/rate-limit', { seed: '100' });
 * await limit.start();
 * limit.on('change', ({ value }) => console.log(value.toString()));
 * const { version } = limit.getVersionedValue();
 * await limit.trySetValue('200', version); // false if someone changed it first
 * ```
 */
export class SharedValue extends EventEmitter<SharedValueEvents> {
  private readonly seed: Buffer;
  private current: VersionedValue;
  private watch: WatchHandle | undefined;
  private state: 'new' | 'started' | 'closed' = 'new';

  /**
   * @param client - a connected {@link ZkClient}
   * @param path - the value's znode (relative to the client's namespace)
   * @param options - see {@link SharedValueOptions}
   */
  constructor(
    readonly client: ZkClient,
    readonly path: string,
    options: SharedValueOptions = {},
  ) {
    super();
    this.seed = toBuffer(options.seed);
    this.current = { value: this.seed, version: -1 };
  }

  /**
   * Creates the node with the seed (and its parents) if it does not exist, reads it and starts
   * watching it. Resolves once the first value is known.
   * @throws Error when started twice or after close; ZkError on failures
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error(`SharedValue ${this.path} already ${this.state}`);
    this.state = 'started';
    try {
      await this.client.create(this.path, { data: this.seed, parents: true });
    } catch (err) {
      if (!(err instanceof NodeExistsError)) throw err;
    }
    await new Promise<void>((resolve) => {
      this.watch = this.client.watchData(
        this.path,
        (data, stat) => {
          this.current =
            data === null || stat === null ? { value: this.seed, version: -1 } : { value: data, version: stat.version };
          resolve();
          this.emit('change', this.current);
        },
        { onError: (err) => this.listenerCount('error') > 0 && this.emit('error', err) },
      );
    });
  }

  /** The current value (as last seen; the seed while the node does not exist). */
  getValue(): Buffer {
    return this.current.value;
  }

  /** The current value with its znode version (as last seen). */
  getVersionedValue(): VersionedValue {
    return this.current;
  }

  /**
   * Sets the value unconditionally (creating the node and its parents when missing).
   * @param value - bytes; a string is stored as UTF-8 (at most ~1 MiB)
   * @returns the new version
   * @throws ZkError on failure
   */
  async setValue(value: Buffer | string): Promise<number> {
    const buf = toBuffer(value);
    for (;;) {
      try {
        return (await this.client.setData(this.path, buf)).version;
      } catch (err) {
        if (!(err instanceof NoNodeError)) throw err;
      }
      try {
        await this.client.create(this.path, { data: buf, parents: true });
        return 0;
      } catch (err) {
        if (!(err instanceof NodeExistsError)) throw err;
      }
    }
  }

  /**
   * Compare-and-set: sets the value only if the node still has `expectedVersion` (from
   * {@link getVersionedValue}; `-1` means "the node does not exist yet", and then creates it).
   * @returns `true` if set, `false` if the version did not match (someone else changed it first)
   * @throws ZkError on other failures (NoNodeError when the node was deleted)
   */
  async trySetValue(value: Buffer | string, expectedVersion: number): Promise<boolean> {
    const buf = toBuffer(value);
    if (expectedVersion === -1) {
      try {
        await this.client.create(this.path, { data: buf, parents: true });
        return true;
      } catch (err) {
        if (err instanceof NodeExistsError) return false;
        throw err;
      }
    }
    try {
      await this.client.setData(this.path, buf, { version: expectedVersion });
      return true;
    } catch (err) {
      if (err instanceof BadVersionError) return false;
      throw err;
    }
  }

  /** Stops watching. Idempotent. */
  async close(): Promise<void> {
    this.state = 'closed';
    this.watch?.close();
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
